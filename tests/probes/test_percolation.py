"""probes/percolation.py: a tiny run end to end (simulation + four tiny models), its figures and tables, the
threshold helpers and the verdict logic on hand-made inputs, and the full-scale configuration."""
from __future__ import annotations

import json

import numpy as np
import pytest

from .conftest import assert_png, assert_smoke_and_decide

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
    assert record["probe"] == NAME and record["scale"] == "tiny" and record["seeds"] == [0, 1]
    assert record["outcome"] in ("pass", "fail")  # never undetermined
    assert record["criterion"] == list(perc.CRITERION) and "0.5" in record["criterion"][0]
    assert "λ_c" in (out / "verdict.json").read_text(encoding="utf-8")  # Greek letters readable, not \u escapes
    m = record["measured"]
    scale = perc.percolation_scale("tiny")
    assert [r["sigma"] for r in m["simulation"]] == list(scale.sigmas)
    assert m["models_trained"] is True
    assert len(m["models"]) == 2 * len(scale.model_sigmas) * len(scale.model_lambdas)
    for r in m["models"]:
        assert 0.0 <= r["accuracy"] <= 1.0 and r["images"] == round(r["lambda"] * 64)
        assert r["accuracy_low"] <= r["accuracy"] <= r["accuracy_high"] and "correct" not in r
    for r in m["model_means"]:
        assert r["interval_method"] == "bootstrap:seeds+samples" and r["accuracy_low"] <= r["accuracy"] <= r["accuracy_high"]
    # λ_c: pooled interval, per-seed intervals and their dispersion
    assert m["simulation_seeds"] == [0, 1]
    for row in m["simulation"]:
        iv = row["lambda_c_interval"]
        assert iv["estimate"] == row["lambda_c"] and iv["method"] == "bootstrap:seeds+repeats" and iv["n"] == 2 * 2
        assert set(row["per_seed"]) == {"0", "1"}
        assert all(v["method"] == "bootstrap:repeats" for v in row["per_seed"].values())
        if row["lambda_c"] is not None and iv["low"] is not None and iv["high"] is not None:
            assert iv["low"] <= iv["estimate"] <= iv["high"]
        if all(v["estimate"] is not None for v in row["per_seed"].values()):
            assert row["dispersion"]["values"] == [row["per_seed"][s]["estimate"] for s in ("0", "1")]
            assert row["dispersion"]["std"] is not None
    assert set(m["simulation_per_seed_verdicts"]) == {"0", "1"}
    summary = json.loads((out / "runs" / "summary.json").read_text())  # every model in one train_all call
    assert [(r["run"], r["status"]) for r in summary] == [
        (f"sigma{s:g}_lambda{lam:g}_seed{seed}", "done") for seed in (0, 1) for s in scale.model_sigmas
        for lam in scale.model_lambdas]


