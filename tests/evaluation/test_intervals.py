"""Wilson and bootstrap intervals, and the "beats beyond the intervals" rule, on data with known answers."""
import json

import numpy as np
import pytest
from scipy.stats import binomtest

from hidcap.evaluation import (
    Interval,
    accuracy_interval,
    beats,
    beats_control,
    bootstrap_mean,
    wilson_bounds,
    wilson_interval,
)


@pytest.mark.parametrize(("k", "low", "high"), [
    # closed forms with z = 1.959964, n = 24: k = 0 -> [0, z²/(n + z²)]; k = n -> [n/(n + z²), 1];
    # k = n/2 -> 1/2 ∓ z·sqrt(n/4 + z²/4)/(n + z²)
    (0, 0.0, 0.137976),
    (12, 0.314274, 0.685726),
    (24, 0.862024, 1.0),
])
def test_wilson_known_values(k, low, high):
    iv = wilson_interval(k, 24)
    assert iv.estimate == k / 24 and iv.n == 24 and iv.method == "wilson"
    assert iv.low == pytest.approx(low, abs=1e-6) and iv.high == pytest.approx(high, abs=1e-6)


def test_wilson_matches_scipy_for_every_k():
    k = np.arange(25)
    low, high = wilson_bounds(k, 24)
    for ki in k:
        ci = binomtest(int(ki), 24).proportion_ci(confidence_level=0.95, method="wilson")
        assert low[ki] == pytest.approx(ci.low, abs=1e-12) and high[ki] == pytest.approx(ci.high, abs=1e-12)
    ci = binomtest(7, 30).proportion_ci(confidence_level=0.99, method="wilson")
    assert wilson_interval(7, 30, level=0.99).low == pytest.approx(ci.low, abs=1e-12)


def test_wilson_bounds_broadcast_and_widen_with_level():
    low, high = wilson_bounds(np.array([[0], [5], [10]]), np.array([10, 20]))
    assert low.shape == high.shape == (3, 2)
    assert np.all(low <= np.array([[0], [5], [10]]) / np.array([10, 20]) + 1e-12)
    assert wilson_interval(12, 24, 0.99).width > wilson_interval(12, 24, 0.95).width


def test_wilson_exact_coverage_near_95_percent():
    """Coverage computed from the binomial law (no simulation): Wilson holds ~95 % at n = 24, p = 0.5."""
    from scipy.stats import binom
    k = np.arange(25)
    low, high = wilson_bounds(k, 24)
    coverage = binom.pmf(k, 24, 0.5)[(low <= 0.5) & (0.5 <= high)].sum()
    assert 0.93 < coverage < 0.98


@pytest.mark.parametrize(("k", "n", "match"), [
    (0, 0, "n must be >= 1"),
    (25, 24, "0 <= k <= n"),
    (-1, 24, "0 <= k <= n"),
    (np.nan, 24, "finite"),
    (2.5, 24, "whole numbers"),
    (np.zeros(3), np.ones(2), "broadcast"),
])
def test_wilson_bad_input(k, n, match):
    with pytest.raises(ValueError, match=match):
        wilson_bounds(k, n)


def test_wilson_bad_level_and_arrays_in_scalar_form():
    with pytest.raises(ValueError, match="level"):
        wilson_interval(3, 10, level=95)
    with pytest.raises(ValueError, match="one k and one n"):
        wilson_interval(np.array([1, 2]), 10)


def test_bootstrap_coverage_is_about_95_percent():
    """Over 200 simulated data sets of 60 Bernoulli(0.7) samples, the percentile interval covers 0.7 about
    95 % of the time (fixed seed; binomial SE of the coverage estimate is 0.015)."""
    rng = np.random.default_rng(0)
    hits = []
    for _ in range(200):
        iv = bootstrap_mean(rng.random(60) < 0.7, n_boot=500, rng=rng)
        hits.append(iv.low <= 0.7 <= iv.high)
    assert 0.90 <= np.mean(hits) <= 0.99


