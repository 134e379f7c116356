"""CIFAR-C corruptions: the local stand-in for a competition's hidden out-of-distribution test.

Reproduces the 19 corruptions x 5 severities of CIFAR-10-C / CIFAR-100-C (Hendrycks &
Dietterich 2019): the CIFAR generator make_cifar_c.py, call by call (ImageMagick's motion
blur, OpenCV's Canny, the original frost photographs included), in torch and Pillow. Seeded
and deterministic; whole batches at once; any image size (pixel-sized parameters are given
for 32x32 and scale with the image). docs/CORRUPTIONS.md has the fidelity figures.

    corrupt(images_u8_nhwc, "fog", 3, seed=0)          # numpy in, numpy out, on the CPU
    corrupt_torch(images_u8_nhwc_tensor, "fog", 3, 0)  # tensor in, tensor out, on its device
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from . import digital, noise_blur, weather  # noqa: F401  (each registers its corruptions)
from ._base import CORRUPTIONS, EPS_8BIT, Rand, get_corruption

__all__ = ["CORRUPTIONS", "SEVERITIES", "check_args", "corrupt", "corrupt_torch"]

SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)


def check_args(name: str, severity: int) -> None:
    """ValueError with the valid choices when `name` or `severity` is not one of them."""
    get_corruption(name)
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) \
            or not 1 <= int(severity) <= 5:
        raise ValueError(f"severity must be an integer from 1 (mildest) to 5 (strongest), got {severity!r}")


def _check_images(shape: tuple[int, ...], dtype: object) -> None:
    if len(shape) != 4 or shape[-1] != 3:
        raise ValueError(f"images must be shaped (N, H, W, 3) (RGB, channels last), got {tuple(shape)}")
    if shape[1] < 8 or shape[2] < 8:
        raise ValueError(f"images must be at least 8x8 pixels, got {shape[1]}x{shape[2]}")
    if dtype not in (np.uint8, torch.uint8):
        raise ValueError(f"images must be uint8 (0-255), got {dtype}")


# Up to this many pixels per batch (1024 CIFAR images) a CPU call runs on one thread.
_ONE_THREAD_PIXELS = 1 << 20


@contextmanager
def _one_cpu_thread(images: torch.Tensor) -> Iterator[None]:
    """Small CPU batches run single-threaded, then the caller's thread count comes back.

    Each op here takes well under a millisecond per small batch, so torch's worker
    threads cannot help; on a busy machine every parallel op instead waits for a worker
    to be scheduled, which made a 20-image call 10-20x slower than on one thread.
    """
    from kagglebench.devices import one_cpu_thread

    pixels = images.shape[0] * images.shape[1] * images.shape[2]
    with one_cpu_thread(images.device.type == "cpu" and pixels <= _ONE_THREAD_PIXELS):
        yield


def corrupt_torch(images: torch.Tensor, name: str, severity: int, seed: int) -> torch.Tensor:
    """Corrupt a uint8 (N, H, W, 3) tensor on its own device; returns the same shape and dtype.

    Same seed, same images, same device -> same bytes. Every image in the batch gets its
    own random draws; the draws depend on (seed, name) and on the batch's position of the
    image, not on the severity (severity 5 is severity 1's noise, only stronger).
    """
    check_args(name, severity)
    _check_images(tuple(images.shape), images.dtype)
    if images.shape[0] == 0:
        return images.clone()
    if images.device.type == "mps":
        # Several steps reproduce the original's float64 arithmetic, which MPS lacks.
        return corrupt_torch(images.cpu(), name, severity, seed).to(images.device)
    rand = Rand(seed, name, images.device, min(images.shape[1], images.shape[2]))
    with torch.no_grad(), _one_cpu_thread(images):
        x = images.permute(0, 3, 1, 2).float().div_(255.0)
        y = get_corruption(name)(x, int(severity), rand)
        # np.uint8(...) of the original: truncation, not rounding.
        # (Float64 results are as exact as the original's and are truncated as they are.)
        eps = 0.0 if y.dtype == torch.float64 else EPS_8BIT
        y = (y.clamp(0.0, 1.0) * 255.0 + eps).floor_().to(torch.uint8)
    return y.permute(0, 2, 3, 1).contiguous()


def corrupt(images: np.ndarray, name: str, severity: int, seed: int) -> np.ndarray:
    """Corrupt uint8 images (N, H, W, 3) on the CPU; returns a new array of the same shape and dtype.

    `images` may be memory-mapped. Raises ValueError for an unknown name, a severity
    outside 1..5 or images that are not uint8 RGB channels-last.
    """
    check_args(name, severity)
    arr = np.asarray(images)
    _check_images(arr.shape, arr.dtype)
    # Read-only inputs (memory-mapped .npy files) are copied: torch wants writable memory.
    arr = np.ascontiguousarray(arr) if arr.flags.writeable else np.array(arr, order="C")
    out = corrupt_torch(torch.from_numpy(arr), name, severity, seed)
    return out.numpy()
