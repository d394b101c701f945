"""Onset intervals by bootstrap over samples, and the "earlier beyond the intervals" rule."""
import json

import numpy as np
import pytest

from hidcap.evaluation import OnsetInterval, earlier, learning_time, onset_interval

STEPS = np.arange(12) * 100


def step_curve(at: int, n: int = 24) -> np.ndarray:
    """(T, n) correctness: every sample wrong before checkpoint ``at``, right from it on."""
    c = np.zeros((STEPS.size, n), dtype=bool)
    c[at:] = True
    return c


def first_crossing(steps, values, threshold=0.8):
    hits = np.flatnonzero(np.asarray(values) >= threshold)
    return int(steps[hits[0]]) if hits.size else None


def test_sharp_step_gives_a_point_interval():
    iv = onset_interval(STEPS, step_curve(4), threshold=0.8, smoothing="none", n_boot=300)
    assert iv.estimate == iv.low == iv.high == 400
    assert iv.never == 0.0 and not iv.open_ended and iv.n == 24 and iv.n_boot == 300


def test_estimate_is_learning_time_of_the_mean_curve():
    rng = np.random.default_rng(0)
    p = np.clip(np.linspace(0.2, 1.1, STEPS.size), 0, 1)
    c = rng.random((STEPS.size, 24)) < p[:, None]
    kw = {"threshold": 0.7, "patience": 2, "smoothing": "ema", "alpha": 0.6}
    iv = onset_interval(STEPS, c, n_boot=200, **kw)
    assert iv.estimate == learning_time(STEPS, c.mean(axis=1), **kw)
    assert iv.low <= iv.estimate <= iv.high


def test_flat_noisy_curve_is_open_ended_or_wide():
    """True accuracy 0.8 at every checkpoint, threshold 0.8: whether and when a resample's onset comes is
    chance. Learning time (stays above to the end) is often "never": the interval is open-ended. A first
    crossing comes early by luck, anywhere over several checkpoints: the interval is wide."""
    for seed in range(3):
        c = np.random.default_rng(seed).random((STEPS.size, 24)) < 0.8
        lt = onset_interval(STEPS, c, threshold=0.8, n_boot=400, rng=3)
        assert lt.open_ended and lt.high is None and lt.never > 0.025
        fc = onset_interval(STEPS, c, first_crossing, n_boot=400, rng=3)
        assert fc.high - fc.low >= 300
        sharp = onset_interval(STEPS, step_curve(6), threshold=0.8, n_boot=400)
        assert not earlier(lt, sharp)  # an interval that may end in "never" is earlier than nothing


def test_never_is_a_value():
    iv = onset_interval(STEPS, np.zeros((STEPS.size, 24), bool), n_boot=100)
    assert (iv.estimate, iv.low, iv.high, iv.never) == (None, None, None, 1.0)
    assert earlier(onset_interval(STEPS, step_curve(3), n_boot=100), iv)  # an onset beats "never"
    assert not earlier(iv, iv)


def test_earlier_rule():
    def onset(low, high):
        return OnsetInterval(low, low, high, 0.0, 24, 100, "bootstrap:samples")
    assert earlier(onset(100, 300), onset(400, 500))
    assert not earlier(onset(100, 400), onset(400, 500))  # touching ends: not beyond the interval
    assert not earlier(onset(400, 500), onset(100, 300))
    a = onset_interval(STEPS, step_curve(2), n_boot=200)
    b = onset_interval(STEPS, step_curve(7), n_boot=200)
    assert earlier(a, b) and not earlier(b, a)
    with pytest.raises(ValueError, match="OnsetInterval"):
        earlier(a, 300)


def test_several_seeds_pool_the_curve():
    c = np.stack([step_curve(3), step_curve(5), step_curve(4)])  # (S, T, n)
    iv = onset_interval(STEPS, c, first_crossing, n_boot=300, rng=0)
    assert iv.method == "bootstrap:seeds+samples" and iv.n == 72
    assert iv.estimate == 500  # mean curve: 1/3 at 300, 2/3 at 400, 1 at 500
    assert iv.low <= 500 <= iv.high and iv.low >= 300
    fixed = onset_interval(STEPS, c, first_crossing, n_boot=300, resample_seeds=False)
    assert fixed.method == "bootstrap:samples" and fixed.low == fixed.high == 500


def test_reproducible_and_json():
    rng = np.random.default_rng(2)
    c = rng.random((STEPS.size, 24)) < np.linspace(0.3, 1, STEPS.size)[:, None]
    a = onset_interval(STEPS, c, n_boot=200, rng=5)
    assert a == onset_interval(STEPS, c, n_boot=200, rng=np.random.default_rng(5))
    d = json.loads(json.dumps(a.to_dict()))
    assert OnsetInterval.from_dict(d) == a
    never = onset_interval(STEPS, np.zeros((STEPS.size, 4)), n_boot=10).to_dict()
    assert json.loads(json.dumps(never))["high"] is None


@pytest.mark.parametrize(("steps", "correct", "match"), [
    (STEPS, np.zeros(24), r"\(T, n\) or \(n_seeds, T, n\)"),
    (STEPS[:5], np.zeros((12, 24)), "12 checkpoints but steps has 5"),
    (STEPS, np.zeros((12, 0)), "no samples"),
    (STEPS, np.full((12, 24), np.nan), "NaN"),
    (STEPS, np.full((12, 24), 0.5), "0/1"),
    (np.zeros((2, 2)), np.zeros((2, 24)), "1-D"),
    (STEPS[::-1], np.zeros((12, 24)), "strictly increasing"),  # learning_time's own check
])
def test_bad_input(steps, correct, match):
    with pytest.raises(ValueError, match=match):
        onset_interval(steps, correct, n_boot=10)


def test_onset_function_and_learning_time_keywords_do_not_mix():
    with pytest.raises(ValueError, match="learning-time keywords"):
        onset_interval(STEPS, step_curve(3), first_crossing, threshold=0.5)
    with pytest.raises(ValueError, match="level"):
        onset_interval(STEPS, step_curve(3), level=1.5)
