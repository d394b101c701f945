"""probes/concept_signal.py: a tiny end-to-end run, its tables and figures, bad input, and the pure helpers."""
import csv
import json
import math

import numpy as np
import pytest

from hidcap.evaluation import ranks
from hidcap.experiments import level_sweeps
from hidcap.experiments.probe_args import parse_sweep_args

from .conftest import assert_png, assert_smoke_and_decide, read_verdict


def png_ok(path):
    """A drawn figure of at least 300 x 250 px."""
    assert_png(path, min_bytes=0, min_height=250, min_width=300)


@pytest.fixture(scope="module")
def cs(probe_module):
    return probe_module("concept_signal")


@pytest.fixture(scope="module")
def tiny(cs, tmp_path_factory):
    out = tmp_path_factory.mktemp("concept_signal")
    record = cs.main(["--tiny", "--out", str(out), "--no-progress"])
    return out, record


# ------------------------------------------------------------------------------------------ end to end
def test_tiny_verdict_fields(cs, tiny):
    out, record = tiny
    assert read_verdict(out) == record
    assert record["probe"] == "concept_signal" and record["scale"] == "tiny" and record["seeds"] == [0]
    text = " ".join(record["criterion"])
    assert "beyond the intervals" in text and "not decided counts as fail" in text and "above 0.8)" in text
    assert record["outcome"] in ("pass", "fail")  # the criterion always decides
    assert "Fig. 3" in record["paper"]
    m = record["measured"]
    assert m["levels"] == list(cs.LEVELS["tiny"]) and m["threshold"] == 0.8
    assert m["n_runs"] == len(m["runs"]) == len(cs.LEVELS["tiny"])
    assert m["n_learned"] == sum(r["learning_time"] is not None for r in m["runs"])
    for r in m["runs"]:
        assert len(r["steps"]) == len(r["accuracy"]) == len(r["trajectory"]) >= 2
        assert all(0.0 <= a <= 1.0 for a in r["accuracy"])
        assert r["final_accuracy"] == r["accuracy"][-1] and r["final_point"] == r["trajectory"][-1]
        assert r["steps"][-1] == m["training_steps"]
        assert set(r["memorization"]) >= {"memorized", "corner", "nearest", "first_at_target"}
        assert set(r["concept_learning_time"]) == set(r["concept_accuracy"]) == {"color", "size"}
        assert all(len(v) == len(r["steps"]) for v in r["concept_accuracy"].values())
        # joint accuracy can never beat either concept alone
        assert all(j <= min(c, s) + 1e-9 for j, c, s in zip(r["accuracy"], r["concept_accuracy"]["color"],
                                                             r["concept_accuracy"]["size"]))
    assert m["color_concept"]["n_learned"] == sum(
        r["concept_learning_time"]["color"] is not None for r in m["runs"])


def test_tiny_verdict_follows_its_numbers(cs, tiny):
    _, record = tiny
    m = record["measured"]
    levels = [r["level"] for r in m["runs"]]
    times = [r["learning_time"] for r in m["runs"]]
    _, rho = ranks.rank_verdict(levels, times, sign=-1)
    assert m["spearman_rho"] == (None if rho is None else pytest.approx(rho))
    p = m["parts"]
    assert record["outcome"] == ("pass" if p["a_learned_at_high"] and p["b_pooled_faster"] and p["c_no_seed_against"]
                                 else "fail")
    assert p["low_level"] == min(levels) and p["high_level"] == max(levels)
    for r in m["runs"]:  # every run carries its onset interval and a Wilson interval of its final accuracy
        assert r["onset"]["estimate"] == r["learning_time"] and r["onset"]["n_boot"] == 2000
        iv = r["final_accuracy_interval"]
        assert iv["method"] == "wilson" and iv["low"] <= r["final_accuracy"] <= iv["high"]


