"""Fault hooks for reliability tests, loaded into `python -m kagglebench` children via PYTHONPATH.

Only active when an environment variable asks (KB_FAULT_CKPT, KB_FAULT_DENY: below); otherwise
this file does nothing.

KB_FAULT_CKPT="kill:N"    the Nth checkpoint write of this process writes half the file,
                          syncs it to disk, then SIGKILLs the process (a crash mid-write).
KB_FAULT_CKPT="enospc:N"  the Nth checkpoint write writes half the file, then fails with
                          OSError(ENOSPC) as a full disk would.

The engine's own `checkpoints.atomic_save` still runs: only `torch.save` underneath it is
replaced for that one write, so the engine's temp-file-and-rename logic is what is tested.
"""

import os
import sys

_SPEC = os.environ.get("KB_FAULT_CKPT", "")


def _patch(mod):
    import errno
    import io
    import signal

    import torch

    kind, _, nth = _SPEC.partition(":")
    nth = int(nth or 1)
    real_atomic, real_save = mod.atomic_save, torch.save
    count = [0]

    def bad_save(obj, f, *args, **kw):
        buf = io.BytesIO()
        real_save(obj, buf, *args, **kw)
        data = buf.getvalue()
        f.write(data[: len(data) // 2])
        f.flush()
        os.fsync(f.fileno())
        if kind == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise OSError(errno.ENOSPC, "No space left on device")

    def atomic_save(obj, path):
        count[0] += 1
        if count[0] != nth:
            return real_atomic(obj, path)
        torch.save = bad_save
        try:
            return real_atomic(obj, path)
        finally:
            torch.save = real_save

    mod.atomic_save = atomic_save


if _SPEC:
    import importlib.abc
    import importlib.util

    class _Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name != "kagglebench.train.checkpoints":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            load = spec.loader.exec_module

            def exec_module(module):
                load(module)
                _patch(module)

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _Finder())


# KB_FAULT_DENY=DIR: opening a file for writing inside DIR fails with EACCES, as in a folder
# the user may not write to (tests run as root, where chmod alone does not stop writes).
_DENY = os.environ.get("KB_FAULT_DENY", "")
if _DENY:
    import builtins
    import errno

    _real_open, _real_os_open = builtins.open, os.open
    _WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def _denied(path):
        try:
            return os.path.abspath(os.fspath(path)).startswith(os.path.abspath(_DENY) + os.sep)
        except TypeError:
            return False

    def _open(file, mode="r", *args, **kw):
        if any(c in mode for c in "wax+") and _denied(file):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(file))
        return _real_open(file, mode, *args, **kw)

    def _os_open(path, flags, *args, **kw):
        if flags & _WRITE and _denied(path):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return _real_os_open(path, flags, *args, **kw)

    builtins.open, os.open = _open, _os_open
