"""Recipes: typed training configuration, loaded from TOML and refined by `key=value` overrides.

A recipe is one TOML file with up to six sections ([model], [data], [optim],
[schedule], [train], [tracking]); any key left out takes the default below.
Built-in recipes live in `kagglebench/recipes/*.toml`; a user's own TOML may say
`base = "resnet34-imagenet"` to start from a built-in one (or another .toml path,
relative to the file) and change only what differs.

Each section is a dataclass; each key is one line: its type, its default and, through
`key(...)`, its rule: a range (`ge`, `gt`, `le`, `lt`) or its valid values. Where the
valid values are a registry's names (optimizers, schedules, augmentation policies, TTA
modes) the rule names that registry (`choices="module:NAME"`) and reads it when a value
is checked, so a new optimizer or policy is valid in recipes the moment it is registered.
Every key is checked: unknown keys, wrong types and nonsense values (a negative learning
rate, dropout of 1.5, NaN) are refused with a one-line `UserError` that names the key and
lists the valid ones, so a typo never silently trains the wrong thing.
`recipe_to_dict` / `recipe_from_dict` round-trip the resolved recipe saved with each run.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import math
import tomllib
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from kagglebench.errors import UserError

# The everyday keys may be given without their section: `epochs=5`, `model=resnet18`.
SHORTCUTS = {
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "lr": "optim.lr",
    "seed": "train.seed",
    "model": "model.name",
}
SECTIONS = ("model", "data", "optim", "schedule", "train", "tracking")
_INF = math.inf


def key(default: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
        lt: float | None = None, choices: str | Sequence[str] | None = None, triple: bool = False,
        positive: bool = False) -> Any:
    """A recipe key: its default and its rule, kept as the dataclass field's metadata.

    `choices` is a tuple of valid values, or "module:NAME" naming a registry (a dict or tuple
    of names) read when a value is checked; `triple` asks for [] or 3 numbers (per colour
    channel), `positive` for numbers all > 0."""
    meta = {"ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices, "triple": triple,
            "positive": positive}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class ModelConfig:
    name: str = key("simplecnn-3block", choices="kagglebench.models:MODELS")
    pretrained: bool = False          # torchvision ImageNet weights (ResNets)
    weights: str = "IMAGENET1K_V1"    # which torchvision weights, when pretrained
    cifar_stem: bool = False          # ResNets: 3x3 stride-1 first conv, no max-pool
    dropout: float = key(0.0, ge=0, lt=1)               # dropout before the classification head
    max_params: int = key(0, ge=0)                      # refuse a model with more parameters (0 = no limit)
    init_from: str = ""               # RUN_ID[:best|last] or a .pt path: backbone weights to start from
    requires_init_from: bool = False  # a fine-tuning recipe: refuse to start without init_from
    freeze_backbone_epochs: int = key(0, ge=0)          # train only the head for this many epochs first
    backbone_lr_scale: float = key(1.0, ge=0)           # backbone learning rate = lr * this


@dataclass
class DataConfig:
    input_size: int = key(0, ge=0, le=4096)             # resize on the device to this size (0 = own size)
    val_fraction: float = key(0.1, ge=0, lt=1)
    # fraction: hold out val_fraction of train | test: validate on the labelled test split and
    # train on all of train (seeds 003/004)
    val_split: str = key("fraction", choices=("fraction", "test"))
    split_seed: int = 0
    mean: list[float] = key([], triple=True)            # [] = measured on the training split
    std: list[float] = key([], triple=True, positive=True)
    crop_padding: int = key(4, ge=0, le=64)             # random crop after padding (pixels at input_size; 0 = off)
    pad_mode: str = key("reflect", choices=("zeros", "reflect"))  # zeros: torchvision RandomCrop | reflect
    random_resized_crop: float = key(0.0, ge=0, le=1)   # RandomResizedCrop, area scale from this to 1 (0 = off)
    hflip: bool = True
    vflip: bool = False
    alternating_flip: bool = False    # with hflip: flip a fixed random half on even epochs, the rest on odd (airbench)
    policy: str = key("", choices="kagglebench.train.augment:POLICIES")   # "" = none
    color_jitter: float = key(0.0, ge=0, le=1)          # brightness/contrast/saturation strength (0 = off)
    affine_degrees: float = key(0.0, ge=0, le=180)      # RandomAffine rotation range (0 = off)
    perspective: float = key(0.0, ge=0, le=1)           # RandomPerspective distortion scale (0 = off)
    grayscale: float = key(0.0, ge=0, le=1)             # RandomGrayscale probability (0 = off)
    classes: list[str] = key([])                        # keep only these classes ([] = all)
    tta: str = key("none", choices="kagglebench.evaluate.tta:MODES")  # eval/predict's default TTA


@dataclass
class OptimConfig:
    name: str = key("sgd", choices="kagglebench.train.optim:OPTIMIZERS")
    lr: float = key(0.1, gt=0, lt=_INF)
    momentum: float = key(0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = key(5e-4, ge=0)
    lookahead: bool = False
    lookahead_k: int = key(5, ge=1)
    lookahead_alpha: float = key(0.5, gt=0, le=1)
    lookahead_ema: bool = False       # airbench: every k steps, EMA the weights and reset the live ones to it
    lookahead_ema_every: int = key(5, ge=1)             # k: steps between those updates
    lookahead_ema_decay: float = key(0.95, gt=0, le=1)  # per-step decay; an update uses decay**k * (step/total)**3
    norm_bias_lr_scale: float = key(1.0, gt=0, lt=_INF)  # BatchNorm biases: lr x this, decay / this (airbench: 64)


@dataclass
class ScheduleConfig:
    name: str = key("cosine", choices="kagglebench.train.optim:SCHEDULES")
    step_size: int = key(30, ge=1)                      # step: epochs between decays
    gamma: float = key(0.1, gt=0, lt=_INF)              # step: decay factor
    warmup_epochs: float = key(0.0, ge=0)               # linear warm-up before the schedule
    cycle_momentum: bool = True       # onecycle: momentum 0.95 -> 0.85 -> 0.95 against the lr (torch's OneCycleLR)


@dataclass
class TrainConfig:
    epochs: int = key(10, ge=1)
    # share of the last epoch trained: ceil(steps per epoch x (epochs - 1 + this)) steps in all, the
    # schedule over them (airbench94's 9.9 epochs: epochs = 10, last_epoch_fraction = 0.9)
    last_epoch_fraction: float = key(1.0, gt=0, le=1)
    batch_size: int = key(128, ge=1)
    seed: int = 0
    deterministic: bool = False
    label_smoothing: float = key(0.0, ge=0, lt=1)
    mixup_alpha: float = key(0.0, ge=0)
    cutmix_alpha: float = key(0.0, ge=0)
    mix_prob: float = key(1.0, ge=0, le=1)              # share of batches mixed; seed 003's notebook: 0.5
    grad_clip: float = key(0.0, ge=0)                   # max gradient norm (0 = off)
    ema_decay: float = key(0.0, ge=0, lt=1)             # EMA of weights (0 = off)
    amp: str = key("auto", choices=("auto", "none", "bf16", "fp16"))
    # the network's weights in fp16 except BatchNorm, fp16 inputs, the loss summed over the batch
    # (airbench94's net.half()): on a CUDA device only | everywhere (a CPU too: slow) | off
    half_weights: str = key("off", choices=("off", "cuda", "on"))
    channels_last: bool = True        # NHWC memory layout: about 1.3x faster convolutions (BENCHMARKS.md)
    compile: bool = False
    device: str = "auto"              # auto | cpu | cuda | cuda:N | mps
    early_stopping_patience: int = key(0, ge=0)         # epochs without improvement (0 = off)
    early_stopping_metric: str = key("val_acc", choices=("val_acc", "val_loss"))
    keep_top_k: int = key(3, ge=1)
    checkpoint_every_steps: int = key(0, ge=0)          # extra "last" checkpoints mid-epoch (0 = once per epoch)
    swa: bool = False
    swa_start_epoch: int = key(0, ge=0)                 # 0 = from 75% of the epochs
    swa_lr: float = key(0.0, ge=0)                      # 0 = a tenth of optim.lr
    drop_last: bool = True
    augmix: bool = False              # AugMix views of every training image (train/augmix.py)
    jsd_weight: float = key(12.0, ge=0)                 # with augmix: JSD weight, clean + 2 views (0 = one view)
    augmix_severity: int = key(3, ge=1, le=10)          # AugMix operation strength (the original's default 3)


@dataclass
class TrackingConfig:
    wandb: bool = False
    wandb_project: str = "kagglebench"
    tensorboard: bool = False


@dataclass
class Recipe:
    name: str = "custom"
    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of a monitored metric is better (accuracy up, loss down)."""
    return "loss" not in metric