def _table(onset, seed):
    """A synthetic class-11 table learned (both concepts right) from step ``onset`` on (None: never)."""
    from hidcap.evaluation.concept_scores import ConceptSpace

    steps, n, rng = list(range(0, 1100, 100)), 32, np.random.default_rng(seed)
    correct = {(s, "11"): np.ones((n, 2), bool) if onset is not None and s >= onset
               else rng.random((n, 2)) < 0.2 for s in steps}
    acc = [{"step": s, "class": "11", "joint": float(correct[(s, "11")].all(1).mean()), "additive": 0.0,
            "n_samples": n} for s in steps]
    return ConceptSpace(("color", "size"), [], acc, correct)


@pytest.mark.parametrize(
    "onsets, passed, part",
    [
        ({0.4: (800, 800, 900), 0.8: (200, 300, 200)}, True, None),             # faster with more signal
        ({0.4: (None, None, None), 0.8: (300, 300, 400)}, True, None),          # never at the low level: later
        ({0.4: (300, 300, 300), 0.8: (300, 300, 300)}, False, "b_pooled_faster"),  # equal: not decided -> fail
        ({0.4: (200, 200, 300), 0.8: (800, 800, 900)}, False, "b_pooled_faster"),  # slower with more signal
        ({0.4: (None, None, None), 0.8: (300, None, 300)}, False, "a_learned_at_high"),  # a seed never learns
        ({0.4: (900, 900, 200), 0.8: (200, 200, 800)}, False, "c_no_seed_against"),  # one seed contradicts
    ],
)
def test_decide_on_synthetic_runs(cs, onsets, passed, part):
    runs = [level_sweeps.Run(lv, seed, None, _table(t, 10 * seed + int(10 * lv)), 1000)
            for lv, ts in onsets.items() for seed, t in enumerate(ts)]
    got, parts = cs.judge(sorted(onsets), runs)
    assert got is passed
    if part is not None:
        assert parts[part] is False
    with pytest.raises(ValueError, match="no run for"):
        cs.judge([0.2, 0.8], runs)
    # decide reads the same runs from saved measurements (JSON) and gives the same verdict
    saved = json.loads(json.dumps({"params": {"threshold": 0.8}, "data": {
        "levels": sorted(onsets), "runs": level_sweeps.saved_runs(runs, sorted(onsets))}}))
    verdict = cs.decide(saved)
    assert verdict.passed is passed and verdict.parts["parts"] == json.loads(json.dumps(parts))


def test_tiny_is_smoke_and_decide_reproduces_it(cs, tiny):
    out, record = tiny
    assert_smoke_and_decide(cs, out, record)


def test_concept_signal_grows_with_separation(tiny):
    per_level = tiny[1]["measured"]["per_level"]
    color = [per_level[k]["color_signal"] for k in sorted(per_level, key=float)]
    size = [per_level[k]["size_signal"] for k in sorted(per_level, key=float)]
    assert color[0] < color[-1]  # more colour separation: larger pixel change when colour flips
    assert all(v > 0 for v in size)  # size signal also moves with colour (object vs background contrast)


