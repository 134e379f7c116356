"""The search space of a tune: a TOML file of `section.key = {kind = [...]}` lines, checked against the config.

    optim.lr = {log = [1e-4, 1e-1]}                 # log-uniform between the two
    train.batch_size = {choice = [64, 128, 256]}    # one of these
    train.mixup_alpha = {float = [0, 1]}            # uniform
    train.epochs = {int = [3, 8]}                   # whole numbers (a log range on a whole-number key too)

    [tune]                                          # optional: how the study searches
    pruner = "median"                               # median | halving | none
    startup_trials = 5                              # trials before TPE models and the pruner judge
    warmup_epochs = 0                               # epochs a trial always gets before it can be pruned
    ood_samples = 200                               # images per corruption for --objective ood_acc

    [[first]]                                       # optional: settings to try first, in order
    optim.lr = 0.05

Keys are the same as `key=value` overrides (shortcuts such as `lr` included). Every range end and
choice is applied to the recipe the way an override would be, so an unknown key or a value the
config refuses is the same one-line error that `kagglebench train` gives, naming the space file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kagglebench.errors import UserError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

KINDS = ("log", "float", "int", "choice")
PRUNERS = ("median", "halving", "none")
SETTINGS = {"pruner": "median", "startup_trials": 5, "warmup_epochs": 0, "ood_samples": 200}
_SPEC_HINT = "write {log = [low, high]}, {float = [low, high]}, {int = [low, high]} or {choice = [a, b, ...]}"


@dataclass
class Param:
    """One searched key: `kind` is one of KINDS; `values` the two range ends or the choices;
    `integer` when the config key holds whole numbers."""

    key: str
    kind: str
    values: list[Any]
    integer: bool = False

    def distribution(self) -> Any:
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "choice":
            return CategoricalDistribution(self.values)
        lo, hi = self.values
        if self.integer:
            return IntDistribution(int(lo), int(hi), log=self.kind == "log")
        return FloatDistribution(float(lo), float(hi), log=self.kind == "log")

    def contains(self, value: Any) -> bool:
        if self.kind == "choice":
            return value in self.values
        return isinstance(value, (int, float)) and not isinstance(value, bool) and \
            self.values[0] <= value <= self.values[1]


@dataclass
class Space:
    path: str
    params: list[Param]
    settings: dict[str, Any] = field(default_factory=lambda: dict(SETTINGS))
    first: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """What the study stores (and compares when a tune is run again)."""
        return {"params": {p.key: {p.kind: p.values, "integer": p.integer} for p in self.params},
                "settings": self.settings, "first": self.first}

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: str = "study") -> Space:
        params = []
        for key, spec in d["params"].items():
            kind = next(k for k in spec if k in KINDS)
            params.append(Param(key, kind, list(spec[kind]), bool(spec.get("integer"))))
        return cls(path, params, dict(d["settings"]), [dict(x) for x in d["first"]])


def override(key: str, value: Any) -> str:
    """`key=value` with the value as a TOML literal (JSON's scalars are TOML's), so a string
    choice like "adamw" reaches the config as text and 1e-05 as a number."""
    return f"{key}={json.dumps(value)}"


def _flatten(where: str, table: dict[str, Any], what: str) -> dict[str, Any]:
    """`{"optim": {"lr": x}}`, `{"optim.lr": x}` and `{"lr": x}` all become `{"optim.lr": x}`."""
    from kagglebench.config import SHORTCUTS

    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict) and not _is_spec(value):  # a [section] table, or section.key = ...
            items = list(_flatten(where, {f"{key}.{k}": v for k, v in value.items()}, what).items())
        else:
            items = [(SHORTCUTS.get(key, key), value)]
        for dotted, v in items:
            if dotted in out:
                raise UserError(where, f"{dotted} is given twice in {what}")
            out[dotted] = v
    return out


def _is_spec(value: Any) -> bool:
    return isinstance(value, dict) and any(k in KINDS for k in value)


def _check_with_config(where: str, recipe: Any, key: str, value: Any) -> Any:
    """Apply `key=value` to the recipe as an override would; returns the value as the config holds it."""
    from kagglebench.config import apply_overrides

    if "." not in key:
        from kagglebench.config import valid_keys

        raise UserError(where, f"unknown key '{key}'; valid keys: {', '.join(valid_keys())}")
    try:
        changed = apply_overrides(recipe, [override(key, value)])
    except UserError as e:
        raise UserError(where, e.what) from None
    section, _, name = key.partition(".")
    return getattr(getattr(changed, section), name)


def _param(where: str, recipe: Any, key: str, spec: Any) -> Param:
    if not _is_spec(spec) or len(spec) != 1:
        raise UserError(where, f"{key} = {spec!r}: {_SPEC_HINT}")
    kind, values = next(iter(spec.items()))
    if not isinstance(values, list) or not values:
        raise UserError(where, f"{key}: {kind} needs a list, e.g. {kind} = [1, 2]")
    if kind == "choice":
        if any(isinstance(v, (dict, list)) for v in values):
            raise UserError(where, f"{key}: each choice must be a single value (text, number or true/false)")
        if len({json.dumps(v) for v in values}) != len(values):
            raise UserError(where, f"{key}: a choice is listed twice")
        held = [_check_with_config(where, recipe, key, v) for v in values]
        return Param(key, kind, held)
    if len(values) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise UserError(where, f"{key}: {kind} needs two numbers [low, high], not {values!r}")
    lo, hi = values
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise UserError(where, f"{key}: {kind} = [{lo}, {hi}] needs low < high")
    if kind == "log" and lo <= 0:
        raise UserError(where, f"{key}: a log range needs low > 0 (got {lo})")
    held = [_check_with_config(where, recipe, key, v) for v in values]
    integer = isinstance(held[0], int) and not isinstance(held[0], bool)
    if integer and kind == "float":
        raise UserError(where, f"{key} holds whole numbers: write {{int = [{lo}, {hi}]}} "
                               f"(or {{log = [{lo}, {hi}]}}) instead of float")
    if kind == "int" and not all(float(v).is_integer() for v in values):
        raise UserError(where, f"{key}: int needs whole-number ends, not {values!r}")
    if integer and not all(float(v).is_integer() for v in values):
        raise UserError(where, f"{key} holds whole numbers: give whole-number ends, not {values!r}")
    if kind == "int" and not integer:
        held = [float(v) for v in held]
    return Param(key, kind, held, integer=integer or kind == "int")


def _settings(where: str, table: Any) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise UserError(where, "[tune] must be a table of settings")
    out = dict(SETTINGS)
    for k, v in table.items():
        if k not in SETTINGS:
            raise UserError(where, f"unknown [tune] setting '{k}'; valid: {', '.join(SETTINGS)}")
        if k == "pruner":
            if v not in PRUNERS:
                raise UserError(where, f"[tune] pruner = {v!r} is not one of: {', '.join(PRUNERS)}")
        elif isinstance(v, bool) or not isinstance(v, int) or v < (1 if k == "ood_samples" else 0):
            raise UserError(where, f"[tune] {k} must be a whole number >= {1 if k == 'ood_samples' else 0}, "
                                   f"not {v!r}")
        out[k] = v
    return out


def _first(where: str, entries: Any, params: list[Param]) -> list[dict[str, Any]]:
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise UserError(where, "[[first]] must be tables of settings, e.g. [[first]] then optim.lr = 0.05")
    by_key = {p.key: p for p in params}
    out = []
    for i, entry in enumerate(entries, 1):
        flat = _flatten(where, entry, f"[[first]] number {i}")
        for key, value in flat.items():
            p = by_key.get(key)
            if p is None:
                raise UserError(where, f"[[first]] number {i} sets {key}, which the space does not search; "
                                       f"searched keys: {', '.join(by_key)}")
            if p.integer and isinstance(value, float) and value.is_integer():
                flat[key] = value = int(value)
            if not p.contains(value) or (p.integer and not isinstance(value, int)):
                shown = f"one of {p.values}" if p.kind == "choice" else f"in [{p.values[0]}, {p.values[1]}]"
                raise UserError(where, f"[[first]] number {i}: {key} = {value!r} is not {shown}")
        out.append(flat)
    return out


def load_space(path: str | Path, recipe: Any) -> Space:
    """Read and check a space file against `recipe` (the recipe a trial's settings are applied to)."""
    where = str(path)
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(where, "space file not found") from None
    except OSError as e:
        raise UserError(where, f"cannot read the space file: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise UserError(where, "not a text file (a space is UTF-8 TOML)") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(where, f"not valid TOML: {e}") from None
    settings = _settings(where, doc.pop("tune", {}))
    first = doc.pop("first", [])
    params = [_param(where, recipe, key, spec) for key, spec in _flatten(where, doc, "the space").items()]
    if not params:
        raise UserError(where, "searches nothing: add a line such as optim.lr = {log = [1e-4, 1e-1]}")
    return Space(where, params, settings, _first(where, first, params))