# ---------------------------------------------------------------- the keys and their rules

@functools.cache   # typing.get_type_hints is slow: a recipe read once per key made opening a run ~0.1 s
def _section_types() -> dict[str, type]:
    return {f.name: typing.get_type_hints(Recipe)[f.name] for f in dataclasses.fields(Recipe)
            if f.name in SECTIONS}


@functools.cache
def _fields(section: str) -> dict[str, tuple[Any, dict]]:
    """{key: (type, rule)} of one section (read-only: the same dict every call)."""
    cls = _section_types()[section]
    hints = typing.get_type_hints(cls)
    return {f.name: (hints[f.name], dict(f.metadata)) for f in dataclasses.fields(cls)}


def valid_keys() -> list[str]:
    """Every key an override or a recipe file may set, as `section.key`, plus the shortcuts."""
    keys = list(SHORTCUTS)
    for section in SECTIONS:
        keys += [f"{section}.{k}" for k in _fields(section)]
    return keys


def choices(dotted: str) -> tuple[str, ...] | None:
    """The valid values of a key that is a choice (from its registry where it names one), else None."""
    section, _, name = dotted.partition(".")
    rule = _fields(section).get(name, (None, {}))[1] if section in SECTIONS else {}
    spec = rule.get("choices")
    if spec is None:
        return None
    if isinstance(spec, str):
        module, _, attr = spec.partition(":")
        spec = getattr(importlib.import_module(module), attr)
    return tuple(spec)


