"""Selection control: the best of several noisy scores is biased upward; its fresh-set score is not."""
import json

import numpy as np
import pytest

from hidcap.evaluation import select_then_fresh


def test_max_of_8_is_biased_and_fresh_score_is_not():
    """8 variants, all with true accuracy 0.5, 24 samples each (SE 0.102), 1000 simulated repetitions.
    The naive maximum lands about 1.4 SE above 0.5 (the expected maximum of 8 standard normals); the
    chosen variant's fresh-set score averages 0.5 (SE of that average 0.0042), and its 95 % interval
    covers 0.5 about 95 % of the time."""
    rng = np.random.default_rng(0)
    se = np.sqrt(0.25 / 24)
    naive, fresh, covered = [], [], []
    for _ in range(600):
        sel = rng.random((8, 24)) < 0.5
        new = rng.random((8, 24)) < 0.5
        naive.append(sel.mean(axis=1).max())
        s = select_then_fresh({f"v{i}": sel[i] for i in range(8)}, {f"v{i}": new[i] for i in range(8)})
        assert s.selection.estimate == naive[-1]
        fresh.append(s.fresh.estimate)
        covered.append(s.fresh.low <= 0.5 <= s.fresh.high)
    assert np.mean(naive) - 0.5 > 1.0 * se  # biased: the claim "capability > 0.5" would look true
    assert abs(np.mean(fresh) - 0.5) < 0.015  # corrected
    assert 0.92 <= np.mean(covered) <= 0.99


def test_chooses_the_best_and_breaks_ties_by_order():
    sel = {"naive": [1, 1, 0, 0], "a": [1, 1, 0, 0], "b": [1, 0, 0, 0]}
    s = select_then_fresh(sel, {"naive": [1, 0, 1, 1, 1, 1]})
    assert s.variant == "naive" and s.scores == {"naive": 0.5, "a": 0.5, "b": 0.25}
    assert s.fresh.estimate == pytest.approx(5 / 6) and s.fresh.n == 6
    s = select_then_fresh({"b": [0, 0], "a": [1, 0]}, {"a": [0, 0, 0]})
    assert s.variant == "a" and s.fresh.estimate == 0.0  # the fresh score is what counts, low or not


def test_seeds_and_json():
    sel = {"a": np.ones((3, 8), bool), "b": np.zeros((3, 8), bool)}
    s = select_then_fresh(sel, {"a": np.eye(3, 8, dtype=bool)}, n_boot=200, rng=1)
    assert s.variant == "a" and s.fresh.method == "bootstrap:seeds+samples" and s.fresh.n == 24
    d = json.loads(json.dumps(s.to_dict()))
    assert d["variant"] == "a" and d["fresh"]["estimate"] == pytest.approx(1 / 8)


def test_bad_input():
    with pytest.raises(KeyError, match="chosen variant 'a'"):
        select_then_fresh({"a": [1, 1], "b": [0, 1]}, {"b": [1]})
    with pytest.raises(ValueError, match="no variants"):
        select_then_fresh({}, {})
    with pytest.raises(ValueError, match=r"selection\['b'\] contains NaN"):
        select_then_fresh({"a": [1, 1], "b": [np.nan, 1]}, {"a": [1]})
    with pytest.raises(ValueError, match="no samples"):
        select_then_fresh({"a": []}, {"a": [1]})
    with pytest.raises(ValueError, match="0/1"):
        select_then_fresh({"a": [1]}, {"a": [2]})
    with pytest.raises(ValueError, match="mappings"):
        select_then_fresh([[1, 0]], {"a": [1]})
