"""The synthetic competition `kagglebench data demo` writes: DS-542's layout at a small size
(any number of distortion files), with a local answer key kept outside the test data."""

from __future__ import annotations

from kagglebench.competitions.base import register_profile
from kagglebench.competitions.ds542 import OodFolder


@register_profile
class Demo(OodFolder):
    name = "demo"
    from_download = False                         # written locally by `data demo`, never downloaded
    description = "the synthetic competition written by `kagglebench data demo`"
    usage = "--data cifar-100-python of a demo (`kagglebench data demo` does all this)"
