"""hidcap.evaluation.curves: crossings, onsets, rise width, rise-then-fall, memorisation and turns."""
from functools import partial

import numpy as np
import pytest

from hidcap.evaluation.curves import (
    find_turn,
    first_crossing,
    memorization,
    nearest_corner,
    onset_index,
    rise_then_fall,
    rise_width,
    stay_crossing,
)
from hidcap.evaluation.curves import learning_time, smooth

CORNERS = {"01": np.array([0.0, 1.0]), "10": np.array([1.0, 0.0])}
memo = partial(memorization, corners=("01", "10"), target="11")


def test_first_crossing():
    assert first_crossing([0, 10, 20], [0.1, 0.8, 0.9], 0.8) == 10
    assert first_crossing([0, 10], [0.1, 0.2], 0.8) is None


def test_rise_width():
    xs = np.linspace(0, 1, 101)
    assert rise_width(xs, (xs > 0.5).astype(float), 0.1, 0.9) == pytest.approx(0.0, abs=0.011)
    assert rise_width(xs, xs.copy(), 0.1, 0.9) == pytest.approx(0.8, abs=0.011)
    assert rise_width(xs, np.zeros_like(xs), 0.1, 0.9) is None


def test_memorization_needs_explicit_corners():
    with pytest.raises(TypeError):
        memorization([0, 1], [[0.1, 0.1], [0.9, 0.9]], None)


def test_find_turn_departure_from_memorisation():
    steps = [0, 10, 20, 30, 40, 50, 60]
    pts = [[0.5, 0.5], [0.2, 0.8], [0.1, 0.9], [0.1, 0.9], [0.5, 0.95], [0.9, 0.95], [0.95, 0.97]]
    turn = find_turn(steps, pts, CORNERS, radius=0.3)
    assert turn.corner == "01" and turn.visits == 3 and turn.index == 4 and turn.step == 40
    # the dwell at index 2-3 is skipped: the move in is (-.1, .1), the move out (.4, .05): ~128 degrees
    assert turn.sharpest_index == 2 and turn.sharpest_step == 20 and 125 < turn.sharpest_angle < 131


def test_find_turn_leaves_for_good_and_other_corner():
    # visits 10, leaves, comes back once, leaves for good at index 5
    pts = [[0.5, 0.5], [0.9, 0.1], [0.95, 0.2], [0.6, 0.4], [0.8, 0.25], [0.9, 0.6], [1.0, 1.0]]
    turn = find_turn(range(7), pts, CORNERS, radius=0.3)
    assert turn.corner == "10" and turn.visits == 3 and turn.index == 5


def test_find_turn_without_memorisation_or_departure():
    straight = [[0.5, 0.5], [0.6, 0.6], [0.8, 0.8], [0.95, 0.95]]
    turn = find_turn(range(4), straight, CORNERS, radius=0.3)
    assert turn.corner is None and turn.index is None and turn.step is None and turn.sharpest_angle == pytest.approx(0, abs=1e-5)
    stuck = [[0.5, 0.5], [0.2, 0.8], [0.1, 0.9], [0.1, 0.95]]
    turn = find_turn(range(4), stuck, CORNERS, radius=0.3)
    assert turn.corner == "01" and turn.index is None
    with pytest.raises(ValueError, match="points must be"):
        find_turn(range(3), stuck, CORNERS, radius=0.3)
    with pytest.raises(ValueError, match="radius"):
        find_turn(range(4), stuck, CORNERS, radius=0.6)


def test_onset_index():
    assert onset_index([0, 5, 9], [0.1, 0.85, 0.2], 0.8) == 1
    assert onset_index([0, 5, 9], [0.1, 0.5, 0.2], 0.8) is None


def test_stay_crossing():
    xs = [0.1, 0.2, 0.3, 0.4, 0.5]
    assert stay_crossing(xs, [0.0, 0.2, 0.4, 0.8, 1.0], 0.5) == pytest.approx(0.325)
    # an early spike above the level does not count: the last upward crossing does
    assert stay_crossing(xs, [0.9, 0.1, 0.2, 0.6, 1.0], 0.5) == pytest.approx(0.375)
    assert stay_crossing(xs, [0.6, 0.7, 0.8, 0.9, 1.0], 0.5) == 0.1  # above everywhere: the grid start
    assert stay_crossing(xs, [0.0, 0.6, 0.7, 0.8, 0.4], 0.5) is None  # ends below
    with pytest.raises(ValueError, match="increasing"):
        stay_crossing([0.2, 0.1], [0, 1], 0.5)
    with pytest.raises(ValueError, match="equal"):
        stay_crossing([0.1, 0.2], [0.0], 0.5)


def test_nearest_corner():
    assert nearest_corner([0.9, 0.1]) == "10"
    assert nearest_corner([0.2, 0.7]) == "01"
    assert nearest_corner([0.5, 0.51]) == "01"
    with pytest.raises(ValueError):
        nearest_corner(np.zeros((2, 2)))


