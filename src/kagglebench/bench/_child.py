"""Child process of `kagglebench bench` (d): predict an OOD folder one way, report speed and peak RSS.

    python -m kagglebench.bench._child {starter|kagglebench} OOD_DIR WEIGHTS.pt BATCH PREDS.npy

Prints one JSON line {"images", "seconds", "images_per_s", "peak_rss_bytes"} and saves the
predicted classes to PREDS.npy. Run in its own process so that the peak RSS is this way's alone.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np
import torch


def kagglebench_predict(ood_dir: str, model: torch.nn.Module, batch: int) -> np.ndarray:
    """What `kagglebench predict` does for the DS-542 test set, with kagglebench's own functions:
    the folder as a TestSource (one distortion file at a time, each chunk read from the file,
    never through a memory map), the content digest the logits cache checks, the forward pass
    into one preallocated float16 logits array (evaluate.cache.forward_logits), then the argmax
    a chunk at a time."""
    from kagglebench.bench.measure import MEAN, STD
    from kagglebench.data.testsets import ood_test_source
    from kagglebench.evaluate.cache import chunks_digest, forward_logits
    from kagglebench.evaluate.predict import argmax_rows

    src = ood_test_source(ood_dir)
    _, n = chunks_digest(src.iter_chunks())
    logits, _ = forward_logits(model, (imgs for _, imgs in src.iter_chunks()), n, (MEAN, STD, None), "cpu",
                               batch_size=batch)
    return argmax_rows(logits["plain"])


def peak_rss_bytes() -> int:
    """This process's peak resident set size. VmHWM belongs to the process's own memory map;
    getrusage's ru_maxrss is not used first because Linux carries it over from the forked
    parent across exec, so every child would report at least the (large) parent's size."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def main(argv: list[str]) -> None:
    way, ood_dir, weights, batch, preds_path = argv
    from kagglebench.bench import baselines
    from kagglebench.bench.measure import MEAN, STD, predict_model

    model = predict_model()
    model.load_state_dict(torch.load(weights, map_location="cpu"))
    model.eval()
    t0 = time.perf_counter()
    if way == "starter":
        preds = baselines.starter_predict(ood_dir, model, MEAN, STD, batch_size=int(batch))
    else:
        preds = kagglebench_predict(ood_dir, model, int(batch))
    seconds = time.perf_counter() - t0
    np.save(preds_path, preds)
    peak = peak_rss_bytes()
    print(json.dumps({"images": len(preds), "seconds": seconds, "images_per_s": len(preds) / seconds,
                      "peak_rss_bytes": peak}))


if __name__ == "__main__":
    main(sys.argv[1:])
