"""probes/percolation.py: a tiny run end to end (simulation + four tiny models), its figures and tables, the
threshold helpers and the verdict logic on hand-made inputs, and the full-scale configuration."""
from __future__ import annotations

import json

import numpy as np
import pytest

from .conftest import assert_png

NAME = "percolation"
FIGURES = ("percolation.png", "overlap.png")




@pytest.fixture(scope="module")
def perc(probe_module):
    return probe_module(NAME)


@pytest.fixture(scope="module")
def tiny(perc, tmp_path_factory):
    out = tmp_path_factory.mktemp("percolation")
    record = perc.main(["--tiny", "--out", str(out), "--no-progress"])
    return out, record


# ------------------------------------------------------------------------------------------ tiny run
def test_tiny_verdict_fields(tiny, perc):
    out, record = tiny
    on_disk = json.loads((out / "verdict.json").read_text())
    assert on_disk == record
    assert record["probe"] == NAME and record["scale"] == "tiny" and record["seeds"] == [0]
    assert record["passed"] in (True, False, None)
    assert record["verdict"] == {True: "pass", False: "fail", None: "undetermined"}[record["passed"]]
    assert record["criterion"] == perc.CRITERION and "0.5" in record["criterion"]
    assert "smoke run" in record["notes"]
    m = record["measured"]
    scale = perc.percolation_scale("tiny")
    assert [r["sigma"] for r in m["simulation"]] == list(scale.sigmas)
    assert m["models_trained"] is True
    assert len(m["models"]) == len(scale.model_sigmas) * len(scale.model_lambdas)
    for r in m["models"]:
        assert 0.0 <= r["accuracy"] <= 1.0 and r["images"] == round(r["lambda"] * 64)
    summary = json.loads((out / "runs" / "summary.json").read_text())  # every model in one train_all call
    assert [(r["run"], r["status"]) for r in summary] == [
        (f"sigma{s:g}_lambda{lam:g}_seed0", "done") for s in scale.model_sigmas for lam in scale.model_lambdas]


def test_tiny_figures(tiny):
    out, record = tiny
    assert record["figures"] == list(FIGURES)
    for name in FIGURES:
        assert_png(out / name)


def test_tiny_numbers_match_tables(tiny, perc):
    out, record = tiny
    m = record["measured"]
    curves = json.loads((out / "curves.json").read_text())
    for row in m["simulation"]:
        mean = curves["mass_ratio_mean"][f"{row['sigma']:g}"]
        assert len(mean) == len(curves["lambdas"])
        assert row["lambda_c"] == perc.stay_crossing(curves["lambdas"], mean, perc.MASS_LEVEL)
        assert row["connects"] == perc.connects_neighbours(row["sigma"])
    assert m["simulation"][0]["sigma"] == 0.1 and m["simulation"][0]["lambda_c"] is None  # σ=0.1 never connects
    passed, reasons = perc.simulation_verdict(m["simulation"])
    assert passed == m["simulation_passed"] and reasons == m["simulation_failures"]
    for mean_row in m["model_means"]:
        accs = [r["accuracy"] for r in m["models"]
                if r["sigma"] == mean_row["sigma"] and r["lambda"] == mean_row["lambda"]]
        assert mean_row["accuracy"] == pytest.approx(np.mean(accs))
    assert perc.model_verdict(m["model_means"])[0] == m["models_passed"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--sigmas", "-1"], "positive"),
        (["--model-lambdas", "1.5"], "(0, 1]"),
        (["--threshold", "abc"], "expected a number"),
    ],
)
def test_bad_options_exit_with_message(perc, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit):
        perc.main(["--tiny", "--out", str(tmp_path), *argv])
    assert message in capsys.readouterr().err


def test_bad_repeats_raise(perc, tmp_path):
    with pytest.raises(ValueError, match="--repeats"):
        perc.main(["--tiny", "--out", str(tmp_path), "--repeats", "0"])


