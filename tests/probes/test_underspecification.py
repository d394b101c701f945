"""probes/underspecification.py: a tiny end-to-end run, its tables and figures, bad input, and the pure helpers."""
import csv

import numpy as np
import pytest

from hidcap.experiments.verdicts import combine_verdicts

from .conftest import read_verdict
from .test_concept_signal import png_ok


@pytest.fixture(scope="module")
def us(probe_module):
    return probe_module("underspecification")


@pytest.fixture(scope="module")
def tiny(us, tmp_path_factory):
    out = tmp_path_factory.mktemp("underspecification")
    record = us.main(["--tiny", "--out", str(out), "--no-progress"])
    return out, record


# ------------------------------------------------------------------------------------------ end to end
def test_tiny_verdict_fields(us, tiny):
    out, record = tiny
    assert read_verdict(out) == record
    assert record["probe"] == "underspecification" and record["scale"] == "tiny" and record["seeds"] == [0]
    assert record["passed"] in (True, False, None)
    assert record["verdict"] == {True: "pass", False: "fail", None: "undetermined"}[record["passed"]]
    assert "delay" in record["criterion"] and "bend" in record["criterion"]
    assert "Fig. 8" in record["paper"]
    m = record["measured"]
    assert m["fractions"] == list(us.FRACTIONS["tiny"])
    assert m["delay"]["n_runs"] == len(m["runs"]) == len(us.FRACTIONS["tiny"])
    assert set(m["per_fraction"]) == {f"{a:g}" for a in us.FRACTIONS["tiny"]}
    for r in m["runs"]:
        assert r["steps"][-1] == m["training_steps"] and len(r["accuracy"]) == len(r["steps"])
        assert 0.0 <= r["end_color"] <= 1.0
        assert r["end_color"] == pytest.approx(np.mean([p[0] for p in r["trajectory"][-us.END_CHECKPOINTS:]]))


def test_tiny_verdict_follows_its_numbers(us, tiny):
    _, record = tiny
    m = record["measured"]
    alphas = [r["level"] for r in m["runs"]]
    delay, rho_t = us.rank_verdict(alphas, [r["learning_time"] for r in m["runs"]], sign=+1)
    bend, rho_c = us.bend_verdict(alphas, [r["end_color"] for r in m["runs"]])
    assert m["bend"]["end_color_at_smallest_alpha"] == pytest.approx(
        np.mean([r["end_color"] for r in m["runs"] if r["level"] == min(alphas)]))
    assert m["delay"]["passed"] == delay and m["bend"]["passed"] == bend
    assert record["passed"] == combine_verdicts([delay, bend])
    assert m["bend"]["spearman_rho"] == (None if rho_c is None else pytest.approx(rho_c))
    color_delay, _ = us.rank_verdict(alphas, [r["concept_learning_time"]["color"] for r in m["runs"]], sign=+1)
    assert m["color_concept_delay"]["passed"] == color_delay
    for a in m["fractions"]:
        assert m["per_fraction"][f"{a:g}"]["toy_target_color"] == pytest.approx(1 - a)


def test_tables_match_verdict(tiny):
    out, record = tiny
    runs = record["measured"]["runs"]
    with (out / "runs.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(runs)
    for row, r in zip(rows, runs):
        assert float(row["alpha"]) == r["level"] and int(row["seed"]) == r["seed"]
        assert float(row["end_color"]) == pytest.approx(r["end_color"], abs=1e-6)
        assert float(row["final_accuracy"]) == pytest.approx(r["final_accuracy"], abs=1e-6)
        assert (row["learning_time"] or None) == (None if r["learning_time"] is None else str(r["learning_time"]))
    with (out / "curves.csv").open() as f:
        curves = list(csv.DictReader(f))
    assert {"p_color", "p_shape"} <= set(curves[0])
    for r in runs:
        mine = [c for c in curves if float(c["alpha"]) == r["level"] and c["class"] == "11"]
        assert [int(c["step"]) for c in mine] == r["steps"]
        np.testing.assert_allclose([float(c["joint"]) for c in mine], r["accuracy"], atol=1e-6)
        np.testing.assert_allclose([[float(c["p_color"]), float(c["p_shape"])] for c in mine], r["trajectory"],
                                   atol=1e-6)


def test_masking_reaches_the_training_data(us, tiny):
    """The run of alpha = 1 was trained with every red triangle's colour slot zeroed, alpha = 0 with none."""
    from hidcap.runs import CheckpointSeries
    from hidcap.data import COND_LAYOUT

    out, record = tiny
    for r in record["measured"]["runs"]:
        steps = record["measured"]["training_steps"]
        series = CheckpointSeries(out / "runs" / f"mask{r['level']:g}_steps{steps}_seed0")
        spec = series.config.data
        assert spec.concepts == ("color", "shape") and spec.train_classes == ("00", "01", "10")
        data = spec.build(0)
        red_triangles = data.classes == spec.train_classes.index("01")
        zeroed = (data.cond[red_triangles][:, COND_LAYOUT["color"]] == 0).all(dim=1).float().mean().item()
        assert zeroed == pytest.approx(r["level"])


def test_figures_written(us, tiny):
    out, record = tiny
    expected = {"learning_time.png", "accuracy.png", "trajectories.png"} | {
        f"concept_space_a{a:g}.png" for a in us.FRACTIONS["tiny"]}
    assert set(record["figures"]) == expected
    for name in expected:
        png_ok(out / name)


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "argv, message",
    [
        (["--fractions", "0.5"], "at least two levels"),
        (["--fractions", "0", "1.5"], "[0, 1]"),
        (["--fractions", "-0.25", "1"], "[0, 1]"),
        (["--fractions", "0", "0"], "must not repeat"),
        (["--threshold", "0"], "--threshold"),
        (["--steps", "-3"], "--steps"),
    ],
)
def test_bad_values_raise(us, tmp_path, argv, message):
    with pytest.raises(ValueError) as err:
        us.main(["--tiny", "--out", str(tmp_path), "--no-progress", *argv])
    assert message in str(err.value)


