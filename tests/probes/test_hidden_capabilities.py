"""probes/hidden_capabilities.py: a tiny run end to end, the verdict file, the figures, and the pure helpers."""
import csv
import json
import os

import numpy as np
import pytest

from hidcap.evaluation.elicitation import CapabilityTable
from hidcap.experiments import capability as exp

from .conftest import assert_smoke_and_decide, read_verdict

FIGURES = ("fig6_protocols.png", "per_seed.png", "capability_vs_behaviour.png", "concept_space_11.png",
           "concept_space_seed0.png", "disentanglement.png")


@pytest.fixture(scope="module")
def hc(probe_module):
    return probe_module("hidden_capabilities")


@pytest.fixture(scope="module")
def tiny_run(hc, tmp_path_factory):
    """One tiny run with two seeds, written to a *relative* --out (figure paths must still resolve)."""
    base = tmp_path_factory.mktemp("hidden_capabilities")
    cwd = os.getcwd()
    os.chdir(base)
    try:
        record = hc.main(["--tiny", "--out", "tiny", "--no-progress", "--seeds", "0", "1"])
    finally:
        os.chdir(cwd)
    return base / "tiny", record


# ------------------------------------------------------------------------------------------ the tiny run
def test_verdict_file(tiny_run):
    out, record = tiny_run
    on_disk = read_verdict(out)
    assert on_disk == record
    assert record["probe"] == "hidden_capabilities" and record["scale"] == "tiny" and record["seeds"] == [0, 1]
    assert record["verdict"] == "smoke" and record["passed"] is None
    text = " ".join(record["criterion"])
    assert "beyond the intervals" in text and "fresh samples" in text and "{" not in text
    assert "Fig. 6" in record["paper"]
    m = record["measured"]
    assert set(m) >= {"settings", "criterion_a", "criterion_b", "criterion_c", "seed_margins", "pooled", "seeds",
                      "probe_heldout_accuracy", "controls"}
    assert set(m["seeds"]) == {"0", "1"}
    a, b, c = m["criterion_a"], m["criterion_b"], m["criterion_c"]
    # (a), (b) and (c) partition the seeds, and the overall verdict combines them
    assert sorted(a["earlier"] + a["later"] + a["not_decided"]) == [0, 1]
    assert sorted(b["coincide"] + b["apart"] + b["not_decided"] + b["no_turn"]) == [0, 1]
    assert sorted(c["beats"] + c["fails"] + c["no_control"] + c["no_onset"]) == [0, 1]
    verdicts = (a["passed"], b["passed"], c["passed"])
    expected = False if False in verdicts else True if all(v is True for v in verdicts) else None
    assert record["outcome"] == {True: "pass", False: "fail", None: "undetermined"}[expected]
    # across-seed margins: per-seed values, spread, and whether the spread decides the margin
    gap = m["seed_margins"]["capability_minus_behaviour"]
    assert gap["spread"]["seeds"] == [0, 1] and len(gap["spread"]["values"]) == 2
    assert gap["decided"] == (abs(gap["margin"]) > gap["spread"]["std"])
    assert set(m["pooled"]["onset"]) == {"capability", "behaviour"}


def test_tiny_is_smoke_and_decide_reproduces_it(hc, tiny_run):
    out, record = tiny_run
    assert_smoke_and_decide(hc, out, record)


