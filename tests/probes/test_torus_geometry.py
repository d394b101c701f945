"""probes/torus_geometry.py: a tiny run end to end, its figures and numbers, and the per-seed verdict logic on
hand-made inputs. (rise_then_fall: tests/evaluation/test_curves.py; the scales: tests/test_scales.py.)"""
from __future__ import annotations

import json

import numpy as np

import pytest

from hidcap.evaluation.curves import rise_then_fall

from .conftest import assert_png, assert_smoke_and_decide

NAME = "torus_geometry"
FIGURES = ("training.png", "spectrum.png", "persistence.png", "torus_tests.png", "pca.png", "samples.png")




@pytest.fixture(scope="module")
def torus(probe_module):
    return probe_module(NAME)


@pytest.fixture(scope="module")
def tiny(torus, tmp_path_factory):
    out = tmp_path_factory.mktemp("torus_geometry")
    record = torus.main(["--tiny", "--out", str(out), "--no-progress"])
    return out, record


# ------------------------------------------------------------------------------------------ tiny run
def test_tiny_verdict_fields(tiny, torus):
    out, record = tiny
    assert json.loads((out / "verdict.json").read_text()) == record
    assert record["probe"] == NAME and record["scale"] == "tiny" and record["seeds"] == [0, 1]
    assert record["outcome"] in ("pass", "fail")  # never undetermined
    assert record["criterion"] == list(torus.CRITERION) and "(1, 2, 1)" in record["criterion"][2]
    m = record["measured"]
    assert m["layer"] == "ups.0.resample" and m["image_size"] == 8
    seed, seed1 = m["per_seed"]
    assert seed["seed"] == 0 and seed1["seed"] == 1 and len(seed["betti"]) == 3
    parts = m["per_seed_parts"]
    assert set(parts["0"]) == {"learned", "rise_then_fall", "betti_121", "x_on_y_clifford",
                                  "within_variable_not_parallel", "as_measured"}
    assert (out / "runs" / "torus_seed0" / "config.json").is_file()
    # intervals, per-seed values and their dispersion
    iv = seed["final_accuracy_interval"]
    assert iv["method"] == "wilson" and iv["n"] == 64 and iv["low"] <= seed["final_accuracy"] <= iv["high"]
    for row in seed["checkpoints"]:
        assert row["accuracy_low"] <= row["accuracy"] <= row["accuracy_high"]
    disp = m["dispersion"]["final_accuracy"]
    assert disp["values"] == [s["final_accuracy"] for s in m["per_seed"]] and disp["n"] == 2
    assert m["final_accuracy_pooled"]["method"] == "bootstrap:seeds+samples"
    assert m["final_accuracy_pooled"]["estimate"] == pytest.approx(np.mean(disp["values"]))
    assert set(m["seed_margins"]) == {"final_over_peak_pr", "median_residual_x_on_x", "median_residual_y_on_y"}
    assert {"h1", "h2", "rule"} <= set(seed["loop_bars"]) and "gap" in seed["loop_bars"]["h1"]
    passed, majority = torus.majority_verdict({int(s): {k: v for k, v in p.items() if k != "as_measured"}
                                               for s, p in parts.items()})
    assert {True: "pass", False: "fail"}[passed] == record["outcome"] and majority == m["majority"]


def test_tiny_is_smoke_and_decide_reproduces_it(tiny, torus):
    out, record = tiny
    assert_smoke_and_decide(torus, out, record)


def test_tiny_figures(tiny):
    out, record = tiny
    assert record["figures"] == list(FIGURES)
    for name in FIGURES:
        assert_png(out / name)


def test_tiny_numbers_are_consistent(tiny, torus):
    _, record = tiny
    seed = record["measured"]["per_seed"][0]
    rows = seed["checkpoints"]
    steps = [r["step"] for r in rows]
    assert steps[0] == 0 and steps == sorted(steps) and steps[-1] == 20
    assert seed["final_accuracy"] == rows[-1]["accuracy"]
    assert seed["final_participation_ratio"] == rows[-1]["participation_ratio"]
    for r in rows:
        assert 0 <= r["accuracy"] <= 1 and r["participation_ratio"] >= 1 and 0 < r["top4_explained"] <= 1
    rise = rise_then_fall(steps, [r["participation_ratio"] for r in rows], torus.PR_DROP)
    assert rise == seed["rise_then_fall"]  # JSON keeps floats exactly
    tt = seed["torus_tests"]
    for t in ("x_on_y", "x_on_x", "y_on_y"):
        d = tt["distances"][t]
        total_c = d["orthogonality"]["clifford"] + d["parallelism"]["clifford"]
        total_s = d["orthogonality"]["standard"] + d["parallelism"]["standard"]
        if tt["closer"][t] == "clifford":
            assert total_c < total_s
    assert tt["x_on_y_clifford"] == (tt["closer"]["x_on_y"] == "clifford")
    from hidcap.evaluation.intervals import Interval

    acc = Interval.from_dict(seed["final_accuracy_interval"])
    _, parts = torus.seed_verdict(acc, seed["rise_then_fall"], seed["betti"], tt)
    assert parts == record["measured"]["per_seed_parts"]["0"]


