"""The batched pipeline: shapes, seeded determinism, sharding, augmentations, eval transform."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kagglebench.data.pipeline import BatchPipeline, prepare_eval

X = np.random.default_rng(0).integers(0, 256, (103, 32, 32, 3), dtype=np.uint8)
Y = np.arange(103) % 10


def ids_of(pipe: BatchPipeline) -> list[int]:
    # Labels are unique per image when labels = arange, so they identify the images drawn.
    return [int(v) for _, y in pipe for v in y]


def test_shapes_len_and_drop_last():
    pipe = BatchPipeline(X, Y, 16, crop_padding=4, hflip=True)
    assert len(pipe) == 6
    batches = list(pipe)
    assert len(batches) == 6
    x, y = batches[0]
    assert x.shape == (16, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert len(BatchPipeline(X, Y, 16, drop_last=False)) == 7
    assert len(list(BatchPipeline(X, Y, 16, drop_last=False))[-1][1]) == 103 - 96


def test_seeded_shuffle_is_reproducible_and_changes_with_epoch():
    lab = np.arange(103)
    a = BatchPipeline(X, lab, 10, seed=3, crop_padding=2, hflip=True)
    b = BatchPipeline(X, lab, 10, seed=3, crop_padding=2, hflip=True)
    xa, xb = next(iter(a))[0], next(iter(b))[0]
    assert torch.equal(xa, xb) and ids_of(a) == ids_of(b)
    first = ids_of(a)
    a.set_epoch(1)
    assert ids_of(a) != first
    assert len(set(first)) == 100 and set(first) <= set(range(103))  # no repeats; 3 dropped


def test_no_augmentation_is_exact_normalization():
    pipe = BatchPipeline(X, Y, 103, shuffle=False, drop_last=False, mean=(0, 0, 0), std=(1, 1, 1))
    x, _ = next(iter(pipe))
    np.testing.assert_allclose(x.permute(0, 2, 3, 1).numpy(), X / 255.0, atol=1e-6)


def test_crop_and_flip_move_pixels_but_keep_content():
    one = np.zeros((1, 8, 8, 3), np.uint8)
    one[0, 2, 3] = 255
    pipe = BatchPipeline(np.repeat(one, 64, 0), np.zeros(64), 64, hflip=True, crop_padding=1,
                         mean=(0, 0, 0), std=(1, 1, 1))
    x, _ = next(iter(pipe))
    assert x.shape == (64, 3, 8, 8)
    positions = {tuple(np.argwhere(img[0].numpy() > 0.5)[0]) for img in x}
    assert len(positions) > 4                          # different shifts and flips per image
    assert all(abs(r - 2) <= 1 for r, _ in positions)  # shifted by at most the padding


def test_vflip_resize_channels_last_and_augment_hook():
    seen = []

    def augment(x):
        seen.append((x.dtype, tuple(x.shape)))
        return 255 - x

    pipe = BatchPipeline(X, Y, 8, vflip=True, size=96, channels_last=True, augment=augment,
                         mean=(0, 0, 0), std=(1, 1, 1))
    x, _ = next(iter(pipe))
    assert x.shape == (8, 3, 96, 96) and x.is_contiguous(memory_format=torch.channels_last)
    assert seen[0] == (torch.uint8, (8, 3, 96, 96))   # resized first, then augmented (uint8)


def test_sharding_partitions_each_global_batch():
    lab = np.arange(103)
    full = BatchPipeline(X, lab, 12, seed=5)
    shards = [BatchPipeline(X, lab, 12, seed=5, rank=r, world_size=3) for r in range(3)]
    assert all(len(s) == len(full) for s in shards)
    for (_, yg), *parts in zip(full, *shards):
        got = torch.cat([y for _, y in parts])
        assert sorted(got.tolist()) == sorted(yg.tolist()) and len(parts[0][1]) == 4
    with pytest.raises(ValueError):
        BatchPipeline(X, Y, 12, rank=3, world_size=3)


def test_prepare_eval_uses_the_runs_transform():
    x = prepare_eval(X[:4], (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 224, "cpu")
    assert x.shape == (4, 3, 224, 224)
    small = prepare_eval(torch.from_numpy(X[:4]), (0.5,) * 3, (0.25,) * 3, None)
    np.testing.assert_allclose(small[0, 1, 3, 5].item(), (X[0, 3, 5, 1] / 255 - 0.5) / 0.25, atol=1e-5)


def _reference_crop(x: torch.Tensor, padding: int, g: torch.Generator) -> torch.Tensor:
    """The obvious crop: reflect-pad, then slice each image at its own (dy, dx), same draws."""
    n, _, h, w = x.shape
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=g)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=g)
    xp = torch.nn.functional.pad(x.float(), (padding,) * 4, mode="reflect").to(x.dtype)
    return torch.stack([xp[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])


@pytest.mark.parametrize("shape,padding", [((64, 3, 32, 32), 4), ((9, 3, 7, 11), 2), ((5, 1, 6, 6), 5)])
def test_batched_crop_equals_the_per_image_reference(shape, padding):
    from kagglebench.data.pipeline import random_crop

    x = torch.randint(0, 256, shape, dtype=torch.uint8)
    got = random_crop(x, padding, torch.Generator().manual_seed(7))
    want = _reference_crop(x, padding, torch.Generator().manual_seed(7))
    assert got.dtype == torch.uint8 and torch.equal(got, want)
    xf = x.float()                                       # float batches (e.g. after an augment) too
    assert torch.equal(random_crop(xf, padding, torch.Generator().manual_seed(7)), want.float())


def test_crop_padding_must_fit_the_image():
    from kagglebench.data.pipeline import random_crop

    with pytest.raises(ValueError, match="padding"):
        random_crop(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), 4, torch.Generator())


def test_cpu_batches_leave_the_training_loops_threads_alone():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        pipe = BatchPipeline(X, Y, 16, crop_padding=4, hflip=True)
        seen = [torch.get_num_threads() for _ in pipe]   # what the loop body (training) gets
        assert seen == [2] * len(pipe) and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("dim", [2, 3])
def test_flip_equals_the_blend_reference(dim):
    from kagglebench.data.pipeline import random_flip

    x = torch.randint(0, 256, (33, 3, 8, 8), dtype=torch.uint8)
    got = random_flip(x, dim, torch.Generator().manual_seed(4))
    flip = (torch.rand(33, generator=torch.Generator().manual_seed(4)) < 0.5).view(-1, 1, 1, 1)
    assert torch.equal(got, torch.where(flip, x.flip(dim), x)) and not torch.equal(got, x)
