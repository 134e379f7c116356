"""The library calls inside the original corruptions, reproduced bit for bit: against OpenCV,
ImageMagick (through Wand, as the original calls it) and the original's own statements."""

from __future__ import annotations

from io import BytesIO

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from skimage.filters import gaussian

from kagglebench.data.corruptions import opencv_ops as ops
from kagglebench.data.corruptions._base import Rand
from kagglebench.data.corruptions.filters import imagemagick_8bit, motion_blur
from kagglebench.data.corruptions.noise_blur import _glass_sources
from kagglebench.data.corruptions.weather import _water_shading
from tests.reference import make_cifar_c as ref


def liquid_layers(n: int = 60) -> np.ndarray:
    """The original spatter's uint8 liquid layers (severities 1-3), n of them."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        loc, scale, sigma, thresh = [(0.62, 0.1, 0.7, 0.7), (0.65, 0.1, 0.8, 0.7), (0.65, 0.3, 1, 0.69)][i % 3]
        layer = gaussian(rng.normal(loc, scale, (32, 32)), sigma=sigma)
        layer[layer < thresh] = 0
        out.append((layer * 255).astype(np.uint8))
    return np.stack(out)


def as_t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))[:, None].float()


def test_canny_is_opencvs():
    liquid = liquid_layers()
    want = np.stack([cv2.Canny(img, 50, 150) > 0 for img in liquid])
    assert want.mean() > 0.05
    assert np.array_equal(ops.canny(as_t(liquid))[:, 0].numpy(), want)


def test_distance_blur_equalize_filter_are_opencvs():
    liquid = liquid_layers()
    edges = np.stack([cv2.Canny(img, 50, 150) for img in liquid])
    want = np.stack([cv2.threshold(cv2.distanceTransform(255 - e, cv2.DIST_L2, 5), 20, 20,
                                   cv2.THRESH_TRUNC)[1] for e in edges])
    got = ops.chamfer_distance(torch.from_numpy(edges > 0)[:, None], 20.0)[:, 0].numpy()
    assert np.abs(got - want).max() < 1e-5      # float32 sums along equally short paths
    assert (got == want).mean() > 0.999

    blurred = np.stack([cv2.blur(d, (3, 3)).astype(np.uint8) for d in want])
    assert (torch.floor(ops.blur3_float(as_t(want)))[:, 0].numpy() == blurred).mean() > 0.999
    equalized = np.stack([cv2.equalizeHist(d) for d in blurred])
    assert np.array_equal(ops.equalize_hist(as_t(blurred))[:, 0].numpy(), equalized)
    kernel = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
    emb = np.stack([cv2.filter2D(d, cv2.CV_8U, kernel) for d in equalized])
    assert np.array_equal(ops.filter2d_u8(as_t(equalized), torch.tensor(kernel))[:, 0].numpy(), emb)
    assert np.array_equal(ops.blur3_u8(as_t(emb))[:, 0].numpy(), np.stack([cv2.blur(d, (3, 3)) for d in emb]))


def test_water_shading_is_the_originals():
    liquid = liquid_layers()
    kernel = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
    want = []
    for layer in liquid:      # the original's lines, verbatim
        dist = 255 - cv2.Canny(layer, 50, 150)
        dist = cv2.distanceTransform(dist, cv2.DIST_L2, 5)
        _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
        dist = cv2.blur(dist, (3, 3)).astype(np.uint8)
        dist = cv2.equalizeHist(dist)
        dist = cv2.filter2D(dist, cv2.CV_8U, kernel)
        want.append(cv2.blur(dist, (3, 3)).astype(np.float32))
    got = _water_shading(as_t(liquid))[:, 0].numpy()
    assert (got == np.stack(want)).mean() > 0.999


def test_equalize_hist_of_a_flat_image_keeps_it():
    flat = np.full((2, 8, 8), 37, np.uint8)
    assert np.array_equal(ops.equalize_hist(as_t(flat))[:, 0].numpy(), np.stack([cv2.equalizeHist(f) for f in flat]))


@pytest.mark.skipif(not ref.wand_available(), reason="ImageMagick's library is missing (make test installs it)")
@pytest.mark.parametrize("radius,sigma", [(6, 1), (9, 2.5), (14, 12)])
def test_motion_blur_is_imagemagicks(radius, sigma):
    rng = np.random.default_rng(radius)
    images = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    images[:6] = np.repeat(images[:6, :, :, :1], 3, axis=3)       # grey ones go through grey PNGs
    angles = rng.uniform(-135, 45, len(images))
    want = []
    for img, angle in zip(images, angles):     # the original's calls
        out = BytesIO()
        Image.fromarray(img).save(out, format="PNG")
        blurred = ref.MotionImage(blob=out.getvalue())
        blurred.motion_blur(radius=radius, sigma=sigma, angle=float(angle))
        y = cv2.imdecode(np.frombuffer(blurred.make_blob(), np.uint8), cv2.IMREAD_UNCHANGED)
        want.append(y[..., ::-1] if y.ndim == 3 else np.stack([y] * 3, axis=-1))
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    got = imagemagick_8bit(motion_blur(x, radius, sigma, torch.tensor(angles)))
    got = torch.round(got.double() * 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert (got == np.stack(want)).mean() > 0.9999


def test_glass_blur_shuffle_is_the_originals_view_swap():
    # The same offsets through the original's statement on a numpy array of pixel ids.
    h = w = 32
    for iters in (1, 2):
        src = _glass_sources(h, w, 3, 1, iters, Rand(7, "glass_blur", torch.device("cpu"), 32))
        rand = Rand(7, "glass_blur", torch.device("cpu"), 32)
        draws = [rand.randint(-1, 1, ((h - 2) * (w - 2), 2, 3)).numpy() for _ in range(iters)]
        for i in range(3):
            ids = np.arange(h * w)[:, None].repeat(2, 1).reshape(h, w, 2)   # x[h, w] is a view
            for d in draws:
                s = 0
                for hh in range(32 - 1, 1, -1):
                    for ww in range(32 - 1, 1, -1):
                        dx, dy = d[s, 0, i], d[s, 1, i]
                        h_prime, w_prime = hh + dy, ww + dx
                        ids[hh, ww], ids[h_prime, w_prime] = ids[h_prime, w_prime], ids[hh, ww]
                        s += 1
            assert np.array_equal(ids[..., 0].reshape(-1), src[i])
        # A copy, not a swap: ids are duplicated and every pixel moved at most one step per pass.
        assert len(np.unique(src[0])) < h * w
        rows, cols = np.divmod(src[0], w)
        assert (np.abs(rows - np.arange(h * w) // w) <= iters).all()
