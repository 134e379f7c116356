"""One sub-folder of images per class; the test images (ids: file names without suffix) in a folder
beside it, with class sub-folders too when it is labelled."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kagglebench.competitions.base import Competition, DataPaths, one_block, register_profile
from kagglebench.errors import UserError

if TYPE_CHECKING:
    from kagglebench.data.formats import Dataset
    from kagglebench.data.testsets import TestSource


@register_profile
class ImageFolder(Competition):
    name = "imagefolder"
    description = "one sub-folder per class; test images in a folder beside it"
    usage = "--data TREE (one sub-folder per class) [--test FOLDER of images]"
    train_format = "imagefolder"
    test_format = "imagefolder"
    test_beside = ("test",)

    def read_train(self, ws: DataPaths) -> Dataset:
        from kagglebench.data import formats

        return formats.load_imagefolder(self.train_path(ws))

    def labelled_test(self, ws: DataPaths) -> Dataset | None:
        from kagglebench.data import formats

        test = ws.data_path("test")
        if test is None:
            return None
        ds = formats.load_imagefolder(test)
        return ds if ds.labels is not None else None

    def test_source(self, ws: DataPaths, sample: Path | None) -> TestSource:
        from kagglebench.data import formats

        test = ws.data_path("test")
        if test is None:
            raise UserError(ws.root, "this workspace has no test images; add `test = \"FOLDER\"` "
                            "to the [data] table of kagglebench.toml")
        ds = formats.load_imagefolder(test)
        return one_block(ds, [Path(i).stem for i in ds.ids], sample)

    def has_test(self, test_path: Path | None) -> bool:
        return test_path is not None
