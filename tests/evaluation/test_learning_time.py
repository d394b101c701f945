import numpy as np
import pytest

from hidcap.evaluation.learning_time import learning_time, smooth


def test_step_function_crossing():
    steps = np.arange(0, 1000, 100)
    acc = np.where(steps >= 400, 1.0, 0.0)
    assert learning_time(steps, acc, 0.8, smoothing="none") == 400
    # a 3-point trailing mean reaches 2/3 at 500 and 1 at 600
    assert learning_time(steps, acc, 0.8, smoothing="moving_average", window=3) == 600
    assert learning_time(steps, acc, 0.5, smoothing="moving_average", window=3) == 500


def test_never_reached_is_none():
    steps = [0, 10, 20, 30]
    assert learning_time(steps, [0.1, 0.5, 0.7, 0.79], 0.8, smoothing="none") is None
    assert learning_time([], [], 0.8) is None


def test_must_stay_above():
    steps = np.arange(8)
    acc = [0, 0.9, 0.1, 0.9, 0.9, 0.9, 0.3, 0.95]
    # patience=None: stays above until the end -> only the last point
    assert learning_time(steps, acc, 0.8, smoothing="none") == 7
    assert learning_time(steps, acc, 0.8, smoothing="none", patience=1) == 1
    assert learning_time(steps, acc, 0.8, smoothing="none", patience=3) == 3
    assert learning_time(steps, acc, 0.8, smoothing="none", patience=4) is None


def test_sigmoid_curve_later_for_later_midpoint():
    steps = np.linspace(0, 10_000, 41).astype(int)
    times = []
    for mid in (2000, 5000, 8000):
        acc = 1 / (1 + np.exp(-(steps - mid) / 300))
        times.append(learning_time(steps, acc, 0.8, smoothing="ema", alpha=0.7))
    assert times[0] < times[1] < times[2]
    assert all(t is not None and abs(t - m) < 1200 for t, m in zip(times, (2000, 5000, 8000)))


def test_smooth_methods():
    v = np.array([0.0, 3.0, 6.0, 9.0])
    np.testing.assert_allclose(smooth(v, "moving_average", window=2), [0.0, 1.5, 4.5, 7.5])
    np.testing.assert_allclose(smooth(v, "ema", alpha=0.5), [0.0, 1.5, 3.75, 6.375])
    np.testing.assert_allclose(smooth(v, "none"), v)


@pytest.mark.parametrize(
    "steps, acc, kw, msg",
    [
        ([0, 20, 10], [0, 0, 0], {}, "strictly increasing"),
        ([0, 10], [0, 0, 0], {}, "equal length"),
        ([0, 10], [0, float("nan")], {}, "finite"),
        ([0, 10], [0, 1], {"patience": 0}, "patience"),
        ([0, 10], [0, 1], {"smoothing": "median"}, "method"),
    ],
)
def test_bad_input(steps, acc, kw, msg):
    with pytest.raises(ValueError, match=msg):
        learning_time(steps, acc, 0.8, **kw)
