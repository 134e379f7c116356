"""ImageNet weights through torchvision's weights API, from the `TORCH_HOME` cache.

The file is looked up in the cache first (`$TORCH_HOME/hub/checkpoints/<file>`);
only when it is missing is one download tried, with a short timeout, because
machines without internet are common (clusters, this project's CI). When that
fails the user gets one line naming the file, where it comes from and where to
put it.
"""

from __future__ import annotations

import os
import pickle
import socket
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kagglebench.errors import UserError
from kagglebench.models.registry import model_entry

DOWNLOAD_TIMEOUT_S = 15.0
# Set KAGGLEBENCH_OFFLINE=1 to never try a download (machines that must not reach out, tests).
OFFLINE_ENV = "KAGGLEBENCH_OFFLINE"


def weights_for(model_name: str, weights: str) -> Any:
    """The torchvision weights enum member for `model_name` (e.g. ResNet34_Weights.IMAGENET1K_V1)."""
    from torchvision import models as tvm

    entry = model_entry(model_name)
    if entry.weights_enum is None:
        from kagglebench.models.registry import _REGISTRY
        have = ", ".join(n for n, e in sorted(_REGISTRY.items()) if e.weights_enum)
        raise UserError(f"model {model_name}", f"has no pretrained weights; set model.pretrained = false, "
                        f"or pick a model that has them: {have}")
    enum = getattr(tvm, entry.weights_enum)
    names = [w.name for w in enum] + ["DEFAULT"]
    if weights not in names:
        raise UserError(f"model.weights {weights!r}", f"{entry.weights_enum} has no such weights; "
                        f"choose one of: {', '.join(names)}")
    return enum[weights] if weights != "DEFAULT" else enum.DEFAULT


def cache_path(weights: Any) -> Path:
    """Where torch's hub cache keeps (or would keep) the file of `weights`."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def _download(weights: Any, dest: Path) -> None:
    fix = f"download {weights.url} on a machine with internet and put it at {dest}"
    if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
        raise UserError(dest, f"pretrained weights not cached ({OFFLINE_ENV} is set, so no download "
                        f"was tried); {fix}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        # download_url_to_file writes a temp file and renames it: nothing half-written.
        print(f"downloading {weights.url} to {dest}", file=sys.stderr)
        torch.hub.download_url_to_file(weights.url, str(dest), progress=sys.stderr.isatty())
    except OSError as e:  # no network, DNS failure, HTTP error, timeout (URLError is an OSError)
        raise UserError(dest, f"pretrained weights not cached and the download failed "
                        f"({type(e).__name__}); {fix}") from None
    finally:
        socket.setdefaulttimeout(old)


def load_weights_file(weights: Any) -> dict[str, torch.Tensor]:
    """The state dict of `weights`, from the cache (downloading once if it is missing)."""
    path = cache_path(weights)
    if not path.is_file():
        _download(weights, path)
    try:
        return weights.get_state_dict(progress=False, weights_only=True)
    except (RuntimeError, EOFError, ValueError, pickle.UnpicklingError, OSError) as e:
        raise UserError(path, f"cannot read the weights file ({type(e).__name__}: {str(e)[:120]}); "
                        f"delete it and put a fresh copy of {weights.url} there") from None


def check_state_dict(model: nn.Module, state: dict[str, torch.Tensor], where: str,
                     skip_prefix: str | None = None) -> None:
    """Refuse `state` unless its keys and shapes match `model` (ignoring keys under `skip_prefix`)."""
    own = {k: v for k, v in model.state_dict().items() if not (skip_prefix and k.startswith(skip_prefix))}
    got = {k: v for k, v in state.items() if not (skip_prefix and k.startswith(skip_prefix))}
    missing = sorted(set(own) - set(got))
    unexpected = sorted(set(got) - set(own))
    shapes = sorted(f"{k} {tuple(got[k].shape)} vs {tuple(own[k].shape)}" for k in set(own) & set(got)
                    if tuple(got[k].shape) != tuple(own[k].shape))
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
        if items:
            more = f" and {len(items) - 5} more" if len(items) > 5 else ""
            problems.append(f"{label}: {', '.join(items[:5])}{more}")
    if problems:
        raise UserError(where, "the weights do not match the model (" + "; ".join(problems) + ")")


def load_imagenet_weights(model: nn.Module, model_name: str, weights_name: str) -> nn.Module:
    """Load ImageNet weights into a freshly built torchvision model with its 1000-class head."""
    weights = weights_for(model_name, weights_name)
    state = load_weights_file(weights)
    check_state_dict(model, state, str(cache_path(weights)))
    model.load_state_dict(state)
    return model