def _unknown_key(where: str, key: str, choices: list[str]) -> UserError:
    near = difflib.get_close_matches(key, choices, n=1)
    hint = f" (did you mean '{near[0]}'?)" if near else ""
    return UserError(where, f"unknown key '{key}'{hint}; valid keys: {', '.join(choices)}")


# ---------------------------------------------------------------- values and checks

def _number(value: Any, kind: type) -> Any:
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            return value
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _coerce(where: str, key: str, value: Any, typ: Any) -> Any:
    """Return `value` as type `typ`, or raise a UserError saying what was expected."""
    if typing.get_origin(typ) is list:
        elem = typing.get_args(typ)[0]
        if isinstance(value, str):   # `data.classes=car,deer` from the command line
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise UserError(where, f"{key} must be a list like [{'0.5, 0.5, 0.5' if elem is float else 'a, b'}],"
                                   f" not {value!r}")
        return [_coerce(where, f"{key}[{i}]", v, elem) for i, v in enumerate(value)]
    if typ is bool:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise UserError(where, f"{key} must be true or false, not {value!r}")
        return value
    if typ is int:
        value = _number(value, int)
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(where, f"{key} must be a whole number, not {value!r}")
        return value
    if typ is float:
        value = _number(value, float)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(where, f"{key} must be a number, not {value!r}")
        if not math.isfinite(value):
            raise UserError(where, f"{key} must be a finite number, not {value!r}")
        return float(value)
    if typ is str:
        if not isinstance(value, str):
            raise UserError(where, f"{key} must be text, not {value!r}")
        return value
    raise TypeError(f"unsupported config type {typ!r} for {key}")


def _check_value(where: str, dotted: str, value: Any, rule: dict) -> None:
    valid = choices(dotted)
    if valid is not None and value not in valid:
        shown = ", ".join(repr(c) if c == "" else c for c in valid)
        near = difflib.get_close_matches(str(value), [str(c) for c in valid], n=1)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        raise UserError(where, f"{dotted} = {value!r} is not one of{hint}: {shown}")
    lo = rule["ge"] if rule.get("ge") is not None else rule.get("gt")
    hi = rule["le"] if rule.get("le") is not None else rule.get("lt")
    lo_in, hi_in = rule.get("ge") is not None, rule.get("le") is not None
    if lo is not None or hi is not None:
        ok = ((lo is None or (value >= lo if lo_in else value > lo))
              and (hi is None or (value <= hi if hi_in else value < hi)))
        if not ok:
            lo_s = f"{'>=' if lo_in else '>'} {lo:g}" if lo is not None else ""
            hi_s = "" if hi is None or math.isinf(hi) else f"{'<=' if hi_in else '<'} {hi:g}"
            raise UserError(where, f"{dotted} = {value!r} makes no sense: it must be "
                                   f"{' and '.join(s for s in (lo_s, hi_s) if s)}")
    if rule.get("triple") and value and len(value) != 3:
        raise UserError(where, f"{dotted} needs 3 numbers (red, green, blue), got {len(value)}")
    if rule.get("positive") and value and min(value) <= 0:
        raise UserError(where, f"{dotted} values must be > 0")


def _set(recipe: Recipe, where: str, dotted: str, value: Any) -> None:
    section, _, key = dotted.partition(".")
    if section not in SECTIONS:
        raise _unknown_key(where, dotted, valid_keys())
    fields = _fields(section)
    if key not in fields:
        raise _unknown_key(where, dotted, [f"{section}.{k}" for k in fields])
    typ, rule = fields[key]
    value = _coerce(where, dotted, value, typ)
    _check_value(where, dotted, value, rule)
    setattr(getattr(recipe, section), key, value)


