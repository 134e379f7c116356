"""Error bars and the paired test (evaluate/intervals.py) on synthetic predictors whose true
accuracy is known: the intervals cover it at about the nominal rate, and the paired test finds a
planted 3-point difference but not a difference between equals. Seeded: the same every run."""

from __future__ import annotations

import numpy as np
import pytest

from kagglebench.evaluate import intervals

BLOCKS = 95          # 19 corruptions x 5 severities share each base image
SEV_FACTOR = np.repeat(np.linspace(1.0, 0.6, 5)[None, :], 19, axis=0).ravel()   # harder with severity


def draw_ood(rng: np.random.Generator, n: int, shift: float = 0.0, ease: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """(correct rows in the OOD layout (BLOCKS x n), per-image ease): a predictor whose chance of
    being right on image j under block k is ease_j * factor_k + shift. Images differ a lot in
    ease (Beta(2, 1.5)), so the 95 rows of one image are strongly correlated, as for a real model."""
    if ease is None:
        ease = rng.beta(2.0, 1.5, size=n)
    p = np.clip(ease[None, :] * SEV_FACTOR[:, None] + shift, 0, 1)
    return (rng.random((BLOCKS, n)) < p).ravel(), ease


TRUE_OOD = 2.0 / 3.5 * SEV_FACTOR.mean()     # E[ease] x mean factor: the population accuracy


def test_ood_interval_covers_the_true_accuracy_at_about_95_percent():
    rng = np.random.default_rng(1)
    hits, naive_hits, draws = 0, 0, 300
    for _ in range(draws):
        correct, _ = draw_ood(rng, 200)
        lo, hi = intervals.accuracy_ci(correct, blocks=BLOCKS)
        hits += lo <= TRUE_OOD <= hi
        # what treating the 19,000 rows as independent would claim (a binomial interval)
        m, se = correct.mean(), np.sqrt(correct.mean() * (1 - correct.mean()) / correct.size)
        naive_hits += m - 1.96 * se <= TRUE_OOD <= m + 1.96 * se
    assert 0.91 <= hits / draws <= 0.985, hits / draws
    # the test can tell a wrong interval: ignoring that rows share images covers far too rarely
    assert naive_hits / draws < 0.5, naive_hits / draws


def test_clean_interval_covers_at_about_95_percent():
    rng = np.random.default_rng(2)
    draws, hits = 400, 0
    for _ in range(draws):
        lo, hi = intervals.accuracy_ci(rng.random(300) < 0.7)
        hits += lo <= 0.7 <= hi
    assert 0.92 <= hits / draws <= 0.98, hits / draws


def test_interval_is_seeded_and_handles_degenerate_input():
    c = np.random.default_rng(3).random(500) < 0.4
    assert intervals.accuracy_ci(c) == intervals.accuracy_ci(c)
    assert intervals.accuracy_ci(np.ones(50, bool)) == (1.0, 1.0)
    with pytest.raises(ValueError):
        intervals.per_image(np.ones(10), blocks=3)


def test_paired_test_finds_a_planted_three_point_difference():
    rng = np.random.default_rng(4)
    found = 0
    for _ in range(40):
        a, ease = draw_ood(rng, 200)
        b, _ = draw_ood(rng, 200, shift=0.03, ease=ease)      # the same images, 3 points easier for B
        r = intervals.paired(intervals.per_image(a, BLOCKS), intervals.per_image(b, BLOCKS))
        found += r["verdict"] == "B better"
        assert r["diff_ci"][0] <= r["diff"] <= r["diff_ci"][1]
    assert found / 40 >= 0.9, found


def test_paired_test_does_not_find_a_difference_between_equals():
    rng = np.random.default_rng(5)
    false_alarms, draws = 0, 200
    for _ in range(draws):
        a, ease = draw_ood(rng, 200)
        b, _ = draw_ood(rng, 200, ease=ease)                   # same predictor, fresh noise
        r = intervals.paired(intervals.per_image(a, BLOCKS), intervals.per_image(b, BLOCKS))
        false_alarms += r["verdict"] != "cannot tell"
    assert false_alarms / draws <= 0.09, false_alarms
    same = intervals.per_image(a, BLOCKS)
    r = intervals.paired(same, same)                           # two evaluations of one run
    assert r["verdict"] == "cannot tell" and r["identical"] and r["diff"] == 0 and r["p_value"] == 1.0


def test_images_needed_gives_about_80_percent_power():
    rng = np.random.default_rng(6)
    a, ease = draw_ood(rng, 200)
    b, _ = draw_ood(rng, 200, shift=0.006, ease=ease)
    small = intervals.paired(intervals.per_image(a, BLOCKS), intervals.per_image(b, BLOCKS))
    need = small["images_needed"]
    assert need is not None and need > 200
    # at the size it names, a difference of that size (and spread) is found about 80% of the time
    d = intervals.per_image(b, BLOCKS) - intervals.per_image(a, BLOCKS)
    found, draws = 0, 200
    for _ in range(draws):
        sample = rng.choice(d - d.mean(), size=need) + small["diff"]
        lo, _ = intervals.bootstrap_ci(sample, resamples=1000)
        found += lo > 0
    assert 0.7 <= found / draws <= 0.9, (need, found / draws)