@pytest.mark.parametrize(
    "argv, message",
    [(["--quick", "--tiny"], "not allowed with"), (["--seeds", "-1"], "non-negative"), (["--bogus"], "unrecognized")],
)
def test_bad_options_exit_with_message(torus, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit):
        torus.main([*argv, "--out", str(tmp_path)])
    assert message in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ helpers
def _torus(clifford=True, parallel=False):
    return {"x_on_y_clifford": clifford, "within_variable_not_parallel": not parallel}


def _acc(p, n=1024):
    from hidcap.evaluation.intervals import wilson_interval

    return wilson_interval(round(p * n), n)


def test_seed_verdict(torus):
    rise_ok = {"passed": True}
    assert torus.seed_verdict(_acc(0.9), rise_ok, (1, 2, 1), _torus())[0] is True
    assert torus.seed_verdict(_acc(0.9), rise_ok, (1, 0, 1), _torus())[0] is False
    assert torus.seed_verdict(_acc(0.9), {"passed": False}, (1, 2, 1), _torus())[0] is False
    assert torus.seed_verdict(_acc(0.9), rise_ok, (1, 2, 1), _torus(clifford=False))[0] is False
    assert torus.seed_verdict(_acc(0.9), rise_ok, (1, 2, 1), _torus(parallel=True))[0] is False
    passed, parts = torus.seed_verdict(_acc(0.9), {"passed": None}, (1, 2, 1), _torus())  # not judgeable: fails
    assert passed is False and parts["rise_then_fall"] is False
    # not learned beyond the interval: 0.52 of 100 samples (Wilson low 0.42) fails every part
    passed, parts = torus.seed_verdict(_acc(0.52, 100), rise_ok, (1, 2, 1), _torus())
    assert passed is False and not any(v for k, v in parts.items() if k != "as_measured")
    assert parts["as_measured"]["betti_121"] is True  # the geometry itself is still reported
    assert torus.seed_verdict(_acc(0.52, 10000), rise_ok, (1, 2, 1), _torus())[0] is True  # decided with n = 10^4
    with pytest.raises(ValueError, match="Interval"):
        torus.seed_verdict(0.9, rise_ok, (1, 2, 1), _torus())


def _parts(**fails):
    p = {k: True for k in ("learned", "rise_then_fall", "betti_121", "x_on_y_clifford", "within_variable_not_parallel")}
    return {**p, **{k: False for k in fails}}


def test_majority_rule(torus):
    # Betti (1, 2, 1) in 2 of 3 seeds: holds; in 1 of 3: fails
    passed, m = torus.majority_verdict({0: _parts(), 1: _parts(betti_121=1), 2: _parts()})
    assert passed is True and m["betti_121"] == {"seeds_holding": [0, 2], "of": 3, "holds": True}
    passed, m = torus.majority_verdict({0: _parts(), 1: _parts(betti_121=1), 2: _parts(betti_121=1)})
    assert passed is False and m["betti_121"]["holds"] is False and m["learned"]["holds"] is True
    # two seeds: a strict majority is both; one seed: that seed
    assert torus.majority_verdict({0: _parts(), 1: _parts(rise_then_fall=1)})[0] is False
    assert torus.majority_verdict({5: _parts()})[0] is True
    # different parts failing in different seeds: each part still holds in 2 of 3
    assert torus.majority_verdict({0: _parts(betti_121=1), 1: _parts(x_on_y_clifford=1), 2: _parts()})[0] is True
    with pytest.raises(ValueError, match="no seed"):
        torus.majority_verdict({})


def test_torus_test_summary_on_an_ideal_clifford_torus(torus):
    from hidcap import geometry

    labels = geometry.grid_labels(8)
    pts = geometry.clifford_torus(labels, dim=12, seed=1)
    s = torus.torus_test_summary(geometry.torus_tests(pts, labels, period=8.0))
    assert s["x_on_y_clifford"] is True
    assert s["within_variable_not_parallel"] is False  # an ideal Clifford torus has parallel rings
    assert s["median_parallelism_residual"]["x_on_x"] == pytest.approx(0.0, abs=1e-6)