def test_tables_match_verdict(tiny):
    out, record = tiny
    runs = record["measured"]["runs"]
    with (out / "runs.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(runs)
    for row, r in zip(rows, runs):
        assert float(row["color_separation"]) == r["level"] and int(row["seed"]) == r["seed"]
        assert (row["learning_time"] or None) == (None if r["learning_time"] is None else str(r["learning_time"]))
        assert float(row["final_accuracy"]) == pytest.approx(r["final_accuracy"], abs=1e-6)
        assert float(row["final_point_0"]) == pytest.approx(r["final_point"][0], abs=1e-6)
        assert (row["memorized_corner"] or None) == r["memorization"]["corner"]
    with (out / "curves.csv").open() as f:
        curves = list(csv.DictReader(f))
    for r in runs:
        mine = [c for c in curves if float(c["color_separation"]) == r["level"] and c["class"] == "11"]
        assert [int(c["step"]) for c in mine] == r["steps"]
        assert [float(c["joint"]) for c in mine] == pytest.approx(r["accuracy"], abs=1e-6)
        got = np.array([[float(c["p_color"]), float(c["p_size"])] for c in mine])
        np.testing.assert_allclose(got, np.array(r["trajectory"]), atol=1e-6)
    assert {c["class"] for c in curves} == {"00", "01", "10", "11"}  # the tiny scale measures every class


def test_figures_written(cs, tiny):
    out, record = tiny
    expected = {"learning_time.png", "accuracy.png", "concept_space_levels.png"} | {
        f"concept_space_s{lv:g}.png" for lv in cs.LEVELS["tiny"]}
    assert set(record["figures"]) == expected
    for name in expected:
        png_ok(out / name)


def test_rerun_reuses_runs_and_measurements(cs, tiny):
    out, record = tiny
    again = cs.main(["--tiny", "--out", str(out), "--no-progress"])
    assert again["measured"]["runs"] == record["measured"]["runs"]


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "argv, message",
    [
        (["--levels", "0.5"], "at least two levels"),
        (["--levels", "0.5", "0.5"], "must not repeat"),
        (["--levels", "0", "0.5"], "(0, 1]"),
        (["--levels", "0.5", "1.5"], "(0, 1]"),
        (["--threshold", "1.5"], "--threshold"),
        (["--steps", "0"], "--steps"),
        (["--size-separation", "-0.1"], "--size-separation"),
    ],
)
def test_bad_values_raise(cs, tmp_path, argv, message):
    with pytest.raises(ValueError) as err:
        cs.main(["--tiny", "--out", str(tmp_path), "--no-progress", *argv])
    assert message in str(err.value)