def test_tiny_is_smoke_and_decide_reproduces_it(tiny, perc):
    out, record = tiny
    assert_smoke_and_decide(perc, out, record)


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
        mean = curves["mass_ratio_mean"][f"{row['sigma']:g}"]  # pooled over seeds and repeats
        assert len(mean) == len(curves["lambdas"])
        assert row["lambda_c"] == pytest.approx(perc.stay_crossing(curves["lambdas"], mean, perc.MASS_LEVEL))
        assert row["connects"] == perc.connects_neighbours(row["sigma"])
    assert m["simulation"][0]["sigma"] == 0.1 and m["simulation"][0]["lambda_c"] is None  # σ=0.1 never connects
    passed, reasons = perc.simulation_verdict(m["simulation"])
    assert passed == m["simulation_passed"] and reasons == m["simulation_failures"]
    for mean_row in m["model_means"]:
        accs = [r["accuracy"] for r in m["models"]
                if r["sigma"] == mean_row["sigma"] and r["lambda"] == mean_row["lambda"]]
        assert mean_row["accuracy"] == pytest.approx(np.mean(accs))
    assert perc.model_verdict(m["model_means"])[0] == m["models_passed"]
    assert record["outcome"] == ("pass" if m["simulation_passed"] and m["models_passed"] else "fail")


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
    iv = lambda e, h=0.02: {"estimate": e, "low": e - h, "high": e + h}  # noqa: E731
    assert p.ordered_thresholds([0.2, 0.5, 1.0], [iv(0.6), iv(0.2), iv(0.05)]) == (True, "")
    assert p.ordered_thresholds([1.0, 0.2, 0.5], [iv(0.05), iv(0.6), iv(0.2)])[0] is True  # input order is free
    ok, why = p.ordered_thresholds([0.2, 0.5, 1.0], [iv(0.6), iv(0.7), iv(0.05)])  # rises beyond the intervals
    assert ok is False and "rises" in why
    assert p.ordered_thresholds([0.2, 0.5, 1.0], [iv(0.6), iv(0.61), iv(0.05)])[0] is True  # a tie is not a rise
    ok, why = p.ordered_thresholds([0.2, 0.5], [iv(0.3), iv(0.3)])  # equal thresholds: no fall
    assert ok is False and "not below" in why
    # a fall inside the intervals is not decided, so it fails
    assert p.ordered_thresholds([0.2, 1.0], [iv(0.30, 0.05), iv(0.25, 0.05)])[0] is False
    assert p.ordered_thresholds([0.2, 1.0], [iv(0.30, 0.01), iv(0.25, 0.01)])[0] is True
    none = {"estimate": None, "low": None, "high": None}
    ok, why = p.ordered_thresholds([0.2, 0.5, 1.0], [none, none, iv(0.1)])
    assert ok is False and "fewer than two" in why
    assert p.connects_neighbours(0.1) is False and p.connects_neighbours(0.2) is True


def _row(sigma, lam, width, connects=True, h=0.02, never=0.0):
    """A simulation row whose λ_c and rise width have intervals ± h (None: never)."""
    iv = {"estimate": lam, "low": None if lam is None else lam - h, "high": None if lam is None else lam + h,
          "never": never, "rise_width": {"estimate": width, "low": None if width is None else width - h,
                                         "high": None if width is None else width + h}}
    return {"sigma": sigma, "connects": connects, "lambda_c": lam, "lambda_c_interval": iv}


def test_simulation_verdict_pass_and_fail(perc):
    p = perc
    good = [_row(0.1, None, None, connects=False), _row(0.2, 0.59, 0.2), _row(0.5, 0.13, 0.15), _row(1.0, 0.03, 0.05)]
    assert p.simulation_verdict(good) == (True, [])
    smooth = [_row(0.2, 0.59, 0.7), _row(1.0, 0.03, 0.05)]
    passed, reasons = p.simulation_verdict(smooth)
    assert passed is False and "0.700" in reasons[0]
    borderline = [_row(0.2, 0.59, 0.39), _row(1.0, 0.03, 0.05)]  # width 0.39 ± 0.02 is not decided ≤ 0.4
    assert p.simulation_verdict(borderline)[0] is False
    wrong_order = [_row(0.2, 0.1, 0.2), _row(1.0, 0.5, 0.2)]
    passed, reasons = p.simulation_verdict(wrong_order)
    assert passed is False and "does not move" in reasons[-1]
    never = [_row(0.2, None, None), _row(1.0, 0.03, 0.05)]
    assert p.simulation_verdict(never)[0] is False
    open_ended = _row(0.2, 0.59, 0.2)  # estimate exists but > 2.5 % of resamples never percolate
    open_ended["lambda_c_interval"]["high"] = None
    assert p.simulation_verdict([open_ended, _row(1.0, 0.03, 0.05)])[0] is False
    spurious = [_row(0.1, 0.9, 0.1, connects=False), _row(0.2, 0.59, 0.2), _row(1.0, 0.03, 0.05)]
    assert p.simulation_verdict(spurious)[0] is False
    one = [_row(0.1, None, None, connects=False), _row(1.0, 0.03, 0.05)]
    passed, reasons = p.simulation_verdict(one)
    assert passed is False and "fewer than two" in reasons[0]  # never undetermined


