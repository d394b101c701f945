"""hidcap.evaluation.paired: seed-level tests, checked against scipy and by their error rates on simulated
seeds (seeded generators, so these are deterministic)."""
import json

import numpy as np
import pytest
from scipy import stats

from hidcap.evaluation.paired import SeedTest, accuracy_values, onset_test, paired_test, seed_test, trend_test


def test_t_matches_scipy_without_sample_variance():
    v = [0.3, 0.1, 0.25, -0.05, 0.2]
    r = seed_test(v)
    ref = stats.ttest_1samp(v, 0.0, alternative="greater")
    assert r.p_value == pytest.approx(ref.pvalue) and r.method == "t" and r.n == 5
    lo = stats.ttest_1samp(v, 0.0).confidence_interval(0.90).low
    assert r.low == pytest.approx(lo) and r.estimate == pytest.approx(np.mean(v))
    assert r.passed is bool(ref.pvalue <= 0.05) and r.level == pytest.approx(0.90)
    # "less" swaps the two one-sided p-values
    r_less = seed_test(v, alternative="less")
    assert r_less.p_value == pytest.approx(r.p_reverse) and r_less.p_reverse == pytest.approx(r.p_value)


def test_threshold_shifts_the_test_not_the_values():
    v = [0.9, 0.85, 0.95, 0.88, 0.92]
    r = seed_test(v, 0.8)
    assert r.estimate == pytest.approx(np.mean(v) - 0.8) and r.values == tuple(v)
    assert r.passed is True and r.low > 0.8 and r.threshold == 0.8
    assert seed_test(v, 0.95).passed is False


def test_sample_variance_floors_the_standard_error():
    # five seeds that agree by luck: alone they look certain; their sampling noise says otherwise
    v = [0.05, 0.05, 0.06, 0.05, 0.05]
    bare = seed_test(v)
    noisy = seed_test(v, sample_var=[0.02] * 5)
    assert bare.passed is True
    assert noisy.se == pytest.approx(np.sqrt(0.02 / 5)) and noisy.passed is None
    # a floor below the across-seed variance changes nothing
    wide = [0.3, -0.2, 0.5, 0.1, -0.1]
    assert seed_test(wide, sample_var=[1e-6] * 5).se == pytest.approx(seed_test(wide).se)


def test_identical_values_without_variance_are_decided_by_sign():
    assert seed_test([0.2] * 5).passed is True
    assert seed_test([-0.2] * 5).passed is False
    assert seed_test([0.0] * 5).passed is None


def test_sign_flip_is_exact_and_matches_scipy():
    d = np.array([0.4, 0.1, -0.05, 0.3, 0.2])
    r = seed_test(d, method="sign-flip")
    ref = stats.permutation_test((d,), np.mean, permutation_type="samples", alternative="greater",
                                 n_resamples=np.inf)
    assert r.p_value == pytest.approx(ref.pvalue)
    assert r.p_value == pytest.approx(2 / 32)  # one small negative value: two patterns reach the mean
    assert seed_test(np.abs(d), method="sign-flip").p_value == pytest.approx(1 / 32)
    # three seeds can never pass at 0.05
    assert seed_test([1.0, 2.0, 3.0], method="sign-flip").passed is None


def test_sign_test_drops_zeros():
    r = seed_test([0.1, 0.2, 0.0, 0.3, 0.4, 0.5], method="sign")
    assert r.p_value == pytest.approx(stats.binomtest(5, 5, 0.5, alternative="greater").pvalue)


def test_paired_test_and_mappings():
    a = {0: 0.9, 1: 0.8, 2: 0.95, 3: 0.85, 4: 0.9}
    b = {4: 0.3, 3: 0.2, 2: 0.5, 1: 0.4, 0: 0.1}  # other order: matched by seed
    r = paired_test(a, b)
    assert r.seeds == (0, 1, 2, 3, 4)
    assert r.values == pytest.approx((0.8, 0.4, 0.45, 0.65, 0.6))
    assert r.passed is True and paired_test(b, a).passed is False
    seq = paired_test(list(a.values()), [b[s] for s in a], seeds=list(a))
    assert seq.p_value == pytest.approx(r.p_value)
    va, vb = [0.01] * 5, [0.02] * 5
    with_var = paired_test(a, b, sample_var_a=dict(zip(a, va)), sample_var_b=dict(zip(a, vb)))
    assert with_var.sample_var == pytest.approx((0.03,) * 5)


def test_accuracy_values_never_have_zero_variance():
    c = np.zeros((2, 24), dtype=bool)
    c[0] = True
    acc, var = accuracy_values(c)
    assert acc.tolist() == [1.0, 0.0]
    p = 26 / 28
    assert var[0] == pytest.approx(p * (1 - p) / 28) and var[0] == pytest.approx(var[1]) and var[0] > 0
    with pytest.raises(ValueError, match="0/1"):
        accuracy_values([[0.5, 1.0]])


