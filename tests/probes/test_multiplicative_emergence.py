"""probes/multiplicative_emergence.py: a tiny run end to end, its tables and figures, and its verdict logic."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from hidcap.evaluation.curves import learning_time
from hidcap.experiments import emergence
from hidcap.theory import critical_time
from .conftest import assert_smoke_and_decide

NAME = "multiplicative_emergence"
FIGURES = {"accuracy_by_distance.png", "joint_vs_additive.png", "concept_space_seed0.png",
           "concept_space_seed1.png", "toy_model.png"}


@pytest.fixture(scope="module")
def me(probe_module):
    return probe_module(NAME)


@pytest.fixture(scope="module")
def tiny(me, tmp_path_factory):
    out = tmp_path_factory.mktemp("multiplicative_emergence")
    record = me.main(["--tiny", "--out", str(out), "--no-progress", "--seeds", "0", "1"])
    return out, record


def _csv(path):
    with path.open() as f:
        return list(csv.DictReader(f))


def _opt_int(text):
    return None if text == "" else int(text)


def _opt_float(text):
    return None if text == "" else float(text)


# ------------------------------------------------------------------------------------------ tiny run
def test_verdict_file(tiny):
    out, record = tiny
    on_disk = json.loads((out / "verdict.json").read_text())
    assert on_disk == record
    assert record["probe"] == NAME and record["scale"] == "tiny" and record["seeds"] == [0, 1]
    assert record["outcome"] in ("pass", "fail")  # never undetermined
    text = " ".join(record["criterion"])
    assert "distance-1" in text and "fit_multiplicative" in text and "within 25%" in text
    assert "beyond the pooled intervals" in text and "Wilson" in text and ">= 0.5 " in text
    assert "Okawa" in record["paper"]
    assert "multiplicative" in record["claim"]
    m = record["measured"]
    for key in ("learning_times", "claim0_far_learned", "claim1_order", "claim2_suddenness", "claim3_toy_fit",
                "toy_fit_n_ones", "onsets", "mean_t_by_distance_across_seeds",
                "probe_heldout_accuracy", "mean_learning_time_by_distance", "final_joint", "steps"):
        assert key in m, key
    assert set(m["probe_heldout_accuracy"]) == {"shape", "color", "size"}
    assert set(m["learning_times"]) == {"0", "1"}
    assert set(m["learning_times"]["0"]) == {"000", "100", "010", "001", "110", "101", "011", "111"}
    parts = [m["claim0_far_learned"]["passed"], m["claim1_order"]["passed"], m["claim2_suddenness"]["passed"],
             bool(m["claim3_toy_fit"]["passed"])]
    assert record["outcome"] == ("pass" if all(parts) else "fail")
    for cls, o in m["onsets"].items():  # every class: per-seed and pooled onset intervals
        assert set(o["per_seed"]) == {"0", "1"} and o["pooled"]["n_boot"] == 2000
        assert o["per_seed"]["0"]["estimate"] == m["learning_times"]["0"][cls]
    assert m["steps"][0] == 0 and m["steps"][-1] == 12  # tiny: 12 training steps, step 0 included


def test_tiny_is_smoke_and_decide_reproduces_it(me, tiny):
    out, record = tiny
    assert_smoke_and_decide(me, out, record)


def test_figures_are_real_pngs(tiny):
    from matplotlib.image import imread

    out, record = tiny
    assert set(record["figures"]) == FIGURES
    for name in FIGURES:
        path = out / name
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        assert len(data) > 10_000, name
        img = imread(path)
        assert img.shape[0] > 300 and img.shape[1] > 400, (name, img.shape)
        assert float(img[..., :3].std()) > 0.02, name  # not a blank canvas


def test_tables_match_verdict(me, tiny):
    out, record = tiny
    m = record["measured"]
    rows = _csv(out / "learning_times.csv")
    assert len(rows) == 2 * 8
    for r in rows:
        assert _opt_int(r["t_joint"]) == m["learning_times"][r["seed"]][r["class"]]
        assert int(r["distance"]) == {"000": 0, "100": 0, "010": 0, "001": 0, "111": 2}.get(r["class"], 1)
    per_curve = {(c["seed"], c["class"]): c for c in m["claim2_suddenness"]["per_curve"]}
    assert len(per_curve) == 2 * 4
    for seed in (0, 1):
        acc = _csv(out / f"accuracy_seed{seed}.csv")
        assert [int(s) for s in sorted({int(a["step"]) for a in acc})] == m["steps"]
        for cls in ("000", "100", "010", "001", "110", "101", "011", "111"):
            pts = sorted((int(a["step"]), float(a["joint"]), float(a["additive"])) for a in acc if a["class"] == cls)
            steps = [p[0] for p in pts]
            joint, additive = [p[1] for p in pts], [p[2] for p in pts]
            # learning times recomputed from the written accuracy table
            assert learning_time(steps, joint, m["threshold"]) == m["learning_times"][str(seed)][cls]
            assert joint[-1] == pytest.approx(m["final_joint"][str(seed)][cls])
            if cls in ("110", "101", "011", "111"):
                s_joint, rise = me.sudden_fraction(joint)
                s_add, _ = me.sudden_fraction(additive)
                c = per_curve[(seed, cls)]
                assert c["S_joint"] == (None if s_joint is None else pytest.approx(s_joint))
                assert c["S_additive"] == (None if s_add is None else pytest.approx(s_add))
                assert c["rise_joint"] == pytest.approx(rise)
        # claim 1 per seed from the table
        times = {r["class"]: _opt_int(r["t_joint"]) for r in rows if r["seed"] == str(seed) and r["distance"] != "0"}
        dist = {c: (2 if c == "111" else 1) for c in times}
        assert m["claim1_order"]["per_seed_point_estimates"][str(seed)] == me.order_holds(times, dist)
    # the suddenness vote from the table's S values
    held = [r for r in rows if r["distance"] != "0"]
    _, votes = me.suddenness_vote([(_opt_float(r["S_joint"]), _opt_float(r["S_additive"]), float(r["rise_joint"]))
                                   for r in held])
    assert me.suddenness_share(votes)["passed"] == m["claim2_suddenness"]["passed"]
    assert votes["joint_sharper"] == m["claim2_suddenness"]["joint_sharper"]


def test_concept_space_cache_reused(me, tiny):
    """A second run on the same --out reuses the training runs and the concept-space measurements."""
    out, record = tiny
    again = me.main(["--tiny", "--out", str(out), "--no-progress", "--seeds", "0", "1"])
    assert again["measured"] == record["measured"]


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("argv, words", [
    (["--threshold", "1.5"], "threshold must be in (0, 1)"),
    (["--threshold", "high"], "threshold must be a number"),
    (["--seeds", "0", "0"], "must not repeat"),
    (["--quick", "--tiny"], "not allowed with"),
])
def test_bad_arguments(me, tmp_path, capsys, argv, words):
    with pytest.raises(SystemExit):
        me.main([*argv, "--out", str(tmp_path)])
    assert words in capsys.readouterr().err


def test_unknown_scale(me):
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        me.probe_scale("huge")


# ------------------------------------------------------------------------------------------ scales
def test_full_scale_is_the_papers(me):
    from hidcap.models import UNet

    scale = me.probe_scale("full")
    spec = me.cube_spec(scale)
    cfg = scale.train_config(spec, 0, "cpu")
    assert spec.concepts == ("shape", "color", "size")
    assert spec.train_classes == ("000", "100", "010", "001") and spec.test_classes == ("110", "101", "011", "111")
    assert spec.image_size == 28 and sum(spec.class_count(c) for c in spec.train_classes) == 5000
    d = cfg.diffusion
    assert (d.timesteps, d.beta_start, d.beta_end) == (500, 1e-4, 0.02)
    assert cfg.model.time_scale == 1.0 and cfg.model.channels == (64, 128, 256)
    assert cfg.checkpoints.spacing == "linear" and cfg.steps == 10000
    assert scale.probe["kind"] == "linear" and scale.strict_probe
    assert scale.samples_per_class == 50
    # the architecture builds and runs at 28 px
    import torch

    model = UNet(cfg.model).eval()
    with torch.no_grad():
        y = model(torch.zeros(1, 3, 28, 28), torch.tensor([3]), spec.prompts(["111"]))
    assert y.shape == (1, 3, 28, 28)
    assert me.distances(spec) == {"000": 0, "100": 0, "010": 0, "001": 0, "110": 1, "101": 1, "011": 1, "111": 2}


def test_quick_scale_builds(me):
    scale = me.probe_scale("quick")
    spec = me.cube_spec(scale)
    cfg = scale.train_config(spec, 3, "cpu")
    assert cfg.seed == 3 and cfg.model.image_size == spec.image_size == 12 and cfg.steps == 6000
    assert cfg.checkpoints.spacing == "linear" and scale.probe["kind"] == "linear" and scale.strict_probe


# ------------------------------------------------------------------------------------------ pure helpers
def test_sudden_fraction_values(me):
    s, rise = me.sudden_fraction([0.0, 0.0, 0.0, 1.0, 1.0])  # one-interval jump
    assert s == pytest.approx(1.0) and rise == pytest.approx(1.0)
    s, rise = me.sudden_fraction(np.linspace(0.0, 1.0, 11))  # ramp over 10 intervals
    assert s == pytest.approx(0.1) and rise == pytest.approx(1.0)
    s, rise = me.sudden_fraction([1.0, 0.2, 0.4, 0.3, 1.0])  # a dip first: rise counts from the minimum
    assert rise == pytest.approx(0.8) and s == pytest.approx(0.7 / 0.8)
    assert me.sudden_fraction([0.5, 0.5, 0.5]) == (None, 0.0)
    assert me.sudden_fraction([1.0, 0.5, 0.0]) == (None, 0.0)
    with pytest.raises(ValueError, match="at least two points"):
        me.sudden_fraction([0.3])
    with pytest.raises(ValueError, match="finite"):
        me.sudden_fraction([0.3, float("nan")])


DIST = {"110": 1, "101": 1, "011": 1, "111": 2}


def test_order_holds(me):
    assert me.order_holds({"110": 100, "101": 200, "011": 300, "111": 400}, DIST) is True
    assert me.order_holds({"110": 100, "101": 200, "011": 400, "111": 400}, DIST) is True  # ties allowed
    assert me.order_holds({"110": 100, "101": 500, "011": 300, "111": 400}, DIST) is False
    assert me.order_holds({"110": 100, "101": 200, "011": 300, "111": None}, DIST) is True  # 111 never: latest
    assert me.order_holds({"110": 100, "101": None, "011": 300, "111": 400}, DIST) is False
    assert me.order_holds({"110": 100, "101": None, "011": 300, "111": None}, DIST) is None
    with pytest.raises(ValueError, match="distance 1 and 2"):
        me.order_holds({"110": 100}, DIST)


def test_combine_order(me):
    assert me.combine_order([True, None, True]) is True
    assert me.combine_order([True, False, True]) is False
    assert me.combine_order([None, None]) is None


def test_suddenness_vote(me):
    passed, votes = me.suddenness_vote([(0.9, 0.4, 0.9), (0.8, 0.5, 0.7), (0.3, 0.6, 0.8)])
    assert passed is True and votes["joint_sharper"] == 2 and votes["additive_sharper"] == 1
    passed, votes = me.suddenness_vote([(0.2, 0.4, 0.9), (0.8, 0.5, 0.7), (0.3, 0.6, 0.8)])
    assert passed is False
    passed, votes = me.suddenness_vote([(1.0, 1.0, 0.9), (0.9, 0.2, 0.1), (None, None, 0.0)])
    assert passed is None and votes == {"joint_sharper": 0, "additive_sharper": 0, "ties": 1, "not_judged": 2}
    passed, votes = me.suddenness_vote([(0.5, 0.5, 0.9), (0.9, 0.3, 0.6)])  # tie left out
    assert passed is True and votes["ties"] == 1


def test_toy_fit_pass_and_fail(me):
    p = 0.002
    n = np.array([1, 1, 1, 2, 2, 2])
    t = critical_time(p, n)  # exactly the toy model's shape
    fit = me.toy_fit(n, t)
    assert fit["passed"] is True and fit["max_rel_dev"] < 0.02
    assert fit["p"] == pytest.approx(p, rel=0.02)
    assert fit["n_levels"] == [1, 2] and fit["points"] == 6
    steep = me.toy_fit([1, 1, 2], [1000.0, 1200.0, 4000.0])  # t*(2)/t*(1) ~ 3.6, toy predicts ~1.4
    assert steep["passed"] is False and steep["max_rel_dev"] > 0.25
    assert math.isfinite(steep["rmse"]) and steep["rmse"] > 0
    single = me.toy_fit([1, 1], [100.0, 200.0])
    assert single["passed"] is None and single["p"] is None and single["n_levels"] == [1]
    with pytest.raises(ValueError, match="same length"):
        me.toy_fit([1, 2], [100.0])


def _iv(estimate, low, high):
    return {"estimate": estimate, "low": low, "high": high, "never": 0.0, "n": 72, "n_boot": 2000,
            "method": "bootstrap:seeds+samples", "level": 0.95}


def test_order_beyond_intervals(me):
    ok = {"110": _iv(300, 200, 400), "101": _iv(500, 400, 700), "011": _iv(800, 600, 1000), "111": _iv(900, 800, 1100)}
    res = me.order_beyond_intervals(ok, DIST)
    assert res["passed"] is True and res["earlier_near"] == ["110", "101"] and res["against"] == []
    # 111 overlapping every distance-1 class: no positive evidence of order -> fails
    flat = {c: _iv(500, 400, 600) for c in DIST}
    assert me.order_beyond_intervals(flat, DIST)["passed"] is False
    # 111 earlier than a distance-1 class beyond the intervals: against the order
    against = dict(ok, **{"011": _iv(None, 1200, None)})
    res = me.order_beyond_intervals(against, DIST)
    assert res["passed"] is False and res["against"] == [("111", "011")]
    # 111 never learned: fails even with everything else in order
    never = dict(ok, **{"111": _iv(None, None, None)})
    assert me.order_beyond_intervals(never, DIST)["passed"] is False
    with pytest.raises(ValueError, match="distance 1 and 2"):
        me.order_beyond_intervals({"110": ok["110"]}, DIST)


@pytest.mark.parametrize("sharper, flatter, passed", [(10, 2, True), (9, 3, False), (6, 6, False), (0, 0, False)])
def test_suddenness_share_needs_the_interval_above_half(me, sharper, flatter, passed):
    res = me.suddenness_share({"joint_sharper": sharper, "additive_sharper": flatter, "ties": 1, "not_judged": 0})
    assert res["passed"] is passed and res["judged"] == sharper + flatter


def test_overall(me):
    assert me.overall([True, True, True]) is True
    assert me.overall([True, None, True]) is None
    assert me.overall([True, None, False]) is False


def test_toy_figure_with_a_fit(me, tiny, tmp_path):
    """The fitted branch of the toy-model figure (the tiny run never learns a class, so it draws no fit)."""
    from matplotlib.image import imread

    from hidcap.evaluation.concept_scores import ConceptSpace

    out, _ = tiny
    spaces = {0: ConceptSpace.from_json(out / "concept_space_seed0.json")}
    dist = {"000": 0, "100": 0, "010": 0, "001": 0, "110": 1, "101": 1, "011": 1, "111": 2}
    times = {"110": 4, "101": 8, "011": 8, "111": 12}
    rows = [{"seed": 0, "class": c, "distance": d, "t_joint": times.get(c)} for c, d in dist.items()]
    fit = me.toy_fit([dist[c] for c in times], list(times.values()))
    assert fit["p"] is not None
    path = emergence.plot_toy(spaces, dist, rows, fit, tmp_path / "toy.png", 0.8)
    img = imread(path)
    assert img.shape[0] > 300 and float(img[..., :3].std()) > 0.02
