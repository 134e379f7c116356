"""Write a file so that it is either the old one or the whole new one: never half-written.

`replacing(path)` gives a temporary path beside `path` (same folder, so the final rename is
atomic); when the block ends without error the temporary file is renamed over `path`, and
when it raises (a full disk, Ctrl-C, a bug) the temporary file is removed and the old file,
if any, is untouched. Every writer in kagglebench goes through here.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: str | os.PathLike, *, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary file beside `path` (named `.NAME.<random><suffix>`), renamed over `path` on success.

    `suffix` matters to writers that pick their format from the name (`.png`, `.npy`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; the result is an ordinary shareable file
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with replacing(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
