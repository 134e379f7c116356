"""The batched input pipeline (DESIGN.md boundary 5), in the style of airbench.

The training split sits on the device as one uint8 NCHW tensor. Each batch is a slice of a
seeded permutation; then, as tensor operations on the whole batch and in the order a
torchvision per-sample pipeline applies them: resize to the input size (a uint8 result,
as PIL's Resize gives), random crop after padding (zeros as torchvision's RandomCrop, or
reflect as airbench), flips, the optional per-image `augment` callable (policies, random
resized crop, colour, affine, perspective, grayscale), normalization. Because the resize
comes first, a crop's padding is in pixels of the input size: padding 12 on 96x96 inputs
shifts an image by at most 12 pixels. No per-sample PIL and no DataLoader workers.

Data-parallel sharding: `batch_size` is the global batch; every rank draws the same seeded
permutation and keeps positions rank::world_size of each global batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

CIFAR100_MEAN = (0.5071, 0.4867, 0.4408)
CIFAR100_STD = (0.2675, 0.2565, 0.2761)


def to_nchw_u8(images, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 NHWC (numpy, memmap or tensor) -> contiguous uint8 NCHW tensor on `device`."""
    t = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(images))
    if t.dtype != torch.uint8 or t.ndim != 4 or t.shape[-1] != 3:
        raise ValueError(f"expected uint8 images N x H x W x 3, got {tuple(t.shape)} {t.dtype}")
    return t.to(device).permute(0, 3, 1, 2).contiguous()