def test_onset_test_censors_never_at_the_horizon():
    a = [6000, 5500, 6500, 6000, 7000]
    b = [8000, None, 9000, 7500, None]
    r = onset_test(a, b, horizon=20000)
    assert r.values == (-2000.0, -14500.0, -2500.0, -1500.0, -13000.0)
    assert r.censored == 2 and r.method == "sign-flip" and r.alternative == "less"
    assert r.passed is True and r.p_value == pytest.approx(1 / 32)
    # both never: difference 0, no evidence
    both = onset_test([None] * 5, [None] * 5, horizon=100)
    assert both.values == (0.0,) * 5 and both.passed is None and both.censored == 5
    # mappings matched by seed
    m = onset_test(dict(zip(range(5), a)), dict(zip(reversed(range(5)), reversed(b))), horizon=20000)
    assert m.values == r.values


def test_trend_test_ranks_per_seed():
    levels = [0.2, 0.4, 0.6, 0.8]
    falling = {s: [9000 - 1000 * i + 100 * s for i in range(4)] for s in range(5)}
    r = trend_test(levels, falling, horizon=20000)
    assert r.values == (-1.0,) * 5 and r.passed is True and r.p_value == pytest.approx(1 / 32)
    assert trend_test(levels, falling, horizon=20000, alternative="greater").passed is False
    # "never" ranks last (censored at the horizon); a seed with every time equal gives 0
    never = [[5000, 7000, None, None]] * 4 + [[None] * 4]
    r = trend_test(levels, never, horizon=20000, seeds=[100, 101, 102, 103, 104])
    assert r.values[4] == 0.0 and r.censored == 5 and r.values[0] == pytest.approx(stats.spearmanr(levels, [5000, 7000, 20000, 20000]).statistic)
    with pytest.raises(ValueError, match="at least 3 levels"):
        trend_test([0.1, 0.2], [[1, 2], [1, 2]], horizon=10)
    with pytest.raises(ValueError, match="distinct"):
        trend_test([0.1, 0.1, 0.2], [[1, 2, 3], [1, 2, 3]], horizon=10)
    with pytest.raises(ValueError, match="seed 1 has 2"):
        trend_test([0.1, 0.2, 0.3], [[1, 2, 3], [1, 2]], horizon=10)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        trend_test([0.1, 0.2, 0.3], [[1, 2, 3]], horizon=10)


def test_to_dict_is_json_and_states_the_rule():
    d = seed_test([0.1, 0.2, 0.3], seeds=[100, 101, 102]).to_dict()
    json.dumps(d)
    assert d["seeds"] == [100, 101, 102] and d["n"] == 3 and d["passed"] in (True, None, False)
    assert "p <= 0.05" in d["rule"] and d["level"] == pytest.approx(0.9)
    assert set(d) >= {"estimate", "low", "high", "p_value", "values", "method", "level", "decided"}
    assert isinstance(seed_test([1.0, 2.0]), SeedTest)


