"""STL-10 binary, five of its classes (car, deer, horse, monkey, truck); its test split is the test set."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kagglebench.competitions.base import Competition, DataPaths, register_profile

if TYPE_CHECKING:
    from kagglebench.data.formats import Dataset

STL10_FIVE = ["car", "deer", "horse", "monkey", "truck"]


@register_profile
class STL10Five(Competition):
    name = "stl10-5class"
    description = "STL-10 binary, five classes (car, deer, horse, monkey, truck)"
    usage = "--data stl10_binary       (test split inside it; 5 classes)"
    train_format = "stl10"

    def read_train(self, ws: DataPaths) -> Dataset:
        from kagglebench.data import formats

        return formats.load_stl10(self.train_path(ws), "train", classes=STL10_FIVE)

    def labelled_test(self, ws: DataPaths) -> Dataset | None:
        from kagglebench.data import formats

        path = Path(self.train_path(ws))
        return formats.load_stl10(path, "test", classes=STL10_FIVE) if formats.has_split(path, "stl10", "test") \
            else None
