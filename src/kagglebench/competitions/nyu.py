"""NYU Deep Learning Spring 2024: CIFAR-10 training data; the test set is one unlabelled pickle
{b"data", b"ids"}; the submission's columns are ID,Labels."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kagglebench.competitions.base import Competition, DataPaths, one_block, register_profile
from kagglebench.errors import UserError

if TYPE_CHECKING:
    from kagglebench.data.testsets import TestSource


@register_profile
class NYU(Competition):
    name = "nyu-dl-sp24"
    description = "NYU Deep Learning Spring 2024: CIFAR-10 train, unlabeled test pickle"
    usage = "--data cifar-10-batches-py --test cifar_test_nolabels.pkl"
    train_format = "cifar10"
    test_format = "nyu-pickle"
    id_col, label_col = "ID", "Labels"
    test_beside = ("cifar_test_nolabels.pkl", "cifar_test_nolabel.pkl")
    needs_test = True

    def test_source(self, ws: DataPaths, sample: Path | None) -> TestSource:
        from kagglebench.data import formats

        test = ws.data_path("test")
        if test is None:
            raise UserError(ws.settings_path, "no `test = ...` pickle in the [data] table")
        ds = formats.load_nyu_pickle(test)
        return one_block(ds, ds.ids, sample)