def test_bootstrap_over_seeds_is_conservative():
    """3 seeds × 24 samples, seed means spread around 0.6: the two-level interval covers 0.6 at least 95 %."""
    rng = np.random.default_rng(1)
    hits = []
    for _ in range(100):
        p = 0.6 + 0.05 * rng.standard_normal(3)
        iv = bootstrap_mean(rng.random((3, 24)) < p[:, None], n_boot=500, rng=rng)
        assert iv.method == "bootstrap:seeds+samples" and iv.n == 72
        hits.append(iv.low <= 0.6 <= iv.high)
    assert np.mean(hits) >= 0.95


def test_bootstrap_estimate_reproducibility_and_generator():
    x = np.array([[1, 1, 0, 1], [0, 0, 0, 1]], dtype=bool)
    iv = bootstrap_mean(x, n_boot=300, rng=7)
    assert iv.estimate == pytest.approx((0.75 + 0.25) / 2)
    assert iv == bootstrap_mean(x, n_boot=300, rng=7)
    assert iv == bootstrap_mean(x, n_boot=300, rng=np.random.default_rng(7))
    assert bootstrap_mean(x, n_boot=300, rng=7, resample_seeds=False).method == "bootstrap:samples"
    real = bootstrap_mean(np.linspace(0, 1, 50), n_boot=300)  # any real values, not only 0/1
    assert real.low < 0.5 < real.high


@pytest.mark.parametrize(("values", "match"), [
    (np.array([]), "no samples"),
    (np.zeros((2, 0)), "no samples"),
    (np.array([0.0, np.nan]), "NaN"),
    (np.array([0.0, np.inf]), "inf"),
    (np.zeros((2, 2, 2)), r"\(n,\) or \(n_seeds, n\)"),
    ([[1, 0], [1]], "rectangular"),
])
def test_bootstrap_bad_input(values, match):
    with pytest.raises(ValueError, match=match):
        bootstrap_mean(values)


def test_bootstrap_bad_n_boot():
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_mean([0, 1], n_boot=0)


def test_accuracy_interval_wilson_for_one_seed_bootstrap_for_several():
    c = np.arange(24) < 18
    assert accuracy_interval(c) == wilson_interval(18, 24)
    assert accuracy_interval(c[None]) == wilson_interval(18, 24)
    assert accuracy_interval(np.stack([c, ~c]), n_boot=200).method == "bootstrap:seeds+samples"
    with pytest.raises(ValueError, match="0/1"):
        accuracy_interval([0.5, 1.0])


def test_interval_to_json_and_back():
    iv = wilson_interval(np.int64(5), np.int64(24))
    d = json.loads(json.dumps(iv.to_dict()))
    assert d == {"estimate": 5 / 24, "low": iv.low, "high": iv.high, "n": 24, "method": "wilson", "level": 0.95}
    assert Interval.from_dict(d) == iv
    with pytest.raises(ValueError, match="above high"):
        Interval(0.5, 0.7, 0.3, 10, "wilson")
    with pytest.raises(ValueError, match="finite"):
        Interval(np.nan, 0.3, 0.7, 10, "wilson")


def test_beats_needs_disjoint_intervals():
    hi, lo = wilson_interval(23, 24), wilson_interval(3, 24)
    assert beats(hi, lo) and not beats(lo, hi)
    close = wilson_interval(20, 24)
    assert not beats(hi, close) and not beats(close, hi)  # overlapping: not decided either way
    with pytest.raises(ValueError, match="Interval"):
        beats(0.9, lo)


def test_beats_by_a_required_lead():
    a, b = Interval(0.7, 0.65, 0.75, 24, "wilson"), Interval(0.3, 0.25, 0.33, 24, "wilson")
    assert beats(a, b, by=0.3) and not beats(a, b, by=0.33)  # lead beyond the intervals: 0.65 − 0.33 = 0.32
    with pytest.raises(ValueError, match="by must be"):
        beats(a, b, by=-0.1)


def test_control_equal_to_protocol_fails_the_claim():
    rng = np.random.default_rng(2)
    real = rng.random(24) < 0.9
    assert not beats_control(accuracy_interval(real), accuracy_interval(real))
    # an independent control of the same true accuracy fails too (same data-generating process)
    assert not beats_control(accuracy_interval(real), accuracy_interval(rng.random(24) < 0.9))
    # a control that stays low lets the claim pass
    assert beats_control(accuracy_interval(real), accuracy_interval(rng.random(24) < 0.1))