def normalize(x_u8: torch.Tensor, mean: Sequence[float], std: Sequence[float],
              size: int | None = None, channels_last: bool = False,
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 NCHW -> float NCHW: /255, (x - mean) / std, then bilinear resize to `size`. In
    `dtype` throughout (float16: airbench's loader, `images.half() / 255` normalized in fp16)."""
    m = torch.tensor(mean, device=x_u8.device, dtype=dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x_u8.device, dtype=dtype).view(1, -1, 1, 1)
    # In place on the fresh float copy: the same arithmetic, in the same order, as
    # (x / 255 - m) / s, without two more batch-sized allocations (~3x faster on a CPU).
    x = x_u8.to(dtype, copy=True).div_(255).sub_(m).div_(s)   # a copy: never the caller's tensor
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def resize_u8(x_u8: torch.Tensor, size: int | None) -> torch.Tensor:
    """uint8 NCHW -> uint8 NCHW at size x size (bilinear, rounded): the first step of training,
    so that crops and augmentations work at the model's input size, as the seeds' torchvision
    pipelines (Resize, then the random transforms) do."""
    if size is None or tuple(x_u8.shape[-2:]) == (size, size):
        return x_u8
    x = F.interpolate(x_u8.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=False)
    return x.round_().clamp_(0, 255).to(torch.uint8)


PAD_MODES = ("zeros", "reflect")
_CROP_TABLES: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _crop_tables(h: int, w: int, padding: int, mode: str, device: torch.device
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(row offsets (2p+1, h), column indices (2p+1, w)): for a crop shifted by s, the source
    row/column of each output row/column in the unpadded image with reflect padding folded in,
    or, for zeros, in the image with one extra zero row and column at index h and w (so a
    padded pixel reads that zero)."""
    key = (h, w, padding, mode, str(device))
    if key not in _CROP_TABLES:
        def source(size: int) -> torch.Tensor:
            i = torch.arange(-padding, size + padding)
            if mode == "zeros":
                return torch.where((i < 0) | (i >= size), size, i)
            i = i.abs()
            return torch.where(i >= size, 2 * (size - 1) - i, i)

        stride = w + 1 if mode == "zeros" else w
        _CROP_TABLES[key] = ((source(h).unfold(0, h, 1) * stride).to(device),
                             source(w).unfold(0, w, 1).to(device))
    return _CROP_TABLES[key]


def random_crop(x: torch.Tensor, padding: int, g: torch.Generator, mode: str = "reflect") -> torch.Tensor:
    """Per-image random crop of the original size from the batch padded by `padding` pixels of
    zeros (torchvision's RandomCrop(padding=p), the seeds' pipelines) or reflection (airbench).

    Same result, for the same generator draws, as F.pad (constant 0 or reflect) and slicing each
    image at its (dy, dx); but the padding is folded into one precomputed index table and the
    crop is one `gather` (on the unpadded batch, or for zeros on the batch with one zero row and
    column added): about 6x faster on a CPU than pad + 4-D advanced indexing (BENCHMARKS.md).
    """
    if padding <= 0:
        return x
    if mode not in PAD_MODES:
        raise ValueError(f"pad mode {mode!r} is not one of {', '.join(PAD_MODES)}")
    n, c, h, w = x.shape
    if mode == "reflect" and padding >= min(h, w):
        raise ValueError(f"crop padding {padding} must be smaller than the image size {h}x{w} (reflect padding)")
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=g).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=g).to(x.device)
    rows, cols = _crop_tables(h, w, padding, mode, x.device)
    if mode == "zeros":
        x = F.pad(x, (0, 1, 0, 1))   # the zero row and column the tables point padded pixels at
    hs, ws = x.shape[-2:]
    idx = (rows[dy][:, :, None] + cols[dx][:, None, :]).view(n, 1, h * w).expand(n, c, h * w)
    return x.reshape(n, c, hs * ws).gather(2, idx).view(n, c, h, w)


def random_flip(x: torch.Tensor, dim: int, g: torch.Generator) -> torch.Tensor:
    """Flip each image along `dim` (3 = horizontal, 2 = vertical) with probability 1/2."""
    flip = (torch.rand(len(x), generator=g) < 0.5).to(x.device)
    # Flip only the chosen half and copy it in: the same result as torch.where(flip,
    # x.flip(dim), x) without flipping and blending the whole batch (about 2x faster).
    idx = flip.nonzero().squeeze(1)
    return x.index_copy(0, idx, x.index_select(0, idx).flip(dim))


def flip_half_mask(n: int, seed: int) -> torch.Tensor:
    """A fixed, seeded choice of half the dataset's images (True = in the half), for alternating flip."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + 424_242)   # a stream apart from the epochs'
    mask = torch.zeros(n, dtype=torch.bool)
    mask[torch.randperm(n, generator=g)[:n // 2]] = True
    return mask


def alternating_flip(x: torch.Tensor, in_half: torch.Tensor, epoch: int) -> torch.Tensor:
    """airbench's alternating flip: on even epochs mirror the images in the fixed half, on odd
    epochs the others, so every image is seen both ways every two epochs (random flips leave
    a quarter of them unmirrored or mirrored twice in a row)."""
    flip = (in_half if epoch % 2 == 0 else ~in_half).view(-1, 1, 1, 1)
    return torch.where(flip, x.flip(3), x)


class BatchPipeline:
    """Epoch iterator over a device-resident uint8 dataset: yields (float NCHW, int64 labels)."""

    def __init__(self, images_u8_nhwc, labels, batch_size: int, *, shuffle: bool = True,
                 drop_last: bool = True, seed: int = 0, crop_padding: int = 0, hflip: bool = False,
                 vflip: bool = False, mean: Sequence[float] = (0.5, 0.5, 0.5),
                 std: Sequence[float] = (0.5, 0.5, 0.5), size: int | None = None,
                 augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 channels_last: bool = False, rank: int = 0, world_size: int = 1,
                 device: str | torch.device | None = None, alternating_flip: bool = False,
                 pad_mode: str = "reflect", dtype: torch.dtype = torch.float32) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world_size {world_size}")
        dev = device or (images_u8_nhwc.device if isinstance(images_u8_nhwc, torch.Tensor) else "cpu")
        self.images = to_nchw_u8(images_u8_nhwc, dev)
        self.labels = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor)
                                      else labels, dtype=torch.int64).to(dev)
        self.batch_size, self.shuffle, self.drop_last, self.seed = batch_size, shuffle, drop_last, seed
        self.crop_padding, self.hflip, self.vflip, self.augment = crop_padding, hflip, vflip, augment
        self.pad_mode, self.dtype = pad_mode, dtype     # dtype: of the batches (float16 for half weights)
        self.mean, self.std, self.size, self.channels_last = mean, std, size, channels_last
        self.rank, self.world_size, self.epoch = rank, world_size, 0
        # Alternating flip (with hflip): the same seeded half on every rank, indexed by image.
        self.flip_half = flip_half_mask(len(self.labels), seed).to(dev) if alternating_flip else None

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose permutation and augmentations the next iteration uses."""
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        batches = self._batches()
        if self.images.device.type != "cpu":
            yield from batches
            return
        # On a CPU each batch is built single-threaded (devices.one_cpu_thread), then the
        # training step gets its threads back.
        from kagglebench.devices import one_cpu_thread

        while True:
            with one_cpu_thread():
                item = next(batches, None)
            if item is None:
                return
            yield item

    def _batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n, bs = len(self.labels), self.batch_size
        # The permutation depends on (seed, epoch) only, so every rank draws the same one.
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(n, generator=g) if self.shuffle else torch.arange(n)
        # Augmentation randomness differs per rank (each rank sees different images anyway).
        ga = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) * 131 + self.rank)
        for b in range(len(self)):
            idx = order[b * bs:(b + 1) * bs][self.rank::self.world_size].to(self.images.device)
            x = self.images.index_select(0, idx)    # same as images[idx], ~10x faster on a CPU
            x = resize_u8(x, self.size)
            x = random_crop(x, self.crop_padding, ga, self.pad_mode)
            if self.hflip and self.flip_half is not None:
                x = alternating_flip(x, self.flip_half[idx], self.epoch)
            elif self.hflip:
                x = random_flip(x, 3, ga)
            if self.vflip:
                x = random_flip(x, 2, ga)
            if self.augment is not None:
                x = self.augment(x)
            yield normalize(x, self.mean, self.std, self.size, self.channels_last, self.dtype), self.labels[idx]


def prepare_eval(images_u8, mean: Sequence[float], std: Sequence[float], size: int | None,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Evaluation batch with the run's own transform: uint8 NHWC -> normalized float NCHW."""
    return normalize(to_nchw_u8(images_u8, device), mean, std, size, dtype=dtype)

