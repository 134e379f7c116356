"""BU DS-542 Spring 2025 midterm: CIFAR-100 training data; the test set is a folder of 19 distortion
files x 5 severities (`distortionNN.npy`), ids `distortion{NN}_{severity}_{i}` (REFERENCE.md section 1)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kagglebench.competitions.base import Competition, DataPaths, register_profile
from kagglebench.errors import UserError

if TYPE_CHECKING:
    from kagglebench.data.testsets import TestSource


class OodFolder(Competition):
    """CIFAR-100 training data and a folder of distortionNN.npy files as the test set."""

    train_format = "cifar100"
    test_format = "ds542-ood"
    test_beside = ("ood-test",)
    needs_test = True
    full_folder = False                           # the test folder must hold all 19 distortion files

    def test_source(self, ws: DataPaths, sample: Path | None) -> TestSource:
        from kagglebench.data.testsets import ood_test_source

        test = ws.data_path("test")
        if test is None:
            raise UserError(ws.settings_path, "no `test = ...` OOD folder in the [data] table")
        return ood_test_source(test, sample)

    def check_init(self, data: Path | None, test: Path | None) -> None:
        if test is None or not self.full_folder:
            return
        from kagglebench.data import formats

        # The ids count the files: a folder missing its last file would still look whole.
        files = formats.ood_files(test)
        for f in files:  # headers only (memory-mapped): a torn or wrong file is found now
            formats.open_ood_file(f)
        short = formats.missing_last(files)
        if short:
            raise short


@register_profile
class DS542(OodFolder):
    name = "ds542-sp25"
    description = "BU DS-542 Spring 2025 midterm: CIFAR-100 train, 19x5 OOD test folder"
    usage = "--data cifar-100-python   --test ood-test (folder of distortionNN.npy)"
    full_folder = True                            # distortion00.npy .. distortion18.npy
