"""probes/underspecification.py: a tiny end-to-end run, its tables and figures, bad input, and the pure helpers."""
import csv
import json

import numpy as np
import pytest

from hidcap.experiments.level_sweeps import saved_runs

from .conftest import assert_smoke_and_decide, read_verdict
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
    text = " ".join(record["criterion"])
    assert "delay" in text and "bend" in text and "above 0.8)" in text
    assert "not decided counts as fail" in text and record["outcome"] in ("pass", "fail")
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
    assert m["bend"]["end_color_at_smallest_alpha"] == pytest.approx(
        np.mean([r["end_color"] for r in m["runs"] if r["level"] == min(alphas)]))
    p = m["parts"]
    passed = all(p[k] for k in ("1_learned_at_low", "2_pooled_delay", "3_no_seed_against", "4_bend"))
    assert record["outcome"] == ("pass" if passed else "fail")
    assert p["low_alpha"] == min(alphas) and p["high_alpha"] == max(alphas)
    color_delay, _ = us.rank_verdict(alphas, [r["concept_learning_time"]["color"] for r in m["runs"]], sign=+1)
    assert m["color_concept_delay"]["passed"] == color_delay
    for a in m["fractions"]:
        assert m["per_fraction"][f"{a:g}"]["toy_target_color"] == pytest.approx(1 - a)
    for r in m["runs"]:  # onset and end-colour intervals per run
        assert r["onset"]["estimate"] == r["learning_time"]
        iv = r["end_color_interval"]
        assert iv["method"] == "wilson" and 0.0 <= iv["low"] <= iv["estimate"] <= iv["high"] <= 1.0


def _table(onset, blue_end, seed, n=32):
    """Synthetic class-11 table: learned from ``onset`` (None: never); the last 3 checkpoints have a share
    ``blue_end`` of samples read blue."""
    from hidcap.evaluation.concept_scores import ConceptSpace

    steps, rng = list(range(0, 1100, 100)), np.random.default_rng(seed)
    correct = {}
    for i, s in enumerate(steps):
        c = np.ones((n, 2), bool) if onset is not None and s >= onset else rng.random((n, 2)) < 0.2
        if i >= len(steps) - 3:
            c[:, 0] = np.arange(n) < round(blue_end * n)
        correct[(s, "11")] = c
    acc = [{"step": s, "class": "11", "joint": float(correct[(s, "11")].all(1).mean()), "additive": 0.0,
            "n_samples": n} for s in steps]
    return ConceptSpace(("color", "size"), [], acc, correct)


@pytest.mark.parametrize(
    "lo, hi, passed, failing",
    [
        (((200, 1.0),) * 3, ((None, 0.1),) * 3, True, []),                            # delayed and red
        (((200, 1.0),) * 3, ((200, 1.0),) * 3, False, ["2_pooled_delay", "4_bend"]),  # masking changes nothing
        (((200, 1.0),) * 3, ((800, 1.0),) * 3, False, ["4_bend"]),                     # delayed, not bent
        (((None, 0.1),) * 3, ((None, 0.1),) * 3, False, ["1_learned_at_low", "2_pooled_delay", "4_bend"]),
        # one seed the other way round: the pooled delay is not decided and that seed is against it
        (((200, 1.0), (200, 1.0), (700, 1.0)), ((700, 1.0), (700, 1.0), (200, 1.0)), False,
         ["2_pooled_delay", "3_no_seed_against", "4_bend"]),
    ],
)
def test_decide_on_synthetic_runs(us, lo, hi, passed, failing):
    runs = [us.Run(a, seed, None, _table(t, b, 100 * seed + int(10 * a)), 1000)
            for a, pairs in ((0.0, lo), (1.0, hi)) for seed, (t, b) in enumerate(pairs)]
    got, parts = us.judge([0.0, 1.0], runs)
    assert got is passed
    assert [k for k in ("1_learned_at_low", "2_pooled_delay", "3_no_seed_against", "4_bend") if not parts[k]] == failing
    with pytest.raises(ValueError, match="no run for"):
        us.judge([0.0, 0.5], runs)
    # decide reads the same runs from saved measurements (JSON) and gives the same verdict
    saved = json.loads(json.dumps({"params": {"threshold": 0.8}, "data": {
        "fractions": [0.0, 1.0], "runs": saved_runs(runs, [0.0, 1.0])}}))
    verdict = us.decide(saved)
    assert verdict.passed is passed and verdict.parts["parts"] == json.loads(json.dumps(parts))


def test_tiny_is_smoke_and_decide_reproduces_it(us, tiny):
    out, record = tiny
    assert_smoke_and_decide(us, out, record)


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
        spec = us.run_spec(scale, a, "full")
        assert spec.masks == (Masking(concept="color", class_bits="01", fraction=a),)
        cfg = scale.train_config(spec, 1, "cuda", steps=us.STEPS["full"] or scale.steps)
        assert cfg.steps == 20000 and cfg.model.image_size == spec.image_size == 32
        assert spec.concepts == ("color", "shape") and spec.test_classes == ("11",)
    quick = us.concept_scale(us.SCALE["quick"])
    assert len(us.SEEDS["quick"]) >= 3 and quick.image_size == 8
    for a in us.FRACTIONS["quick"]:
        cfg = quick.train_config(us.run_spec(quick, a, "quick"), 0, "cpu")
        assert cfg.data.masks[0].fraction == a and cfg.data.concepts == ("color", "size")


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


def test_fit_line(us):
    a, s = us.fit_line([0, 0.5, 1], [1.0, 0.5, 0.0])
    assert a == pytest.approx(1.0) and s == pytest.approx(1.0)
    assert us.fit_line([0.5, 0.5], [1, 0]) is None
