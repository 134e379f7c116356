"""Competitions: one module per profile, each a `Competition` registered with `@register_profile`.

    get_profile(name) -> Competition      profiles() -> {name: Competition}

Importing this package registers the profiles of the modules in `MODULES`, in that order (the
order `--profile` lists them); a new competition format is a new module here, named in
`MODULES`, plus its tests. Imports neither torch nor numpy: readers load inside the methods.
"""

import importlib

from kagglebench.competitions.base import Competition, get_profile, profiles, register_profile

MODULES = ("ds542", "nyu", "stl10", "cifar", "imagefolder", "digits", "demo")
for _name in MODULES:
    importlib.import_module(f"{__name__}.{_name}")

__all__ = ["Competition", "get_profile", "profiles", "register_profile"]