def test_bad_options_are_usage_errors(us, tmp_path, capsys):
    with pytest.raises(SystemExit):
        us.main(["--tiny", "--out", str(tmp_path), "--fractions", "half"])
    assert "invalid float value" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        us.main(["--tiny", "--quick", "--out", str(tmp_path)])
    assert "not allowed with" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ configs
def test_full_configs_are_valid(us):
    from hidcap.data import Masking

    assert us.FRACTIONS["full"] == (0.0, 0.25, 0.5, 0.75, 1.0) and len(us.SEEDS["full"]) >= 3
    scale = us.concept_scale("full")
    for a in us.FRACTIONS["full"]:
        spec = us.run_spec(scale, a)
        assert spec.masks == (Masking(concept="color", class_bits="01", fraction=a),)
        cfg = scale.train_config(spec, 1, "cuda", steps=us.STEPS["full"] or scale.steps)
        assert cfg.steps == 20000 and cfg.model.image_size == spec.image_size == 32
        assert spec.concepts == ("color", "shape") and spec.test_classes == ("11",)
    quick = us.concept_scale("quick")
    for a in us.FRACTIONS["quick"]:
        cfg = quick.train_config(us.run_spec(quick, a), 0, "cpu")
        assert cfg.data.masks[0].fraction == a


# ------------------------------------------------------------------------------------------ pure helpers
def test_end_color(us):
    traj = [[0.9, 1.0], [0.8, 1.0], [0.5, 1.0], [0.3, 1.0], [0.1, 1.0]]
    assert us.end_color(traj) == pytest.approx(0.3)
    assert us.end_color(traj, last=1) == pytest.approx(0.1)
    assert us.end_color(traj[:2]) == pytest.approx(0.85)  # fewer checkpoints than asked: all of them
    with pytest.raises(ValueError):
        us.end_color([])
    with pytest.raises(ValueError, match="last"):
        us.end_color(traj, last=0)


@pytest.mark.parametrize(
    "colors, passed",
    [
        ([0.9, 0.6, 0.2], True),     # bluer without masking, redder with: bends
        ([0.6, 0.7, 0.9], False),    # bluer with more masking
        ([0.7, 0.7, 0.7], None),     # rho undefined
        ([0.9, 0.2, 0.5], True),
        ([0.3, 0.2, 0.1], None),     # never blue, even unmasked: nothing to bend
    ],
)
def test_bend_verdict(us, colors, passed):
    got, rho = us.bend_verdict([0.0, 0.5, 1.0], colors)
    assert got is passed
    if passed is not None:
        assert (rho < 0) is passed


def test_bend_verdict_uses_the_smallest_fraction_over_seeds(us):
    # two seeds at alpha 0 (mean 0.55 >= 0.5) and at alpha 1
    assert us.bend_verdict([0.0, 0.0, 1.0, 1.0], [0.7, 0.4, 0.3, 0.2])[0] is True
    assert us.bend_verdict([0.0, 0.0, 1.0, 1.0], [0.5, 0.4, 0.3, 0.2])[0] is None
    assert us.bend_verdict([0.0, 1.0], [0.9, 0.2], blue_at_start=0.95)[0] is None
    with pytest.raises(ValueError, match="same length"):
        us.bend_verdict([0.0, 1.0], [0.5])


def test_fit_line(us):
    a, s = us.fit_line([0, 0.5, 1], [1.0, 0.5, 0.0])
    assert a == pytest.approx(1.0) and s == pytest.approx(1.0)
    assert us.fit_line([0.5, 0.5], [1, 0]) is None