def test_lambda_interval_on_known_curves():
    from hidcap.experiments.percolation_runs import falls, lambda_interval

    lam = np.linspace(0.01, 1.0, 100)
    steps = np.array([(lam >= c).astype(float) for c in (0.40, 0.42, 0.44, 0.46, 0.48)])  # 5 repeats, jumps
    iv = lambda_interval(lam, steps, 0.5, rise=(0.1, 0.9))
    assert iv["method"] == "bootstrap:repeats" and iv["n"] == 5 and iv["never"] == 0.0
    assert 0.39 <= iv["low"] < iv["estimate"] < iv["high"] <= 0.48  # interpolation starts at the grid point before
    assert iv["estimate"] == pytest.approx(0.44, abs=0.011)
    assert iv["rise_width"]["high"] <= 0.09
    flat = lambda_interval(lam, np.zeros((5, 100)), 0.5)
    assert flat["estimate"] is None and flat["low"] is None and flat["never"] == 1.0
    two = lambda_interval(lam, np.stack([steps, steps[::-1]]), 0.5)
    assert two["method"] == "bootstrap:seeds+repeats" and two["n"] == 10
    assert falls({"high": 0.1}, {"low": 0.2}) and not falls({"high": 0.3}, {"low": 0.2})
    assert not falls({"high": None}, {"low": None}) and falls({"high": 0.9}, {"low": None})
    with pytest.raises(ValueError, match="mass must be"):
        lambda_interval(lam, np.zeros((5, 99)), 0.5)


def _models(table, h=0.05):
    return [{"sigma": s, "lambda": lam, "accuracy": a, "accuracy_low": max(0.0, a - h), "accuracy_high": min(1.0, a + h)}
            for s, rows in table.items() for lam, a in rows]


def test_model_verdict(perc):
    p = perc
    good = _models({0.3: [(0.2, 0.0), (0.6, 0.2), (1.0, 0.9)], 1.0: [(0.2, 0.1), (0.6, 0.8), (1.0, 0.95)]})
    assert p.model_verdict(good) == (True, [])
    th = p.model_thresholds(good)
    assert th[1.0]["low"] <= th[1.0]["estimate"] <= th[1.0]["high"] < th[0.3]["low"]
    bad = _models({0.3: [(0.2, 0.7), (0.6, 0.8), (1.0, 0.9)], 1.0: [(0.2, 0.1), (0.6, 0.2), (1.0, 0.95)]})
    assert p.model_verdict(bad)[0] is False
    # the same point estimates but wide accuracy bands: the thresholds' intervals overlap, not decided -> fail
    wide = _models({0.3: [(0.2, 0.0), (0.6, 0.45), (1.0, 0.9)], 1.0: [(0.2, 0.1), (0.6, 0.55), (1.0, 0.95)]}, h=0.2)
    assert p.model_verdict(wide)[0] is False
    unlearned = _models({0.3: [(0.2, 0.0), (1.0, 0.1)], 1.0: [(0.2, 0.1), (1.0, 0.9)]})
    assert p.model_verdict(unlearned)[0] is False
    assert p.model_verdict([])[0] is None


def test_mean_model_rows_intervals():
    from hidcap.experiments.percolation_runs import mean_model_rows

    rows = [{"sigma": 0.3, "lambda": 1.0, "accuracy": a, "correct": np.arange(20) < 20 * a} for a in (0.5, 0.7)]
    (m,) = mean_model_rows(rows)
    assert m["accuracy"] == pytest.approx(0.6) and m["interval_method"] == "bootstrap:seeds+samples"
    assert m["accuracy_low"] < 0.6 < m["accuracy_high"] and m["accuracy_std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    (one,) = mean_model_rows(rows[:1])
    assert one["interval_method"] == "wilson" and one["accuracy_std"] == 0.0
    (bare,) = mean_model_rows([{k: v for k, v in r.items() if k != "correct"} for r in rows])
    assert bare["accuracy_low"] is None


# ------------------------------------------------------------------------------------------ configs
def test_scales_and_full_config(perc):
    p = perc
    full = p.percolation_scale("full")
    assert full.shape == (32, 32) and full.repeats == 5 and full.train_models
    assert p.percolation_scale("quick").train_models is False
    with pytest.raises(ValueError, match="unknown scale"):
        p.percolation_scale("huge")
    from hidcap import scales
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