def test_memorization_through_a_training_corner():
    steps = [0, 10, 20, 30, 40]
    pts = [[0.4, 0.4], [0.8, 0.1], [0.9, 0.2], [0.9, 0.7], [0.95, 0.9]]
    m = memo(steps, pts, turn=30)
    assert m["memorized"] is True and m["corner"] == "10" and m["steps_near"] == [10, 20]
    assert m["intermediate_steps"] == [10, 20] and m["first_at_target"] == 30
    assert m["nearest"] == ["00", "10", "10", "11", "11"]


def test_memorization_straight_to_the_target_and_edge_cases():
    steps = [0, 10, 20, 30]
    straight = memo(steps, [[0.1, 0.1], [0.4, 0.4], [0.6, 0.6], [0.9, 0.9]], turn=30)
    assert straight["memorized"] is False and straight["corner"] is None
    # never learned: every checkpoint after the initialisation counts; the most frequent corner wins
    never = memo(steps, [[0.1, 0.1], [0.2, 0.9], [0.8, 0.2], [0.9, 0.1]], turn=None)
    assert never["memorized"] is True and never["corner"] == "10" and never["first_at_target"] is None
    # learned already at the first checkpoint after the start: nothing intermediate to judge
    early = memo(steps, [[0.1, 0.1], [0.9, 0.9], [0.9, 0.9], [0.9, 0.9]], turn=10)
    assert early["memorized"] is None
    with pytest.raises(ValueError, match="points"):
        memo(steps, [[0.1, 0.1]], turn=None)


def test_rise_then_fall():
    good = rise_then_fall([0, 10, 20, 40, 80], [50.0, 3.0, 9.0, 7.0, 6.0], 0.9)  # step 0 (init) is ignored
    assert good["passed"] is True and good["peak_step"] == 20 and good["interior_peak"]
    assert good["final_over_peak"] == pytest.approx(6 / 9)
    rising = rise_then_fall([0, 10, 20, 40], [50.0, 3.0, 5.0, 9.0], 0.9)
    assert rising["passed"] is False and not rising["interior_peak"]
    flat_end = rise_then_fall([10, 20, 40], [3.0, 9.0, 8.5], 0.9)  # 8.5 > 0.9 * 9
    assert flat_end["passed"] is False and flat_end["interior_peak"]
    assert rise_then_fall([0, 10, 20], [5.0, 3.0, 4.0], 0.9)["passed"] is None  # two trained checkpoints
    with pytest.raises(ValueError, match="equal length"):
        rise_then_fall([1, 2], [1.0], 0.9)
    with pytest.raises(ValueError, match="no trained checkpoint"):
        rise_then_fall([0], [1.0], 0.9)


# learning time (Park et al. 2024)

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
    assert learning_time(steps, acc, 0.8, smoothing="none", patience=None) == 7
    assert learning_time(steps, acc, 0.8, smoothing="none") == 3  # default patience 3
    assert learning_time(steps, acc, 0.8, smoothing="none", patience=1) == 1
    assert learning_time(steps, acc, 0.8, smoothing="none", patience=3) == 3
    assert learning_time(steps, acc, 0.8, smoothing="none", patience=4) == 7  # still there when the run ends


def test_default_is_the_papers_learning_time():
    """Default: trailing mean of 3, >= threshold 0.8 for 3 checkpoints. A late dip does not make a learned
    curve "never" (Okawa et al. 2023: a first-reach time), a lone spike does not count as learned, and
    reaching the threshold exactly counts ("reach 80 %", Park et al. 2024)."""
    steps = np.arange(10) * 100
    late_dip = [0, 0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.3]
    assert learning_time(steps, late_dip) == 400  # smoothed: 0.6, 0.9, ... reaches 0.8 at 400
    assert learning_time(steps, late_dip, patience=None) is None  # the "stay to the end" variant says never
    spike = [0, 0, 1, 1, 1, 0, 0, 0, 0, 0]
    assert learning_time(steps, spike, smoothing="none") == 200
    assert learning_time(steps, [0, 0, 1, 1, 0, 0, 0, 0, 0, 0], smoothing="none") is None  # 2 < patience
    assert learning_time(steps, [0.8] * 10) == 0  # exactly at the threshold, despite the mean's rounding
    # fewer than `patience` checkpoints left: it counts when the accuracy stays there to the end
    assert learning_time(steps, [0, 0, 0, 0, 0, 0, 0, 0, 1, 1], smoothing="none") == 800
    assert learning_time(steps, [0, 0, 0, 0, 0, 0, 0, 1, 1, 0], smoothing="none") is None
    with pytest.raises(ValueError, match="threshold"):
        learning_time(steps, late_dip, float("nan"))


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