def test_per_seed_numbers_are_consistent(tiny_run):
    _, record = tiny_run
    st = record["measured"]["settings"]
    for r in record["measured"]["seeds"].values():
        steps = r["steps"]
        assert steps == sorted(steps) and steps[0] == 0 and len(steps) == st["checkpoints"] + 1
        curves = {k: np.array(v, dtype=float) for k, v in r["curves"].items()}
        # selection-set curves (biased max, kept for the record), controls included but never in capability
        assert set(curves) == {"naive", "overprompt", "intervention", "patch", "capability", "behaviour",
                               "overprompt-control", "intervention-control", "intervention-other-concept-control",
                               "patch-control"}
        assert all(v.shape == (len(steps),) and ((v >= 0) & (v <= 1)).all() for v in curves.values())
        np.testing.assert_allclose(curves["behaviour"], curves["naive"])
        best = np.max([curves[p] for p in ("naive", "overprompt", "intervention", "patch")], axis=0)
        np.testing.assert_allclose(curves["capability"], best)
        assert np.array(r["trajectory_11"]).shape == (len(steps), 2)
        assert len(r["disentanglement"]) == len(steps) and all(0 <= d <= 1 for d in r["disentanglement"])
        # every accuracy carries a 95 % interval: fresh curves of protocols, controls, capability, behaviour
        fresh = r["fresh"]
        assert set(fresh) == {"naive", "overprompt", "intervention", "patch", "overprompt-control",
                              "intervention-control", "patch-control", "capability", "behaviour"}
        for name, f in fresh.items():
            est, low, high = (np.array(f[k]) for k in ("estimate", "low", "high"))
            assert est.shape == low.shape == high.shape == (len(steps),) and f["n"] == st["samples_per_variant"]
            assert ((low <= est) & (est <= high) & (low >= 0) & (high <= 1)).all(), name
            assert len(f["variant"]) == len(steps)
        assert fresh["behaviour"]["estimate"] == fresh["naive"]["estimate"]
        assert all(v.startswith("intervention-control[") for v in fresh["intervention-control"]["variant"])
        assert set(r["selection"]) >= {"overprompt", "overprompt-control"}
        for name, iv in r["final"].items():
            assert iv["low"] <= iv["estimate"] <= iv["high"] and iv["method"] == "wilson", name
        cs = r["naive_accuracy_concept_space"]
        assert all(lo <= e <= hi for lo, e, hi in zip(cs["low"], cs["estimate"], cs["high"]))
        # onsets on fresh samples, with bootstrap intervals; "earlier" is decided on them
        for key, i in r["onset_index"].items():
            on = r["onset"][key]
            assert on["estimate"] == r["onset_step"][key] and on["n_boot"] == 2000
            assert (i is None) == (r["onset_step"][key] is None)
            if i is not None:
                assert r["onset_step"][key] == steps[i] and fresh[key]["estimate"][i] >= st["threshold"]
                assert (np.array(fresh[key]["estimate"][:i]) < st["threshold"]).all()
                assert on["low"] is not None and on["low"] <= on["estimate"]
        assert isinstance(r["capability_earlier"], bool)
        for p, ck in r["controls_by_checkpoint"].items():
            assert len(ck["beats"]) == len(ck["control_beats"]) == len(steps)
            assert not any(x and y for x, y in zip(ck["beats"], ck["control_beats"]))


def test_tables_match_the_verdict(tiny_run):
    out, record = tiny_run
    for seed in ("0", "1"):
        r = record["measured"]["seeds"][seed]
        with open(out / f"seed{seed}" / "capability.csv") as f:
            rows = sorted(csv.DictReader(f), key=lambda row: int(row["step"]))
        assert [int(row["step"]) for row in rows] == r["steps"]
        np.testing.assert_allclose([float(row["behaviour"]) for row in rows], r["curves"]["behaviour"])
        np.testing.assert_allclose([float(row["capability"]) for row in rows], r["curves"]["capability"])
        with open(out / f"seed{seed}" / "capability_variants.csv") as f:
            variants = list(csv.DictReader(f))
        # 1 naive + 2 overprompt colours + 2x1 (alpha, beta) pairs + 1 patch, and their 2 + (2 + 2) + 1 controls
        assert len(variants) == 13 * len(r["steps"])
        with open(out / f"seed{seed}" / "capability_fresh.csv") as f:
            fresh = list(csv.DictReader(f))
        # one fresh row per protocol and control (its chosen variant) at every checkpoint
        assert len(fresh) == 8 * len(r["steps"])
        np.testing.assert_allclose([float(row["capability_fresh"]) for row in rows],
                                   r["fresh"]["capability"]["estimate"])
        space = json.loads((out / f"seed{seed}" / "concept_space.json").read_text())
        pts = {(p["step"], p["concept"]): p["value"] for p in space["points"] if p["class"] == "11"}
        traj = [[pts[(s, "color")], pts[(s, "size")]] for s in r["steps"]]
        np.testing.assert_allclose(traj, r["trajectory_11"])


def test_figures_are_real_pngs(tiny_run):
    from matplotlib.image import imread

    out, record = tiny_run
    assert sorted(record["figures"]) == sorted(FIGURES)
    for name in FIGURES:
        path = out / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        img = imread(path)
        assert img.shape[0] > 200 and img.shape[1] > 300 and float(img[..., :3].std()) > 0.02, name


