"""The Competition record and its registry: what one competition's data and submission look like.

A `Competition` (one per profile, `@register_profile`) owns reading its training data, its
labelled test split (where it has one), its unlabelled test source in submission order,
and the columns of its submission; the workspace asks it and never switches on a name.
A new competition format is one module in this package (plus its tests): a subclass that
overrides what differs from the defaults below.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

from kagglebench.errors import UserError

if TYPE_CHECKING:
    from kagglebench.data.formats import Dataset
    from kagglebench.data.testsets import TestSource

_PROFILES: dict[str, Competition] = {}


class DataPaths(Protocol):
    """What a competition reads from its workspace: where the data is (kagglebench.workspace.Workspace)."""

    root: Path
    settings_path: Path                  # kagglebench.toml, named in errors about a missing path

    def data_path(self, key: str) -> Path | None:
        """A path from the [data] table of kagglebench.toml, resolved (None if unset)."""


def register_profile(cls: type[Competition]) -> type[Competition]:
    """Class decorator: one instance of `cls` becomes the profile named `cls.name`."""
    if cls.name in _PROFILES:
        raise ValueError(f"profile {cls.name!r} registered twice")
    _PROFILES[cls.name] = cls()
    return cls


def profiles() -> dict[str, Competition]:
    """Every registered profile by name, in registration order."""
    return dict(_PROFILES)


def get_profile(name: str) -> Competition:
    """The named profile, or UserError listing the known ones."""
    if name not in _PROFILES:
        raise UserError("--profile", f"unknown profile {name!r}; choose one of: {', '.join(_PROFILES)}")
    return _PROFILES[name]


class Competition:
    """Defaults: training data in `train_format` at [data] train; its own test split (if the format
    has one) is both the labelled test split and the test set; submission columns id,label."""

    name: ClassVar[str]
    description: ClassVar[str]
    usage: ClassVar[str]                          # the `kagglebench init --help` line
    train_format: ClassVar[str]                   # the kagglebench.data.formats name --data must hold
    test_format: ClassVar[str | None] = None      # the format of a separate test set (None: inside the data)
    id_col: ClassVar[str] = "id"
    label_col: ClassVar[str] = "label"
    test_beside: ClassVar[tuple[str, ...]] = ()   # names looked for beside --data when --test is not given
    needs_test: ClassVar[bool] = False            # init refuses without a test set
    needs_data: ClassVar[bool] = True             # False: bundled data, no --data
    from_download: ClassVar[bool] = True          # init --download may pick it from the formats it finds

    # -- training data ------------------------------------------------------------------------
    def train_path(self, ws: DataPaths) -> str:
        path = ws.data_path("train")
        if path is None:
            raise UserError(ws.settings_path, "no `train = ...` path in the [data] table")
        return str(path)

    def read_train(self, ws: DataPaths) -> Dataset:
        """The labelled training set."""
        from kagglebench.data import formats

        return formats.load(self.train_path(ws), self.train_format, split="train")

    # -- test data ------------------------------------------------------------------------------
    def labelled_test(self, ws: DataPaths) -> Dataset | None:
        """The format's own labelled test split, when the data has one."""
        from kagglebench.data import formats

        path = Path(self.train_path(ws))
        if not formats.has_split(path, self.train_format, "test"):
            return None
        return formats.load(path, self.train_format, split="test")

    def test_source(self, ws: DataPaths, sample: Path | None) -> TestSource:
        """The submission's test set, in submission order (a sample submission's order wins)."""
        ds = self.labelled_test(ws)
        if ds is None:
            raise UserError(ws.root, "the training data has no test split")
        return one_block(ds, [str(i) for i in range(len(ds))], sample)

    def has_test(self, test_path: Path | None) -> bool:
        """Whether a workspace with this --test (or none) has a test set to submit."""
        return True

    # -- kagglebench init -----------------------------------------------------------------------
    def check_init(self, data: Path | None, test: Path | None) -> None:
        """Checks beyond the format's own (e.g. a test folder missing a file); UserError if wrong."""


def one_block(ds: Dataset, ids: Sequence[str], sample: Path | None) -> TestSource:
    """A test set held in one Dataset, as a TestSource with these ids."""
    from kagglebench.data.testsets import TestSource

    images = ds.images
    return TestSource([lambda: images], [len(ds)], list(ids), sample)
