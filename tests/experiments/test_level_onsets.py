"""hidcap.experiments.level_onsets: onsets, their comparison and end readings of sweep runs, on synthetic tables
whose answer is known."""
import numpy as np
import pytest

from hidcap.evaluation.concept_scores import ConceptSpace
from hidcap.experiments.level_onsets import (
    compare_onsets,
    concept_correct,
    end_reading,
    joint_correct,
    onset_gaps,
    pooled_onset,
    run_onset,
)

STEPS = list(range(0, 1100, 100))  # 11 checkpoints


def table(onset_step: int | None, n: int = 48, colour_end: float = 1.0, seed: int = 0) -> ConceptSpace:
    """Class 11 right (both concepts) from ``onset_step`` on (None: never), else the colour wrong; the size
    always right. From the last three checkpoints a share ``colour_end`` of samples has the colour right."""
    rng = np.random.default_rng(seed)
    correct = {}
    for i, s in enumerate(STEPS):
        c = np.ones((n, 2), dtype=bool)
        if onset_step is None or s < onset_step:
            c[:, 0] = rng.random(n) < 0.1
        if i >= len(STEPS) - 3:
            c[:, 0] = np.arange(n) < round(colour_end * n)
        correct[(s, "11")] = c
    acc = [{"step": s, "class": "11", "joint": float(correct[(s, "11")].all(1).mean()), "additive": 0.0,
            "n_samples": n} for s in STEPS]
    return ConceptSpace(("color", "size"), [], acc, correct)


def test_joint_and_concept_correct_shapes_and_bad_names():
    t = table(500)
    steps, c = joint_correct(t, "11")
    assert steps.tolist() == STEPS and c.shape == (11, 48) and c[-1].all()
    _, cc = concept_correct(t, "11", "size")
    assert cc.all()
    with pytest.raises(KeyError, match="class '10'"):
        joint_correct(t, "10")
    with pytest.raises(KeyError, match="concept 'shape'"):
        concept_correct(t, "11", "shape")


def test_run_onset_finds_the_step_and_never():
    o = run_onset(table(500), "11", 0.8)
    assert o.estimate is not None and 500 <= o.estimate <= 700 and o.high is not None
    assert run_onset(table(None, colour_end=0.0), "11", 0.8).estimate is None


def test_compare_onsets_decides_far_apart_and_not_identical():
    early = [table(300, seed=s) for s in range(3)]
    late = [table(800, seed=s + 10) for s in range(3)]
    res = compare_onsets(early, late, "11", 0.8, seeds=[0, 1, 2])
    assert res["pooled"]["order"] == "earlier" and res["counts"]["earlier"] == 3
    assert compare_onsets(late, early, "11", 0.8)["pooled"]["order"] == "later"
    same = compare_onsets(early, [table(300, seed=s) for s in range(3)], "11", 0.8)
    assert same["pooled"]["order"] == "not decided" and same["counts"]["not decided"] == 3
    # a level that never learns is later than one that does
    never = [table(None, colour_end=0.0, seed=s) for s in range(3)]
    assert compare_onsets(early, never, "11", 0.8)["pooled"]["order"] == "earlier"
    with pytest.raises(ValueError, match="one table per seed"):
        compare_onsets(early, late[:2], "11", 0.8)


def test_pooled_onset_refuses_runs_on_other_checkpoints():
    a = table(300)
    b = ConceptSpace(a.concepts, [], [dict(r, step=r["step"] + 1) for r in a.accuracy],
                     {(s + 1, c): v for (s, c), v in a.correct.items()})
    with pytest.raises(ValueError, match="share their checkpoint steps"):
        pooled_onset([a, b], "11", 0.8)
    with pytest.raises(ValueError, match="at least one run"):
        pooled_onset([], "11", 0.8)


def test_end_reading_intervals_separate_blue_from_red():
    blue = end_reading([table(300, colour_end=0.9, seed=s) for s in range(3)], "11", "color")
    red = end_reading([table(300, colour_end=0.3, seed=s) for s in range(3)], "11", "color")
    assert blue.estimate == pytest.approx(0.9, abs=0.02) and red.estimate == pytest.approx(0.3, abs=0.02)
    assert red.high < blue.low and blue.method.startswith("bootstrap")
    one = end_reading([table(300, colour_end=0.5)], "11", "color")
    assert one.method == "wilson" and one.low < 0.5 < one.high
    with pytest.raises(ValueError, match="last must be"):
        end_reading([table(300)], "11", "color", last=0)


def test_onset_gaps_per_seed_and_their_spread():
    early = [table(300, seed=s) for s in range(3)]
    late = [table(800, seed=s + 10) for s in range(2)] + [table(None, colour_end=0.0, seed=12)]
    gaps, spread = onset_gaps(compare_onsets(early, late, "11", 0.8, seeds=[0, 1, 2]))
    assert set(gaps) == {"0", "1"} and all(g > 0 for g in gaps.values())  # seed 2 never learns: no gap
    assert spread["spread"]["n"] == 2 and spread["margin"] == pytest.approx(sum(gaps.values()) / 2)
    none = [table(None, colour_end=0.0, seed=s) for s in range(3)]
    assert onset_gaps(compare_onsets(none, none, "11", 0.8)) == ({}, None)
