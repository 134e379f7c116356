"""Evaluation: metrics, test-time augmentation, cached logits, the local OOD estimate,
predictions in the competition's format, and report plots.

Modules: metrics (numpy only), intervals (bootstrap error bars, the paired test), tta, cache
(logits per checkpoint/split/view), ood, runner (`kagglebench eval`), compare (`kagglebench
compare`), predict (`kagglebench predict`), report (`kagglebench report`).
Importing this package imports neither torch nor matplotlib.
"""
