"""The CIFAR-C corruption suite: deterministic, shape-keeping, CIFAR-scale, ordered by severity."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage

from kagglebench.data.corruptions import CORRUPTIONS, corrupt, corrupt_torch

RANDOM = {"gaussian_noise", "shot_noise", "impulse_noise", "glass_blur", "motion_blur", "snow",
          "frost", "fog", "elastic_transform", "speckle_noise", "spatter"}

# Where the original generator's parameters are not ordered by strength, only the pairs
# its parameters do order are checked (see the comments at each corruption).
PARTIAL_ORDER = {
    "saturate": [(1, 2), (3, 4), (4, 5)],        # 1-2 desaturate, 3-5 oversaturate
    "spatter": [(1, 2), (2, 3), (4, 5)],         # 1-3 water drops, 4-5 mud
    "glass_blur": [(2, 4), (3, 5)],              # a second shuffling pass at the same blur
    "motion_blur": [(1, 2), (2, 3), (4, 5)],     # 3 and 4 differ only in taps of weight ~e-21
    "frost": [(1, 2), (2, 3), (4, 5)],           # 3 and 4 share the ice weight 0.4; 4 only dims more
    "elastic_transform": [],                     # checked by test_elastic_bends_more_with_severity
}


def scenes(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Smooth colour fields with hard-edged blocks: enough structure to blur, shuffle and warp."""
    g = torch.Generator().manual_seed(seed)
    low = F.interpolate(torch.rand(n, 3, 4, 4, generator=g), size=(size, size), mode="bicubic",
                        align_corners=True)
    mid = F.interpolate(torch.rand(n, 3, 8, 8, generator=g), size=(size, size), mode="bilinear",
                        align_corners=True)
    x = 0.6 * low + 0.4 * mid
    for i in range(n):
        for _ in range(2):
            a, b = torch.randint(0, size // 2, (2,), generator=g).tolist()
            x[i, :, a:a + size // 3, b:b + size // 3] = torch.rand(3, 1, 1, generator=g)
    return (x.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()


def ssim_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 - mean SSIM (7x7 windows, per channel) between two uint8 batches."""
    a, b = a.astype(np.float64) / 255, b.astype(np.float64) / 255
    def f(z):
        return ndimage.uniform_filter(z, size=(1, 7, 7, 1))

    ma, mb = f(a), f(b)
    va, vb, cov = f(a * a) - ma ** 2, f(b * b) - mb ** 2, f(a * b) - ma * mb
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2))
    return float(1 - s.mean())


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Tiny batches: torch's thread pool only adds waiting on a shared 2-core machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return scenes(8, 32)


def test_the_nineteen_names_in_cifar_c_order():
    assert len(CORRUPTIONS) == 19 == len(set(CORRUPTIONS))
    assert CORRUPTIONS[:3] == ["gaussian_noise", "shot_noise", "impulse_noise"]
    assert CORRUPTIONS[14:] == ["jpeg_compression", "speckle_noise", "gaussian_blur", "spatter", "saturate"]


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_deterministic_shape_kept_and_seeded(name, clean):
    for severity in range(1, 6):
        a = corrupt(clean, name, severity, seed=7)
        assert a.shape == clean.shape and a.dtype == np.uint8
        assert np.array_equal(a, corrupt(clean, name, severity, seed=7)), severity
        assert not np.array_equal(a, clean)
        other = corrupt(clean, name, severity, seed=8)
        assert np.array_equal(a, other) == (name not in RANDOM), severity


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_farther_from_clean_as_severity_grows(name, clean):
    d = [ssim_distance(clean, corrupt(clean, name, s, seed=1)) for s in range(1, 6)]
    assert min(d) > 0.0005, d
    pairs = PARTIAL_ORDER.get(name, [(1, 2), (2, 3), (3, 4), (4, 5)])
    for lo, hi in pairs:
        assert d[hi - 1] > d[lo - 1], f"{name}: severity {hi} not farther than {lo}: {d}"
    if name not in PARTIAL_ORDER:
        assert d[4] > 1.5 * d[0], d


def test_elastic_bends_more_with_severity():
    # A linear ramp stays linear under the affine part; only the elastic part bends it.
    ramp = np.linspace(40, 215, 32)
    img = np.broadcast_to((ramp[None, :, None] + ramp[:, None, None]) / 2, (8, 32, 32, 3))
    img = np.ascontiguousarray(img.round().astype(np.uint8))

    def bend(out: np.ndarray) -> float:
        core = out[:, 6:-6, 6:-6, 0].astype(np.float64)
        yy, xx = np.mgrid[:core.shape[1], :core.shape[2]]
        basis = np.stack([yy.ravel(), xx.ravel(), np.ones(yy.size)], 1)
        res = [np.abs(c.ravel() - basis @ np.linalg.lstsq(basis, c.ravel(), rcond=None)[0]).mean()
               for c in core]
        return float(np.mean(res))

    b = [bend(corrupt(img, "elastic_transform", s, seed=3)) for s in range(1, 6)]
    assert b[0] < b[2] < b[3] < b[4], b


def test_cifar_scale_noise_levels():
    grey = np.full((16, 32, 32, 3), 128, np.uint8)
    for severity, sigma in [(1, 0.04), (5, 0.10)]:   # CIFAR-10-C values, not ImageNet-C's .08-.38
        noise = (corrupt(grey, "gaussian_noise", severity, 0).astype(np.float64) - 128) / 255
        assert abs(noise.std() - sigma) < 0.004
    flipped = corrupt(grey, "impulse_noise", 5, 0)
    assert abs(np.isin(flipped, (0, 255)).mean() - 0.07) < 0.01


def test_images_in_a_batch_get_their_own_noise():
    same = np.repeat(scenes(1, 32), 6, axis=0)
    for name in ("gaussian_noise", "snow", "frost", "elastic_transform"):
        out = corrupt(same, name, 4, seed=0)
        assert len({o.tobytes() for o in out}) == 6, name


def test_pixelate_and_jpeg_match_pillow(clean):
    out = corrupt(clean, "pixelate", 5, 0)
    for img, got in zip(clean, out):
        small = Image.fromarray(img).resize((20, 20), Image.BOX).resize((32, 32), Image.BOX)
        assert np.array_equal(np.asarray(small), got)
    out = corrupt(clean, "jpeg_compression", 2, 0)
    buf = io.BytesIO()
    Image.fromarray(clean[0]).save(buf, format="JPEG", quality=65)
    assert np.array_equal(np.asarray(Image.open(buf)), out[0])


def test_other_sizes_scale_the_pixel_parameters():
    big = scenes(2, 96)
    small = np.stack([np.asarray(Image.fromarray(i).resize((32, 32), Image.BOX)) for i in big])
    for name in CORRUPTIONS:
        out = corrupt(big, name, 2, seed=0)
        assert out.shape == big.shape and out.dtype == np.uint8, name
    # A blur 3x wider on a 3x larger image: about the same damage after shrinking back.
    blurred = corrupt(big, "gaussian_blur", 5, 0)
    shrunk = np.stack([np.asarray(Image.fromarray(i).resize((32, 32), Image.BOX)) for i in blurred])
    direct = corrupt(small, "gaussian_blur", 5, 0)
    assert abs(ssim_distance(small, shrunk) - ssim_distance(small, direct)) < 0.05


def test_torch_path_and_memmap_input(clean, tmp_path):
    t = corrupt_torch(torch.from_numpy(clean), "fog", 2, seed=5)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.uint8
    assert np.array_equal(t.numpy(), corrupt(clean, "fog", 2, seed=5))
    path = tmp_path / "imgs.npy"
    np.save(path, clean)
    mm = np.load(path, mmap_mode="r")
    assert np.array_equal(corrupt(mm, "motion_blur", 1, 0), corrupt(clean, "motion_blur", 1, 0))


@pytest.mark.parametrize("name,severity,message", [
    ("gaussian", 1, "unknown corruption 'gaussian'; choose one of: gaussian_noise"),
    ("fog", 0, "severity must be an integer from 1"),
    ("fog", 6, "severity must be an integer from 1"),
    ("fog", 2.5, "severity must be an integer from 1"),
])
def test_bad_name_or_severity(name, severity, message, clean):
    with pytest.raises(ValueError, match=message):
        corrupt(clean, name, severity, 0)


def test_bad_images():
    with pytest.raises(ValueError, match="uint8"):
        corrupt(np.zeros((2, 32, 32, 3), np.float32), "fog", 1, 0)
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        corrupt(np.zeros((2, 3, 32, 32), np.uint8), "fog", 1, 0)


def test_blurs_match_the_scipy_calls_of_the_original(clean):
    x = clean[:2].astype(np.float64) / 255
    ref = ndimage.gaussian_filter(x, sigma=(0, 1.0, 1.0, 0), mode="nearest", truncate=4.0)
    got = corrupt(clean[:2], "gaussian_blur", 5, 0).astype(int)
    assert np.abs(np.round(ref * 255) - got).max() <= 1

    def clipped_zoom(img: np.ndarray, z: float) -> np.ndarray:
        ch = int(np.ceil(32 / z))
        top = (32 - ch) // 2
        out = ndimage.zoom(img[top:top + ch, top:top + ch], (z, z, 1), order=1)
        trim = (out.shape[0] - 32) // 2
        return out[trim:trim + 32, trim:trim + 32]

    factors = np.arange(1, 1.16, 0.01)
    ref = np.stack([(i + sum(clipped_zoom(i, z) for z in factors)) / (len(factors) + 1) for i in x])
    got = corrupt(clean[:2], "zoom_blur", 3, 0).astype(int)
    assert np.abs(np.round(ref * 255) - got).max() <= 1


def test_large_image_zoom_path_matches_the_small_image_one(clean, monkeypatch):
    # Images above 48x48 take the zoom-by-zoom path; forcing it at 32x32 must agree with
    # the single-matrix path that test_blurs_match_the_scipy_calls_of_the_original checks.
    from kagglebench.data.corruptions import noise_blur

    fast = corrupt(clean[:3], "zoom_blur", 5, 0).astype(int)
    monkeypatch.setattr(noise_blur, "_KRON_PIXELS", 0)
    assert np.abs(corrupt(clean[:3], "zoom_blur", 5, 0) - fast).max() <= 1


def test_frost_crops_the_original_photographs():
    # On black images frost leaves floor(0.2 * crop): each must be a 32x32 window of one of
    # the five shipped photographs (the original's, shrunk as it shrinks them).
    from kagglebench.data.corruptions.weather import _frost_photographs

    photos = [p.permute(1, 2, 0).numpy().astype(np.float64) for p in _frost_photographs()]
    assert [p.shape[:2] for p in photos] == [(120, 180), (63, 112), (63, 112), (70, 105), (99, 132)]
    out = corrupt(np.zeros((6, 32, 32, 3), np.uint8), "frost", 1, seed=3).astype(np.float64)
    for img in out:
        hits = []
        for p in photos:
            ice = np.floor(0.2 * p + 2e-4)
            corner = (ice[:-32, :-32] == img[0, 0]).all(-1)     # windows whose top-left pixel fits
            hits += [(t, left) for t, left in np.argwhere(corner)
                     if np.array_equal(ice[t:t + 32, left:left + 32], img)]
        assert hits, "a frost crop that is no window of the photographs"


def test_small_cpu_calls_keep_the_callers_thread_count(clean):
    # Small batches run on one thread (faster on a busy machine); the caller's setting returns.
    torch.set_num_threads(2)
    try:
        corrupt(clean, "frost", 2, 0)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
