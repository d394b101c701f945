"""hidcap.experiments.level_sweeps: the extreme levels' runs saved as JSON and read back (what a sweep's verdict
reads with --decide)."""
import json

import numpy as np
from hidcap.evaluation.concept_scores import ConceptSpace
from hidcap.experiments.level_onsets import compare_onsets
from hidcap.experiments.level_sweeps import Run, extreme_tables, load_runs, saved_runs


def _table(seed):
    rng = np.random.default_rng(seed)
    steps = [0, 10, 20, 30]
    correct = {(s, "11"): rng.random((8, 2)) < 0.2 + 0.25 * i for i, s in enumerate(steps)}
    acc = [{"step": s, "class": "11", "joint": float(correct[(s, "11")].all(1).mean()), "additive": 0.0,
            "n_samples": 8} for s in steps]
    points = [{"step": s, "class": "11", "concept": c, "value": 0.5} for s in steps for c in ("color", "size")]
    return ConceptSpace(("color", "size"), points, acc, correct)


def test_saved_runs_round_trip_through_json():
    runs = [Run(lv, seed, None, _table(10 * seed + i), 30) for i, lv in enumerate((0.2, 0.5, 0.8)) for seed in (0, 1)]
    saved = json.loads(json.dumps(saved_runs(runs, [0.2, 0.5, 0.8])))
    assert sorted({r["level"] for r in saved}) == [0.2, 0.8]  # the middle level is not needed
    back = load_runs(saved)
    assert [(r.level, r.seed, r.total_steps) for r in back] == [(0.2, 0, 30), (0.2, 1, 30), (0.8, 0, 30), (0.8, 1, 30)]
    for r in back:
        orig = next(o for o in runs if (o.level, o.seed) == (r.level, r.seed))
        assert r.table.accuracy == orig.table.accuracy and r.table.points == orig.table.points
        assert all(np.array_equal(r.table.correct[k], orig.table.correct[k]) for k in orig.table.correct)
    # the comparison a verdict reads is the same on the saved tables
    _, _, seeds, lo, hi = extreme_tables([0.2, 0.8], runs)
    _, _, seeds2, lo2, hi2 = extreme_tables([0.2, 0.8], back)
    assert compare_onsets(hi, lo, "11", 0.5, seeds=seeds) == compare_onsets(hi2, lo2, "11", 0.5, seeds=seeds2)

