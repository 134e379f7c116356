"""TEST-ONLY transcription of TensorBoard's scalar smoothing, to test kagglebench's against.

Source: tensorflow/tensorboard, tensorboard/webapp/widgets/line_chart_v2/data_transformer.ts,
`classicSmoothing` (commit 412c86e54f5611fff1237f175f13dd490a9246a4), transcribed line by line
from TypeScript to Python. Apache License 2.0, Copyright 2020 The TensorFlow Authors.
"""

from __future__ import annotations

import math


def classic_smoothing(points: list[tuple[float, float]], smoothing_weight: float) -> list[tuple[float, float]]:
    if not math.isfinite(smoothing_weight):
        smoothing_weight = 0
    smoothing_weight = max(0, min(smoothing_weight, 1))
    initial = points[0][1] if points else None
    if all(y == initial for _, y in points):  # "See #786": a constant series is returned as is
        return list(points)
    last = 0.0 if points else math.nan
    num_accum = 0
    out = []
    for x, next_val in points:
        if not math.isfinite(next_val):
            out.append((x, next_val))
        else:
            last = last * smoothing_weight + (1 - smoothing_weight) * next_val
            num_accum += 1
            debias_weight = 1 if smoothing_weight == 1 else 1 - smoothing_weight ** num_accum
            out.append((x, last / debias_weight))
    return out