def _apply_table(recipe: Recipe, table: dict[str, Any], where: str) -> None:
    """Apply one parsed TOML document (without `base`) on top of `recipe`."""
    for key, value in table.items():
        if key in SECTIONS and isinstance(value, dict):
            for k, v in value.items():
                _set(recipe, where, f"{key}.{k}", v)
        elif key in ("name", "description"):
            setattr(recipe, key, _coerce(where, key, value, str))
        elif key in SHORTCUTS:
            _set(recipe, where, SHORTCUTS[key], value)
        else:
            raise _unknown_key(where, key, ["name", "description", "base", *SECTIONS, *SHORTCUTS])


# ---------------------------------------------------------------- files

def _builtin_dir() -> Path:
    return Path(str(resources.files("kagglebench") / "recipes"))


def builtin_recipe_path(name: str) -> Path | None:
    """The packaged TOML of a built-in recipe, or None."""
    path = _builtin_dir() / f"{name}.toml"
    return path if path.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise UserError(path, f"cannot read the recipe file: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(path, f"not valid TOML: {e}") from None
    except UnicodeDecodeError:
        raise UserError(path, "not a text file (a recipe is UTF-8 TOML text)") from None


def _resolve(name_or_path: str, relative_to: Path | None) -> Path:
    if name_or_path.endswith(".toml") or "/" in name_or_path or "\\" in name_or_path:
        path = Path(name_or_path).expanduser()
        if relative_to is not None and not path.is_absolute():
            path = relative_to / path
        if not path.is_file():
            raise UserError(path, "recipe file not found")
        return path
    path = builtin_recipe_path(name_or_path)
    if path is None:
        names = [n for n, _ in list_recipes()]
        near = difflib.get_close_matches(name_or_path, names, n=1)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        raise UserError(f"recipe {name_or_path}", f"no built-in recipe by that name{hint}; built-in "
                        f"recipes: {', '.join(names)}; or give the path of a .toml file")
    return path


def _load_file(path: Path, seen: tuple[Path, ...]) -> Recipe:
    if path.resolve() in seen:
        chain = " -> ".join(p.name for p in (*seen, path.resolve()))
        raise UserError(path, f"recipes inherit from each other in a loop: {chain}")
    table = _read_toml(path)
    base = table.pop("base", None)
    if base is not None:
        if not isinstance(base, str) or not base:
            raise UserError(path, f"base must name a recipe (e.g. base = \"demo-cnn\"), not {base!r}")
        recipe = _load_file(_resolve(base, path.parent), (*seen, path.resolve()))
    else:
        recipe = Recipe()
    recipe.name = path.stem
    _apply_table(recipe, table, str(path))
    return recipe


# ---------------------------------------------------------------- public API

def parse_override(text: str) -> tuple[str, Any]:
    """Split `key=value` into the full dotted key and a value (a TOML literal when it parses)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UserError(f"override '{text}'", "overrides are written key=value, e.g. epochs=5 or "
                        "optim.weight_decay=1e-4")
    key = SHORTCUTS.get(key, key)
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw   # bare words like resnet18 or cosine
    return key, value


def apply_overrides(recipe: Recipe, overrides: Sequence[str]) -> Recipe:
    """A copy of `recipe` with each `key=value` applied in order (UserError on a bad one)."""
    out = recipe_from_dict(recipe_to_dict(recipe))
    for text in overrides:
        key, value = parse_override(text)
        if "." not in key:
            raise _unknown_key(f"override '{text}'", key, valid_keys())
        _set(out, f"override '{text}'", key, value)
    return out


def load_recipe(name_or_path: str, overrides: Sequence[str] = ()) -> Recipe:
    """A built-in recipe by name, or a .toml file (which may name a `base`), plus overrides."""
    recipe = _load_file(_resolve(str(name_or_path), None), ())
    return apply_overrides(recipe, overrides)


def list_recipes() -> list[tuple[str, str]]:
    """(name, one-line description) of every built-in recipe, sorted by name."""
    out = []
    for path in sorted(_builtin_dir().glob("*.toml"), key=lambda p: p.stem):
        out.append((path.stem, str(_read_toml(path).get("description", ""))))
    return out


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    """Plain JSON-ready dict of the resolved recipe (what each run saves)."""
    return dataclasses.asdict(recipe)


def recipe_from_dict(d: dict[str, Any]) -> Recipe:
    """Inverse of `recipe_to_dict`; missing keys take their defaults, unknown keys are refused."""
    recipe = Recipe()
    _apply_table(recipe, dict(d), "saved recipe")
    return recipe