@pytest.mark.parametrize(
    "call, msg",
    [
        (lambda: seed_test([0.1]), "at least 2 seeds"),
        (lambda: seed_test([0.1, float("nan")]), "NaN"),
        (lambda: seed_test([0.1, float("inf")]), "inf"),
        (lambda: seed_test([[0.1, 0.2]]), "1-D"),
        (lambda: seed_test([0.1, 0.2], seeds=[0, 0]), "distinct"),
        (lambda: seed_test([0.1, 0.2], seeds=[0]), "2 values"),
        (lambda: seed_test([0.1, 0.2], method="wilcoxon"), "method"),
        (lambda: seed_test([0.1, 0.2], alternative="two-sided"), "alternative"),
        (lambda: seed_test([0.1, 0.2], alpha=0.7), "alpha"),
        (lambda: seed_test([0.1, 0.2], sample_var=[0.1, -0.1]), ">= 0"),
        (lambda: seed_test([0.1, 0.2], sample_var=[0.1]), "one variance per seed"),
        (lambda: paired_test({0: 1.0, 1: 2.0}, {0: 1.0, 2: 2.0}), r"same seeds \(only in a: \['1'\], only in b: \['2'\]\)"),
        (lambda: paired_test([1.0, 2.0, 3.0], [1.0, 2.0]), "one value per seed"),
        (lambda: paired_test([1.0, 2.0], {0: 1.0, 1: 2.0}), "both"),
        (lambda: paired_test([1.0, 2.0], [1.0, 2.0], sample_var_a=[0.1, 0.1]), "both or neither"),
        (lambda: onset_test([100, 200], [300, 400], horizon=350), "horizon"),
        (lambda: onset_test([100, float("nan")], [300, 400], horizon=500), "steps or None"),
        (lambda: onset_test([100], [300], horizon=500), "at least 2 seeds"),
        (lambda: onset_test([100, 200], [300, 400], horizon=500, method="t"), "sign-flip"),
    ],
)
def test_bad_input(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()


# error rates on simulated seeds: these fail if the rule or the variance folding is wrong

def _accuracy_seeds(rng, p_cap, p_beh, seeds, n):
    """Per-seed capability − behaviour of accuracies on n fresh samples each, with their sampling variance."""
    k_cap, k_beh = rng.binomial(n, p_cap), rng.binomial(n, p_beh)
    acc_c, var_c = accuracy_values(np.arange(n)[None, :] < k_cap[:, None])
    acc_b, var_b = accuracy_values(np.arange(n)[None, :] < k_beh[:, None])
    return acc_c - acc_b, var_c + var_b


@pytest.mark.parametrize("method", ["t", "sign-flip"])
def test_false_positive_rate_at_no_effect(method):
    """400 null data sets of 5 seeds: per-seed true accuracy varies across seeds (sd 0.1 around 0.7, or
    sitting at 0.97 where 24 of 24 is common), capability = behaviour in each seed. The claim may pass in
    at most 5 % of them (+ 2.2 binomial SE of slack for 400 draws)."""
    rng = np.random.default_rng(0)
    for centre in (0.7, 0.97):
        passed = 0
        for _ in range(400):
            p = np.clip(centre + 0.1 * rng.standard_normal(5), 0.02, 0.995)
            d, var = _accuracy_seeds(rng, p, p, 5, 24)
            passed += seed_test(d, sample_var=var, method=method).passed is True
        assert passed / 400 <= 0.05 + 2.2 * np.sqrt(0.05 * 0.95 / 400), (centre, passed)


def test_the_floor_is_what_keeps_binary_data_below_alpha():
    """With accuracies on 24 samples at p = 0.9 (no seed spread), the bare t test passes a null claim more
    than 5 % of the time (discrete values, 5 seeds); with the sampling-variance floor it stays below."""
    rng = np.random.default_rng(1)
    bare = floored = 0
    for _ in range(1000):
        p = np.full(5, 0.9)
        d, var = _accuracy_seeds(rng, p, p, 5, 24)
        bare += seed_test(d).passed is True
        floored += seed_test(d, sample_var=var).passed is True
    assert floored / 1000 <= 0.02 and bare / 1000 > 0.05


def test_power_at_a_large_gap_and_none_with_three_seeds_sign_flip():
    rng = np.random.default_rng(2)
    t5 = flip3 = 0
    for _ in range(200):
        p_beh = np.clip(0.4 + 0.1 * rng.standard_normal(5), 0, 1)
        d, var = _accuracy_seeds(rng, np.full(5, 0.95), p_beh, 5, 96)
        t5 += seed_test(d, sample_var=var).passed is True
        flip3 += seed_test(d[:3], method="sign-flip").passed is True
    assert t5 / 200 > 0.95 and flip3 == 0


def test_onset_false_positive_rate_with_never_runs():
    """Null learning times: both levels draw from the same law (onset 6000 ± 1000 on a 500-step grid, 40 %
    never); the censored sign-flip test passes in at most 5 % of 400 data sets."""
    rng = np.random.default_rng(3)
    passed = 0
    for _ in range(400):
        t = np.round((6000 + 1000 * rng.standard_normal((2, 5))) / 500) * 500
        never = rng.random((2, 5)) < 0.4
        ta = [None if nv else int(x) for x, nv in zip(t[0], never[0])]
        tb = [None if nv else int(x) for x, nv in zip(t[1], never[1])]
        passed += onset_test(ta, tb, horizon=20000).passed is True
    assert passed / 400 <= 0.05 + 2.2 * np.sqrt(0.05 * 0.95 / 400)


def test_trend_false_positive_rate_with_never_runs():
    """No trend: each seed's 4 levels draw learning times from one law (25 % never, grid of 500 steps);
    the sign-flip test of per-seed Spearman correlations passes in at most 5 % of 400 data sets."""
    rng = np.random.default_rng(4)
    passed = 0
    for _ in range(400):
        t = np.round((6000 + 1000 * rng.standard_normal((5, 4))) / 500) * 500
        never = rng.random((5, 4)) < 0.25
        times = [[None if nv else int(x) for x, nv in zip(tr, nr)] for tr, nr in zip(t, never)]
        passed += trend_test([0.1, 0.2, 0.3, 0.4], times, horizon=20000).passed is True
    assert passed / 400 <= 0.05 + 2.2 * np.sqrt(0.05 * 0.95 / 400)