def test_bad_options_are_usage_errors(cs, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cs.main(["--tiny", "--out", str(tmp_path), "--levels", "high"])
    assert "invalid float value" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cs.main(["--tiny", "--out", str(tmp_path), "--colour", "1"])
    assert "unrecognized arguments" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ configs
def test_scale_defaults(cs, tmp_path):
    args, _ = parse_sweep_args("concept_signal", ["--out", str(tmp_path)], "d", cs._options, cs.SEEDS)
    assert args.scale == "full" and args.seeds == (0, 1, 2)
    quick, _ = parse_sweep_args("concept_signal", ["--quick", "--out", str(tmp_path)], "d", cs._options, cs.SEEDS)
    assert quick.seeds == cs.SEEDS["quick"]
    chosen, _ = parse_sweep_args("concept_signal", ["--quick", "--seeds", "3", "4", "--out", str(tmp_path)], "d", cs._options, cs.SEEDS)
    assert chosen.seeds == (3, 4)


def test_full_configs_are_valid(cs):
    concept_scale = cs.concept_scale
    assert len(cs.LEVELS["full"]) >= 5 and len(cs.SEEDS["full"]) >= 3
    scale = concept_scale("full")
    for level in cs.LEVELS["full"]:
        spec = cs.level_spec(scale, level, cs.SIZE_SEPARATION["full"])
        assert spec.position_range == 0.5 and spec.background_separation == 0.8  # Park et al. 2024, App. B as written
        cfg = scale.train_config(spec, 2, "cuda", steps=scale.steps)
        assert cfg.steps == 20000 and cfg.model.image_size == spec.image_size == 32
        assert cfg.data.color_separation == level and cfg.data.test_classes == ("11",)
    quick = concept_scale(cs.SCALE["quick"])
    assert quick.image_size == 8 and len(cs.SEEDS["quick"]) >= 3
    for level in cs.LEVELS["quick"]:
        spec = cs.level_spec(quick, level, cs.SIZE_SEPARATION["quick"])
        cfg = quick.train_config(spec, 0, "cpu")
        assert cfg.data.size_separation == cs.SIZE_SEPARATION["quick"] and cfg.data.color_separation == level
        assert all(getattr(cfg.data, k) == v for k, v in cs.DATA["quick"].items())


# ------------------------------------------------------------------------------------------ pure helpers
def test_spearman(cs):
    spearman = ranks.spearman
    assert spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    # never learned (None) ranks last; the two None tie
    assert spearman([0.2, 0.4, 0.6, 0.8], [None, None, 500, 300]) == pytest.approx(-0.9486833, abs=1e-6)
    assert spearman([0.2, 0.8], [None, None]) is None  # constant
    assert spearman([0.5], [3]) is None
    with pytest.raises(ValueError, match="same length"):
        spearman([1, 2], [1])
    with pytest.raises(ValueError, match="NaN"):
        spearman([1, 2], [1, math.nan])


def test_average_ranks(cs):
    average_ranks = ranks.average_ranks
    assert average_ranks([10, 30, 20, 30]).tolist() == [1.0, 3.5, 2.0, 3.5]
    assert average_ranks([math.inf, 1.0]).tolist() == [2.0, 1.0]


@pytest.mark.parametrize(
    "levels, times, sign, passed",
    [
        ([0.2, 0.4, 0.8], [900, 600, 300], -1, True),          # faster with more separation
        ([0.2, 0.4, 0.8], [300, 600, 900], -1, False),         # slower with more separation
        ([0.2, 0.4, 0.8], [None, 600, 300], -1, True),         # never-learned run at the low level is slowest
        ([0.2, 0.4, 0.8], [300, None, None], -1, False),       # only the lowest level learned
        ([0.2, 0.4, 0.8], [None, None, None], -1, None),       # nothing learned: undetermined
        ([0.2, 0.4, 0.8], [500, 500, 500], -1, None),          # no variation: rho undefined
        ([0.0, 0.5, 1.0], [100, 200, None], 1, True),          # masking delays (underspecification's sign)
    ],
)
def test_rank_verdict(cs, levels, times, sign, passed):
    rank_verdict = ranks.rank_verdict
    got, rho = rank_verdict(levels, times, sign)
    assert got is passed
    if passed is not None:
        assert (rho * sign > 0) is passed


def test_rank_verdict_rejects_bad_sign(cs):
    rank_verdict = ranks.rank_verdict
    with pytest.raises(ValueError, match="sign"):
        rank_verdict([1, 2], [1, 2], 0)


def test_concept_accuracy(cs):
    from hidcap.evaluation.concept_scores import ConceptSpace

    table = ConceptSpace(("color", "size"))
    for step, rows in ((0, [[1, 0], [0, 0]]), (10, [[1, 1], [1, 0]])):
        table.accuracy.append({"step": step, "class": "11", "joint": 0.0, "additive": 0.0, "n_samples": 2})
        table.correct[(step, "11")] = np.array(rows, dtype=bool)
    steps, color = level_sweeps.concept_accuracy(table, "11", "color")
    assert steps.tolist() == [0, 10] and color.tolist() == [0.5, 1.0]
    assert level_sweeps.concept_accuracy(table, "11", "size")[1].tolist() == [0.0, 0.5]
    with pytest.raises(KeyError, match="shape"):
        level_sweeps.concept_accuracy(table, "11", "shape")


def test_check_levels(cs):
    check_levels = level_sweeps.check_levels
    assert check_levels([0.8, 0.2]) == (0.2, 0.8)
    assert check_levels([0, 1], open_low=False) == (0.0, 1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        check_levels([-0.1, 1], open_low=False)


def test_extreme_tables_picks_the_lowest_and_highest_level_per_seed():
    runs = [level_sweeps.Run(lv, seed, None, _table(300, seed), 1000) for lv in (0.2, 0.5, 0.8) for seed in (2, 0)]
    lo, hi, seeds, lo_t, hi_t = level_sweeps.extreme_tables([0.5, 0.8, 0.2], runs)
    assert (lo, hi, seeds) == (0.2, 0.8, [0, 2])
    assert lo_t == [r.table for r in runs if r.level == 0.2][::-1] and hi_t == [r.table for r in runs if r.level == 0.8][::-1]
    with pytest.raises(ValueError, match=r"no run for \(alpha, seed\) \[\(0.9, 0\), \(0.9, 2\)\]"):
        level_sweeps.extreme_tables([0.2, 0.9], runs, "alpha")