# ------------------------------------------------------------------------------------------ helpers
def test_rise_width_and_ordering(perc):
    p = perc
    xs = np.linspace(0, 1, 101)
    sharp = (xs > 0.5).astype(float)
    ramp = xs.copy()
    assert p.rise_width(xs, sharp, p.SHARP_LOW, p.SHARP_HIGH) == pytest.approx(0.0, abs=0.011)
    assert p.rise_width(xs, ramp, p.SHARP_LOW, p.SHARP_HIGH) == pytest.approx(0.8, abs=0.011)
    assert p.rise_width(xs, np.zeros_like(xs), p.SHARP_LOW, p.SHARP_HIGH) is None
    assert p.ordered_thresholds([0.2, 0.5, 1.0], [0.6, 0.2, 0.05]) is True
    assert p.ordered_thresholds([1.0, 0.2, 0.5], [0.05, 0.6, 0.2]) is True  # order of input does not matter
    assert p.ordered_thresholds([0.2, 0.5, 1.0], [0.6, 0.7, 0.05]) is False  # not monotone
    assert p.ordered_thresholds([0.2, 0.5], [0.3, 0.3]) is False  # no overall fall
    assert p.ordered_thresholds([0.2, 0.5, 1.0], [None, None, 0.1]) is None
    assert p.connects_neighbours(0.1) is False and p.connects_neighbours(0.2) is True


def _row(sigma, lam, width, connects=True):
    return {"sigma": sigma, "connects": connects, "lambda_c": lam, "rise_width": width}


def test_simulation_verdict_pass_and_fail(perc):
    p = perc
    good = [_row(0.1, None, None, connects=False), _row(0.2, 0.59, 0.2), _row(0.5, 0.13, 0.15), _row(1.0, 0.03, 0.05)]
    assert p.simulation_verdict(good) == (True, [])
    smooth = [_row(0.2, 0.59, 0.7), _row(1.0, 0.03, 0.05)]
    passed, reasons = p.simulation_verdict(smooth)
    assert passed is False and "Δλ=0.7" in reasons[0]
    wrong_order = [_row(0.2, 0.1, 0.2), _row(1.0, 0.5, 0.2)]
    passed, reasons = p.simulation_verdict(wrong_order)
    assert passed is False and "does not fall" in reasons[-1]
    never = [_row(0.2, None, None), _row(1.0, 0.03, 0.05)]
    assert p.simulation_verdict(never)[0] is False
    spurious = [_row(0.1, 0.9, 0.1, connects=False), _row(0.2, 0.59, 0.2), _row(1.0, 0.03, 0.05)]
    assert p.simulation_verdict(spurious)[0] is False
    one = [_row(0.1, None, None, connects=False), _row(1.0, 0.03, 0.05)]
    passed, reasons = p.simulation_verdict(one)
    assert passed is None and "cannot be decided" in reasons[0]


def _models(table):
    return [{"sigma": s, "lambda": lam, "accuracy": a} for s, rows in table.items() for lam, a in rows]


def test_model_verdict(perc):
    p = perc
    good = _models({0.3: [(0.2, 0.0), (0.6, 0.2), (1.0, 0.9)], 1.0: [(0.2, 0.1), (0.6, 0.8), (1.0, 0.95)]})
    assert p.model_verdict(good) == (True, [])
    bad = _models({0.3: [(0.2, 0.7), (0.6, 0.8), (1.0, 0.9)], 1.0: [(0.2, 0.1), (0.6, 0.2), (1.0, 0.95)]})
    assert p.model_verdict(bad)[0] is False
    unlearned = _models({0.3: [(0.2, 0.0), (1.0, 0.1)], 1.0: [(0.2, 0.1), (1.0, 0.9)]})
    assert p.model_verdict(unlearned)[0] is None
    assert p.model_verdict([])[0] is None


# ------------------------------------------------------------------------------------------ configs
def test_scales_and_full_config(perc):
    p = perc
    full = p.percolation_scale("full")
    assert full.shape == (32, 32) and full.repeats == 5 and full.train_models
    assert p.percolation_scale("quick").train_models is False
    with pytest.raises(ValueError, match="unknown scale"):
        p.percolation_scale("huge")
    from hidcap.experiments import scales
    from hidcap.data import BumpDataSpec
    from hidcap.models import presets

    b = scales.bump_scale("full")
    spec = BumpDataSpec(kind="bump", image_size=32, increment=full.model_increment, sigma_x=0.3, sigma_y=0.3,
                        subsample=0.1)
    cfg = b.train_config(spec, 0, "cpu", steps=full.model_steps)
    assert cfg.model == presets.gaussian_bumps() and cfg.diffusion.timesteps == 1000 and cfg.steps == 20000
    assert len(spec.centres(0)) == round(0.1 * 1024)
    with pytest.raises(ValueError, match="does not fit"):
        b.train_config(BumpDataSpec(image_size=16), 0, "cpu")

