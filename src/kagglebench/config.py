"""Recipes: typed training configuration, loaded from TOML and refined by `key=value` overrides.

A recipe is one TOML file with up to six sections ([model], [data], [optim],
[schedule], [train], [tracking]); any key left out takes the default below.
Built-in recipes live in `kagglebench/recipes/*.toml`; a user's own TOML may say
`base = "resnet34-imagenet"` to start from a built-in one (or another .toml path,
relative to the file) and change only what differs.

Every key is checked: unknown keys, wrong types and nonsense values (a negative
learning rate, dropout of 1.5, NaN) are refused with a `UserError` that names the
key and lists the valid ones, so a typo never silently trains the wrong thing.
`recipe_to_dict` / `recipe_from_dict` round-trip the resolved recipe saved with each run.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from kagglebench.errors import UserError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as a package
    import tomli as tomllib

# The everyday keys may be given without their section: `epochs=5`, `model=resnet18`.
SHORTCUTS = {
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "lr": "optim.lr",
    "seed": "train.seed",
    "model": "model.name",
}
SECTIONS = ("model", "data", "optim", "schedule", "train", "tracking")


@dataclass
class ModelConfig:
    name: str = "simplecnn-3block"
    pretrained: bool = False          # torchvision ImageNet weights (ResNets)
    weights: str = "IMAGENET1K_V1"    # which torchvision weights, when pretrained
    cifar_stem: bool = False          # ResNets: 3x3 stride-1 first conv, no max-pool
    dropout: float = 0.0              # dropout before the classification head
    max_params: int = 0               # refuse a model with more parameters (0 = no limit)
    init_from: str = ""               # RUN_ID[:best|last] or a .pt path: backbone weights to start from
    requires_init_from: bool = False  # a fine-tuning recipe: refuse to start without init_from
    freeze_backbone_epochs: int = 0   # train only the head for this many epochs first
    backbone_lr_scale: float = 1.0    # backbone learning rate = lr * this


@dataclass
class DataConfig:
    input_size: int = 0               # resize on the device to this size (0 = the images' own size)
    val_fraction: float = 0.1
    val_split: str = "fraction"       # fraction: hold out val_fraction of train | test: validate on the
                                      # labelled test split and train on all of train (seeds 003/004)
    split_seed: int = 0
    mean: list[float] = field(default_factory=list)   # [] = measured on the training split
    std: list[float] = field(default_factory=list)
    crop_padding: int = 4             # random crop after padding by this many pixels (0 = off), at input_size
    pad_mode: str = "reflect"         # the crop's padding: zeros (torchvision RandomCrop's) | reflect (airbench's)
    random_resized_crop: float = 0.0  # RandomResizedCrop to input_size, area scale from this to 1 (0 = off)
    hflip: bool = True
    vflip: bool = False
    alternating_flip: bool = False    # with hflip: flip a fixed random half on even epochs, the rest on odd (airbench)
    policy: str = ""                  # "", autoaugment-cifar10, randaugment, trivialaugment
    color_jitter: float = 0.0         # brightness/contrast/saturation strength (0 = off)
    affine_degrees: float = 0.0       # RandomAffine rotation range (0 = off)
    perspective: float = 0.0          # RandomPerspective distortion scale (0 = off)
    grayscale: float = 0.0            # RandomGrayscale probability (0 = off)
    classes: list[str] = field(default_factory=list)  # keep only these classes ([] = all)
    tta: str = "none"                 # default test-time augmentation of eval/predict: none | flip | flip-shift


@dataclass
class OptimConfig:
    name: str = "sgd"                 # sgd | adam | adamw
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    lookahead: bool = False
    lookahead_k: int = 5
    lookahead_alpha: float = 0.5
    lookahead_ema: bool = False       # airbench: every k steps, EMA the weights and reset the live ones to it
    lookahead_ema_every: int = 5      # k: steps between those updates
    lookahead_ema_decay: float = 0.95 # per-step decay; an update uses decay**k * (step/total)**3, 1.0 at the end


@dataclass
class ScheduleConfig:
    name: str = "cosine"              # none | step | cosine | onecycle
    step_size: int = 30               # step: epochs between decays
    gamma: float = 0.1                # step: decay factor
    warmup_epochs: float = 0.0        # linear warm-up before the schedule
    cycle_momentum: bool = True       # onecycle: momentum 0.95 -> 0.85 -> 0.95 against the lr (torch's OneCycleLR)


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    seed: int = 0
    deterministic: bool = False
    label_smoothing: float = 0.0
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    mix_prob: float = 1.0             # share of batches mixed (mixup/cutmix); seed 003's notebook: 0.5
    grad_clip: float = 0.0            # max gradient norm (0 = off)
    ema_decay: float = 0.0            # EMA of weights (0 = off)
    amp: str = "auto"                 # auto | none | bf16 | fp16
    channels_last: bool = True        # NHWC layout: about 1.3x faster convolutions on CPU and GPU (BENCHMARKS.md)
    compile: bool = False
    device: str = "auto"              # auto | cpu | cuda | cuda:N | mps
    early_stopping_patience: int = 0  # epochs without improvement (0 = off)
    early_stopping_metric: str = "val_acc"   # val_acc | val_loss
    keep_top_k: int = 3
    checkpoint_every_steps: int = 0   # extra "last" checkpoints mid-epoch (0 = once per epoch)
    swa: bool = False
    swa_start_epoch: int = 0          # 0 = from 75% of the epochs
    swa_lr: float = 0.0               # 0 = a tenth of optim.lr
    drop_last: bool = True
    augmix: bool = False              # AugMix views of every training image (train/augmix.py)
    jsd_weight: float = 12.0          # with augmix: JSD consistency weight, clean + 2 views (0 = one view, no JSD)
    augmix_severity: int = 3          # AugMix operation strength, 1-10 (the original's default 3)


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


# Allowed values for the string keys that are really choices.
CHOICES: dict[str, tuple[str, ...]] = {
    "optim.name": ("sgd", "adam", "adamw"),
    "schedule.name": ("none", "step", "cosine", "onecycle"),
    "data.policy": ("", "autoaugment-cifar10", "randaugment", "trivialaugment"),
    "data.tta": ("none", "flip", "flip-shift"),
    "data.pad_mode": ("zeros", "reflect"),
    "data.val_split": ("fraction", "test"),
    "train.amp": ("auto", "none", "bf16", "fp16"),
    "train.early_stopping_metric": ("val_acc", "val_loss"),
}

# (low, high, low_inclusive, high_inclusive) for numbers where other values make no sense.
_RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "model.dropout": (0, 1, True, False),
    "model.max_params": (0, math.inf, True, False),
    "model.freeze_backbone_epochs": (0, math.inf, True, False),
    "model.backbone_lr_scale": (0, math.inf, True, False),
    "data.input_size": (0, 4096, True, True),
    "data.val_fraction": (0, 1, True, False),
    "data.crop_padding": (0, 64, True, True),
    "data.random_resized_crop": (0, 1, True, True),
    "data.color_jitter": (0, 1, True, True),
    "data.affine_degrees": (0, 180, True, True),
    "data.perspective": (0, 1, True, True),
    "data.grayscale": (0, 1, True, True),
    "optim.lr": (0, math.inf, False, False),
    "optim.momentum": (0, 1, True, False),
    "optim.weight_decay": (0, math.inf, True, False),
    "optim.lookahead_k": (1, math.inf, True, False),
    "optim.lookahead_alpha": (0, 1, False, True),
    "optim.lookahead_ema_every": (1, math.inf, True, False),
    "optim.lookahead_ema_decay": (0, 1, False, True),
    "schedule.step_size": (1, math.inf, True, False),
    "schedule.gamma": (0, math.inf, False, False),
    "schedule.warmup_epochs": (0, math.inf, True, False),
    "train.epochs": (1, math.inf, True, False),
    "train.batch_size": (1, math.inf, True, False),
    "train.label_smoothing": (0, 1, True, False),
    "train.mixup_alpha": (0, math.inf, True, False),
    "train.cutmix_alpha": (0, math.inf, True, False),
    "train.mix_prob": (0, 1, True, True),
    "train.grad_clip": (0, math.inf, True, False),
    "train.ema_decay": (0, 1, True, False),
    "train.early_stopping_patience": (0, math.inf, True, False),
    "train.keep_top_k": (1, math.inf, True, False),
    "train.checkpoint_every_steps": (0, math.inf, True, False),
    "train.swa_start_epoch": (0, math.inf, True, False),
    "train.swa_lr": (0, math.inf, True, False),
    "train.jsd_weight": (0, math.inf, True, False),
    "train.augmix_severity": (1, 10, True, True),
}


def _section_types() -> dict[str, type]:
    return {f.name: typing.get_type_hints(Recipe)[f.name] for f in dataclasses.fields(Recipe)
            if f.name in SECTIONS}


def _key_types(section: str) -> dict[str, Any]:
    return typing.get_type_hints(_section_types()[section])


def valid_keys() -> list[str]:
    """Every key an override or a recipe file may set, as `section.key`, plus the shortcuts."""
    keys = list(SHORTCUTS)
    for section in SECTIONS:
        keys += [f"{section}.{k}" for k in _key_types(section)]
    return keys


def _unknown_key(where: str, key: str, choices: list[str]) -> UserError:
    near = difflib.get_close_matches(key, choices, n=1)
    hint = f" (did you mean '{near[0]}'?)" if near else ""
    return UserError(where, f"unknown key '{key}'{hint}; valid keys: {', '.join(choices)}")


# ---------------------------------------------------------------- values and checks

def _coerce(where: str, key: str, value: Any, typ: Any) -> Any:
    """Return `value` as type `typ`, or raise a UserError saying what was expected."""
    origin = typing.get_origin(typ)
    if origin is list:
        elem = typing.get_args(typ)[0]
        if isinstance(value, str):   # `data.classes=car,deer` from the command line
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise UserError(where, f"{key} must be a list like [{'0.5, 0.5, 0.5' if elem is float else 'a, b'}],"
                                   f" not {value!r}")
        return [_coerce(where, f"{key}[{i}]", v, elem) for i, v in enumerate(value)]
    if typ is bool:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise UserError(where, f"{key} must be true or false, not {value!r}")
        return value
    if typ is int:
        if isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                pass
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(where, f"{key} must be a whole number, not {value!r}")
        return value
    if typ is float:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
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


def _check_value(where: str, dotted: str, value: Any) -> None:
    if dotted in CHOICES and value not in CHOICES[dotted]:
        shown = ", ".join(repr(c) if c == "" else c for c in CHOICES[dotted])
        raise UserError(where, f"{dotted} = {value!r} is not one of: {shown}")
    if dotted in _RANGES:
        lo, hi, lo_in, hi_in = _RANGES[dotted]
        ok = (value >= lo if lo_in else value > lo) and (value <= hi if hi_in else value < hi)
        if not ok:
            lo_s = f"{'>=' if lo_in else '>'} {lo:g}"
            hi_s = "" if math.isinf(hi) else f" and {'<=' if hi_in else '<'} {hi:g}"
            raise UserError(where, f"{dotted} = {value!r} makes no sense: it must be {lo_s}{hi_s}")
    if dotted in ("data.mean", "data.std") and value:
        if len(value) != 3:
            raise UserError(where, f"{dotted} needs 3 numbers (red, green, blue), got {len(value)}")
        if dotted == "data.std" and min(value) <= 0:
            raise UserError(where, "data.std values must be > 0")


def _set(recipe: Recipe, where: str, dotted: str, value: Any) -> None:
    section, _, key = dotted.partition(".")
    if section not in SECTIONS:
        raise _unknown_key(where, dotted, valid_keys())
    types = _key_types(section)
    if key not in types:
        raise _unknown_key(where, dotted, [f"{section}.{k}" for k in types])
    value = _coerce(where, dotted, value, types[key])
    _check_value(where, dotted, value)
    setattr(getattr(recipe, section), key, value)


def _apply_table(recipe: Recipe, table: dict[str, Any], where: str) -> None:
    """Apply one parsed TOML document (without `base`) on top of `recipe`."""
    for key, value in table.items():
        if key in SECTIONS and isinstance(value, dict):
            for k, v in value.items():
                _set(recipe, where, f"{key}.{k}", v)
        elif key == "description":
            recipe.description = _coerce(where, key, value, str)
        elif key == "name":
            recipe.name = _coerce(where, key, value, str)
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
