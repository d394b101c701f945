"""Per-seed values, their spread, and the rule that a margin smaller than the spread is not decided."""
import json

import numpy as np
import pytest

from hidcap.evaluation import margin_decided, seed_margin, seed_spread


def test_spread_values():
    s = seed_spread([0.2, 0.4, 0.6], seeds=[0, 1, 2])
    assert (s.mean, s.min, s.max, s.n) == (pytest.approx(0.4), 0.2, 0.6, 3)
    assert s.std == pytest.approx(0.2)  # sample std, ddof = 1
    assert json.loads(json.dumps(s.to_dict()))["seeds"] == [0, 1, 2]


def test_margin_larger_than_spread_is_decided():
    m = seed_margin([0.62, 0.60, 0.64], threshold=0.30)
    assert m.decided and m.side == "above" and m.margin == pytest.approx(0.32)
    assert seed_margin([0.10, 0.12, 0.08], threshold=0.5).side == "below"


def test_margin_smaller_than_spread_is_not_decided():
    """A +0.02 margin over a required value, with seeds spread by 0.07: not decided by that margin."""
    m = seed_margin([0.25, 0.32, 0.39], threshold=0.30)
    assert m.margin == pytest.approx(0.02) and m.spread.std == pytest.approx(0.07)
    assert not m.decided and m.side == "not decided"
    assert json.loads(json.dumps(m.to_dict()))["side"] == "not decided"


def test_paired_difference_and_boundary():
    cap, beh = np.array([0.9, 0.8, 0.85]), np.array([0.5, 0.55, 0.4])
    assert seed_margin(cap - beh).side == "above"
    s = seed_spread([0.0, 2.0])
    assert not margin_decided(s.std, s)  # equal to the spread: not larger, so not decided
    assert margin_decided(-1.01 * s.std, s)


def test_one_seed_has_no_spread_and_decides_nothing():
    m = seed_margin([0.99], threshold=0.0, seeds=[7])
    assert m.spread.std is None and not m.decided
    assert json.loads(json.dumps(m.to_dict()))["spread"]["std"] is None


@pytest.mark.parametrize(("values", "seeds", "match"), [
    ([], None, "non-empty 1-D"),
    ([[0.1, 0.2]], None, "non-empty 1-D"),
    ([0.1, np.nan], None, "finite"),
    ([0.1, 0.2], [0], "2 values"),
    ([0.1, 0.2], [0, 0], "distinct"),
])
def test_bad_input(values, seeds, match):
    with pytest.raises(ValueError, match=match):
        seed_margin(values, seeds=seeds)


def test_bad_margin_and_threshold():
    with pytest.raises(ValueError, match="threshold"):
        seed_margin([0.1, 0.2], threshold=np.nan)
    with pytest.raises(ValueError, match="margin"):
        margin_decided(np.inf, seed_spread([0.1, 0.2]))
    with pytest.raises(ValueError, match="SeedSpread"):
        margin_decided(0.1, 0.05)
