"""The Competition registry: one object per profile owns its data and submission; no name switches elsewhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kagglebench.competitions import Competition, base, get_profile, profiles, register_profile
from kagglebench.data import formats, writers
from kagglebench.errors import UserError
from kagglebench.workspace import Workspace, init_workspace

SRC = Path(__file__).resolve().parents[1] / "src" / "kagglebench"


def test_every_profile_is_registered_in_its_listed_order() -> None:
    assert list(profiles()) == ["ds542-sp25", "nyu-dl-sp24", "stl10-5class", "cifar10", "cifar100",
                                "imagefolder", "digits", "demo"]
    for name, prof in profiles().items():
        assert isinstance(prof, Competition) and prof.name == name and prof.description and prof.usage
        assert prof.train_format in formats.FORMATS and prof.test_format in (None, *formats.FORMATS)
    with pytest.raises(UserError, match="unknown profile 'kaggle'; choose one of: ds542-sp25, nyu-dl-sp24"):
        get_profile("kaggle")


def test_a_name_is_registered_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "_PROFILES", dict(base._PROFILES))

    class Again(Competition):
        name = "digits"

    with pytest.raises(ValueError, match="registered twice"):
        register_profile(Again)


def test_the_demo_profile_reads_train_labelled_test_and_the_ood_folder(demo_ws: Path) -> None:
    ws = Workspace(demo_ws)
    prof = ws.profile
    assert prof is get_profile("demo") and prof.needs_test
    assert len(prof.read_train(ws)) == 1000
    test = prof.labelled_test(ws)
    assert test is not None and test.labels is not None and len(test) == 20
    src = prof.test_source(ws, None)
    assert len(src) == 19 * 5 * 20 and src.ids[0] == "distortion00_1_0"


def test_digits_train_and_test_are_the_two_parts_of_the_bundled_set(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "dg", "digits")
    train, test = ws.train_data(), ws.labelled_test()
    whole = formats.load_digits()
    np.testing.assert_array_equal(train.images, whole.images[np.arange(1797) % 5 != 4])
    np.testing.assert_array_equal(test.labels, whole.labels[4::5])
    assert list(ws.submission_format().ids[:3]) == ["0", "1", "2"]


def test_a_new_competition_is_one_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A format the engine has never seen: CIFAR-10 training data whose first two training batches
    are the test set, submitted as `image,class`. Nothing but the class below is written for it."""
    monkeypatch.setattr(base, "_PROFILES", dict(base._PROFILES))

    @register_profile
    class FirstImages(Competition):
        name = "first-images"
        description = "CIFAR-10 train; its first 7 images are the test set"
        usage = "--data cifar-10-batches-py"
        train_format = "cifar10"
        id_col, label_col = "image", "class"

        def test_source(self, ws, sample):
            ds = self.read_train(ws)
            ds.images = ds.images[:7]
            return base.one_block(ds, [f"img{i}" for i in range(7)], sample)

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    data = writers.write_cifar10(tmp_path / "cifar-10-batches-py", (x, np.arange(20) % 10), (x[:2], np.arange(2)),
                                 [f"k{i}" for i in range(10)], 1)
    (data / "test_batch").unlink()
    ws = init_workspace(tmp_path / "ws", "first-images", data=str(data))
    fmt = Workspace(ws.root).submission_format()
    assert (fmt.id_col, fmt.label_col, fmt.rows, fmt.ids[-1]) == ("image", "class", 7, "img6")
    ids, imgs = next(ws.iter_test())
    np.testing.assert_array_equal(imgs, x[:7])
    assert ws.labelled_test() is None        # this CIFAR folder has no test_batch


def test_no_module_outside_competitions_switches_on_a_profile_name() -> None:
    names = [f'"{n}"' for n in profiles()]
    for path in [SRC / "workspace.py", SRC / "data" / "testsets.py", SRC / "data" / "check.py",
                 SRC / "runs.py"]:
        text = path.read_text()
        assert [n for n in names if n in text] == [], path
