"""The batched pipeline does what the seeds' torchvision pipelines do: zero padding, resize before
the crop, and every image its own augmentation parameters."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF

from kagglebench.data.pipeline import BatchPipeline, random_crop
from kagglebench.train.augment import create_augment


def _torchvision_crop(x: torch.Tensor, padding: int, g: torch.Generator) -> torch.Tensor:
    """What torchvision's RandomCrop(size, padding=p) does to each image (pad with fill 0, then
    crop at (top, left)), with the offsets drawn as kagglebench draws them."""
    n, _, h, w = x.shape
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=g)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=g)
    return torch.stack([TF.crop(TF.pad(x[i], [padding], fill=0), int(dy[i]), int(dx[i]), h, w) for i in range(n)])


@pytest.mark.parametrize("shape,padding", [((64, 3, 32, 32), 4), ((9, 3, 7, 11), 2), ((5, 1, 6, 6), 8)])
def test_zero_padding_is_torchvisions_random_crop(shape, padding):
    x = torch.randint(1, 256, shape, dtype=torch.uint8)   # no zeros of its own
    got = random_crop(x, padding, torch.Generator().manual_seed(3), mode="zeros")
    want = _torchvision_crop(x, padding, torch.Generator().manual_seed(3))
    assert torch.equal(got, want)
    # The padded border is zeros: shifted images hold exactly the zeros their shift brings in.
    assert (got == 0).any()


def test_zero_padding_pads_zeros_and_reflect_pads_none():
    x = torch.full((200, 3, 32, 32), 255, dtype=torch.uint8)
    zeros = random_crop(x, 4, torch.Generator().manual_seed(0), mode="zeros")
    reflect = random_crop(x, 4, torch.Generator().manual_seed(0), mode="reflect")
    assert set(zeros.unique().tolist()) == {0, 255} and set(reflect.unique().tolist()) == {255}
    # Each image's zeros are a border band of at most 4 rows and 4 columns.
    for img in zeros[:, 0]:
        rows = (img == 0).all(1).nonzero().flatten().tolist()
        cols = (img == 0).all(0).nonzero().flatten().tolist()
        assert len(rows) <= 4 and len(cols) <= 4
        assert int((img == 0).sum()) == 32 * 32 - (32 - len(rows)) * (32 - len(cols))


def test_the_pipeline_uses_its_pad_mode():
    images = np.full((16, 8, 8, 3), 200, np.uint8)
    for mode, has_zero in (("zeros", True), ("reflect", False)):
        pipe = BatchPipeline(images, np.zeros(16), 16, crop_padding=3, pad_mode=mode, mean=(0, 0, 0), std=(1, 1, 1))
        x, _ = next(iter(pipe))
        assert bool((x == 0).any()) is has_zero


def test_the_crop_on_96x96_inputs_shifts_at_most_the_stated_pixels():
    """Seed 004 resizes CIFAR's 32x32 to 96x96 first, then crops: padding 12 moves an image by at
    most 12 pixels of the 96x96 input (cropping before the resize would move it by up to 36)."""
    n = 400
    images = np.zeros((n, 32, 32, 3), np.uint8)
    images[:, 12:20, 12:20] = 255                       # a centred square, 24x24 once resized
    pipe = BatchPipeline(images, np.zeros(n), n, crop_padding=12, pad_mode="zeros", size=96,
                         mean=(0, 0, 0), std=(1, 1, 1))
    x, _ = next(iter(pipe))
    assert x.shape == (n, 3, 96, 96)
    plain = BatchPipeline(images[:1], np.zeros(1), 1, size=96, mean=(0, 0, 0), std=(1, 1, 1))
    ref, _ = next(iter(plain))

    def centre(img: torch.Tensor) -> tuple[float, float]:
        ys, xs = (img[0] > 0.5).nonzero(as_tuple=True)
        return float(ys.float().mean()), float(xs.float().mean())

    cy, cx = centre(ref[0])
    shifts = [(abs(centre(img)[0] - cy), abs(centre(img)[1] - cx)) for img in x]
    assert max(max(s) for s in shifts) <= 12 + 1e-6
    assert max(max(s) for s in shifts) >= 10           # the whole range is used


def _cfg(**kw) -> SimpleNamespace:
    base = {"policy": "", "random_resized_crop": 0.0, "color_jitter": 0.0, "affine_degrees": 0.0,
            "perspective": 0.0, "grayscale": 0.0}
    return SimpleNamespace(**{**base, **kw})


@pytest.mark.parametrize("data", [{"color_jitter": 0.4}, {"affine_degrees": 15.0}, {"random_resized_crop": 0.5},
                                  {"policy": "randaugment"}, {"policy": "trivialaugment"}])
def test_every_image_in_a_batch_gets_its_own_parameters(data):
    """Eight copies of one image come out as eight different images: one parameter draw per
    image (the seeds' per-sample torchvision pipelines), not one per group of images."""
    torch.manual_seed(0)
    one = torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8)
    out = create_augment(_cfg(**data))(one.expand(8, -1, -1, -1).contiguous())
    assert out.shape == (8, 3, 32, 32) and out.dtype == torch.uint8
    distinct = {out[i].numpy().tobytes() for i in range(8)}
    # RandAugment/TrivialAugment may draw an identity op for an image now and then; the
    # continuous transforms never repeat.
    assert len(distinct) >= (6 if "policy" in data else 8)
    for i in range(0, 8, 4):        # in particular, no group of 4 shares one draw
        assert len({out[j].numpy().tobytes() for j in range(i, i + 4)}) > 1


def test_random_resized_crop_keeps_the_input_size():
    torch.manual_seed(0)
    x = torch.randint(0, 256, (4, 3, 96, 96), dtype=torch.uint8)
    out = create_augment(_cfg(random_resized_crop=0.8))(x)
    assert out.shape == x.shape and not torch.equal(out, x)