def test_rerun_reuses_the_runs(hc, tiny_run):
    out, record = tiny_run
    first = json.loads((out / "runs" / "summary.json").read_text())  # both seeds in one train_all call
    assert [r["run"].rsplit("_", 1)[1] for r in first] == ["seed0", "seed1"]
    assert all(r["run"].startswith("sep0.4_") and r["status"] in ("done", "skipped") for r in first)
    again = hc.main(["--tiny", "--out", str(out), "--no-progress", "--seeds", "0", "1"])
    assert again["measured"] == record["measured"] and again["figures"] == record["figures"]
    summary = json.loads((out / "runs" / "summary.json").read_text())
    assert [(r["run"], r["status"]) for r in summary] == [(r["run"], "skipped") for r in first]  # nothing trained


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("argv, message", [
    (["--separation", "1.5"], "argument --separation: colour separation must be in (0, 1], got 1.5"),
    (["--separation", "0"], "argument --separation: colour separation must be in (0, 1], got 0"),
    (["--separation", "blue"], "invalid float value"),
    (["--seeds", "3", "3"], "must not repeat"),
    (["--seeds", "3"], "needs at least 2 seeds"),
    (["--colour", "0.3"], "unrecognized arguments"),
])
def test_bad_command_lines(hc, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        hc.main(["--tiny", "--out", str(tmp_path), "--no-progress", *argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_settings_reject_bad_values(hc):
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        hc.settings("huge")
    with pytest.raises(ValueError, match="colour separation"):
        hc.settings("quick", separation=1.2)
    st = hc.settings("quick")
    with pytest.raises(ValueError, match="tolerance"):
        type(st)(**{**st.__dict__, "tolerance": -1})
    with pytest.raises(ValueError, match="radius"):
        type(st)(**{**st.__dict__, "radius": 0.5})


# ------------------------------------------------------------------------------------------ the scales' configs
def test_full_and_quick_configs_are_valid(hc):
    from hidcap.diffusion import VDMConfig
    from hidcap.models import UNet

    full = hc.settings("full")
    cfg = full.scale.train_config(full.spec(), seed=3, device="cpu")
    assert cfg.steps == 20000 and cfg.batch_size == 64 and cfg.checkpoints.count == 60 and cfg.seed == 3
    assert isinstance(cfg.diffusion, VDMConfig) and cfg.model.channels == (64, 128, 256)
    assert cfg.data.image_size == 32 and cfg.data.images_per_class == 2048 and cfg.data.color_separation == 0.3
    protocols = {p.name: p for p in full.protocols()}
    assert set(protocols) == {"naive", "overprompt", "intervention", "patch"}
    assert len(protocols["overprompt"].colors) == 5
    assert protocols["intervention"].alphas == (0.1, 1.0, 2.0, 4.0)
    assert protocols["intervention"].betas == (0.1, 0.25, 0.5, 1.0)
    assert full.samples == 64 and full.sample_steps == 50 and hc.DEFAULT_SEEDS["full"] == (0, 1, 2, 3, 4)
    UNet(cfg.model)  # the paper's architecture builds

    quick = hc.settings("quick", separation=0.35)
    qcfg = quick.scale.train_config(quick.spec(), seed=0, device="cpu")
    assert qcfg.data.color_separation == 0.35 and qcfg.model.image_size == 8 == qcfg.data.image_size
    assert qcfg.steps == 1500 and qcfg.checkpoints.spacing == "linear" and qcfg.diffusion.beta_end == 0.1
    assert hc.concept_scale("hidden-capabilities-quick").strict_probe and hc.DEFAULT_SEEDS["quick"] == (0, 1, 2, 3)
    assert [c[2] for c in quick.protocols()[1].colors] == [0.75, 0.85, 0.95]  # bluer than the 0.7 blue prompt
    UNet(qcfg.model)


# ------------------------------------------------------------------------------------------ pure helpers


def test_neighbour_corners(hc):
    corners = exp.neighbour_corners("11", ("00", "01", "10"))
    assert set(corners) == {"01", "10"}
    np.testing.assert_array_equal(corners["01"], [0.0, 1.0])


def _onset(estimate, low, high):
    from hidcap.evaluation.onsets import OnsetInterval

    return OnsetInterval(estimate, low, high, never=0.0, n=24, n_boot=2000, method="bootstrap:samples")


def test_judge_capability_first(hc):
    never = _onset(None, None, None)
    ok = hc.judge_capability_first({0: {"capability": _onset(2, 1, 3), "behaviour": _onset(6, 5, 8)},
                                    1: {"capability": _onset(3, 2, 3), "behaviour": never}})
    assert ok["passed"] is True and ok["earlier"] == [0, 1] and ok["behaviour_reached"] == [0]
    # overlapping intervals: not decided, even though the point estimates differ
    close = hc.judge_capability_first({0: {"capability": _onset(2, 1, 4), "behaviour": _onset(5, 4, 8)}})
    assert close["passed"] is None and close["not_decided"] == [0]
    late = hc.judge_capability_first({0: {"capability": _onset(2, 1, 3), "behaviour": _onset(6, 5, 8)},
                                      1: {"capability": _onset(9, 8, None), "behaviour": _onset(3, 2, 4)}})
    assert late["passed"] is False and late["later"] == [1]
    only = hc.judge_capability_first({0: {"capability": _onset(2, 1, 3), "behaviour": never}})
    assert only["passed"] is None and only["earlier"] == [0] and only["behaviour_reached"] == []
    # capability open-ended: never earlier
    assert hc.judge_capability_first({0: {"capability": _onset(2, 1, None), "behaviour": never}})["not_decided"] == [0]


def test_judge_turn(hc):
    ok = hc.judge_turn({0: {"turn": 5, "low": 4, "high": 6}, 1: {"turn": None, "low": 2, "high": 2}}, tolerance=1)
    assert ok["passed"] is True and ok["coincide"] == [0] and ok["no_turn"] == [1] and ok["offsets"] == {0: [-1, 1]}
    wide = hc.judge_turn({0: {"turn": 5, "low": 4, "high": 9}}, tolerance=1)
    assert wide["passed"] is None and wide["not_decided"] == [0]
    far = hc.judge_turn({0: {"turn": 5, "low": 8, "high": 9}, 1: {"turn": 4, "low": None, "high": None},
                         2: {"turn": 9, "low": 1, "high": 3}}, tolerance=2)
    assert far["passed"] is False and far["apart"] == [0, 1, 2] and far["offsets"][1] == [None, None]
    assert hc.judge_turn({0: {"turn": None, "low": 1, "high": 1}}, tolerance=2)["passed"] is None
    with pytest.raises(ValueError, match="tolerance"):
        hc.judge_turn({}, tolerance=-1)


def test_judge_controls(hc):
    ok = hc.judge_controls({0: {"beats": True}, 1: None, 2: {"beats": None}})
    assert ok["passed"] is True and ok["beats"] == [0] and ok["no_onset"] == [1] and ok["no_control"] == [2]
    # a control that does as well as the protocol fails the claim
    bad = hc.judge_controls({0: {"beats": True}, 1: {"beats": False}})
    assert bad["passed"] is False and bad["fails"] == [1]
    assert hc.judge_controls({0: None})["passed"] is None


def test_controls_at_onset_fail_when_the_control_is_as_good(hc):
    """A control equal to the protocol must fail the claim; a clearly worse one must not."""
    table = CapabilityTable("joint")
    steps = [0, 10]
    table.summary = [{"step": s, "class": "11", "behaviour": 0.0, "capability": 1.0, "best_protocol": "intervention",
                      "best_variant": "intervention[a=4,b=1]"} for s in steps]
    def curve(values):
        return {"estimate": values, "n": 24, "variant": ["v", "v"]}
    same = {"intervention": curve([0.2, 1.0]), "intervention-control": curve([0.2, 1.0])}
    out = exp.controls_at(table, same, steps, 1)
    assert out["protocol"] == "intervention" and out["beats"] is False
    worse = {"intervention": curve([0.2, 1.0]), "intervention-control": curve([0.2, 0.25])}
    out = exp.controls_at(table, worse, steps, 1)
    assert out["beats"] is True and out["real"]["low"] > out["control"]["high"]
    assert exp.controls_at(table, worse, steps, None) is None


def test_protocol_curves(hc):
    table = CapabilityTable("joint")
    for step, naive, over, inter in ((0, 0.0, 0.1, 0.3), (10, 0.5, 0.9, 0.2)):
        table.variants += [
            {"step": step, "class": "11", "protocol": "naive", "variant": "naive", "joint": naive, "additive": 0},
            {"step": step, "class": "11", "protocol": "overprompt", "variant": "o1", "joint": over, "additive": 0},
            {"step": step, "class": "11", "protocol": "overprompt", "variant": "o2", "joint": over / 2, "additive": 0},
            {"step": step, "class": "11", "protocol": "intervention", "variant": "i", "joint": inter, "additive": 0},
        ]
        table.summary.append({"step": step, "class": "11", "behaviour": naive, "capability": max(naive, over, inter),
                              "best_protocol": "", "best_variant": ""})
    steps, curves = exp.protocol_curves(table)
    assert steps.tolist() == [0, 10]
    np.testing.assert_allclose(curves["overprompt"], [0.1, 0.9])
    np.testing.assert_allclose(curves["capability"], [0.3, 0.9])
    np.testing.assert_allclose(curves["behaviour"], [0.0, 0.5])
    with pytest.raises(KeyError, match="'01'"):
        exp.protocol_curves(table, "01")
