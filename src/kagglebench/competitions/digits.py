"""scikit-learn's bundled digits at 32x32 RGB: every fifth image is the (labelled) test set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kagglebench.competitions.base import Competition, DataPaths, register_profile

if TYPE_CHECKING:
    from kagglebench.data.formats import Dataset


def _every_fifth(test: bool) -> Dataset:
    import numpy as np

    from kagglebench.data import formats

    ds = formats.load_digits()
    keep = (np.arange(len(ds)) % 5 == 4) == test
    ds.images, ds.labels = ds.images[keep], ds.labels[keep]
    return ds


@register_profile
class Digits(Competition):
    name = "digits"
    description = "scikit-learn's bundled digits at 32x32 RGB; every fifth image is the test set"
    usage = "no data needed (scikit-learn's bundled digits)"
    train_format = "digits"
    needs_data = False

    def train_path(self, ws: DataPaths) -> str:
        return "digits"

    def read_train(self, ws: DataPaths) -> Dataset:
        return _every_fifth(test=False)

    def labelled_test(self, ws: DataPaths) -> Dataset | None:
        return _every_fifth(test=True)
