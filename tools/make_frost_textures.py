"""Rebuild the frost textures that kagglebench ships, from the original generator's photographs.

The CIFAR generator (make_cifar_c.py in hendrycks/robustness, ImageNet-C/create_c/) reads
frost1.png .. frost5.jpg and shrinks each with cv2.resize(img, (0, 0), fx=0.2, fy=0.2)
before cropping 32x32 patches. kagglebench ships exactly those shrunk images (lossless PNG,
RGB), so its crops are the original's crops. frost6.jpg is in the repository but the
original never picks it (randint(5) draws 0..4), so it is not shipped.

    python tools/make_frost_textures.py PATH/TO/robustness/ImageNet-C/create_c

The script also checks that the shrink equals taking every fifth pixel from the third one
(at fx=0.2 OpenCV's bilinear source positions land exactly on pixels 5*i+2).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np

NAMES = ["frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg"]
OUT = Path(__file__).resolve().parents[1] / "src/kagglebench/data/corruptions/frost"


def main(src: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(NAMES, 1):
        data = (src / name).read_bytes()
        bgr = cv2.imread(str(src / name))
        small = cv2.resize(bgr, (0, 0), fx=0.2, fy=0.2)
        every_fifth = bgr[2::5, 2::5][:small.shape[0], :small.shape[1]]
        assert np.array_equal(small, every_fifth), name
        out = OUT / f"frost{i}.png"
        cv2.imwrite(str(out), small)   # PNG is lossless; imread gives these BGR bytes back
        assert np.array_equal(cv2.imread(str(out)), small)
        print(f"{name}: {bgr.shape[1]}x{bgr.shape[0]} sha256 {hashlib.sha256(data).hexdigest()[:16]} "
              f"-> {out.name} {small.shape[1]}x{small.shape[0]}, {out.stat().st_size} bytes")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
