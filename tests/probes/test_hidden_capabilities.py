"""probes/hidden_capabilities.py: a tiny run end to end, the verdict file, the figures, and the pure helpers."""
import csv
import json
import os

import numpy as np
import pytest

from hidcap.evaluation.capability import CapabilityTable
from hidcap.experiments import capability as exp

from .conftest import read_verdict

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
    assert record["passed"] in (True, False, None)
    assert record["verdict"] == {True: "pass", False: "fail", None: "undetermined"}[record["passed"]]
    assert "strictly earlier" in record["criterion"] and "Fig. 6" in record["paper"]
    m = record["measured"]
    assert set(m) >= {"settings", "criterion_a", "criterion_b", "seeds", "probe_heldout_accuracy"}
    assert set(m["seeds"]) == {"0", "1"}
    a, b = m["criterion_a"], m["criterion_b"]
    # (a) and (b) partition the seeds, and the overall verdict combines them
    assert sorted(a["compared"] + a["capability_only"] + a["neither"]) == [0, 1]
    assert sorted(b["coincide"] + b["apart"] + b["no_turn"]) == [0, 1]
    expected = False if False in (a["passed"], b["passed"]) else True if a["passed"] is b["passed"] is True else None
    assert record["passed"] is expected


def test_per_seed_numbers_are_consistent(tiny_run):
    _, record = tiny_run
    st = record["measured"]["settings"]
    for r in record["measured"]["seeds"].values():
        steps = r["steps"]
        assert steps == sorted(steps) and steps[0] == 0 and len(steps) == st["checkpoints"] + 1
        curves = {k: np.array(v, dtype=float) for k, v in r["curves"].items()}
        assert set(curves) == {"naive", "overprompt", "intervention", "patch", "capability", "behaviour"}
        assert all(v.shape == (len(steps),) and ((v >= 0) & (v <= 1)).all() for v in curves.values())
        np.testing.assert_allclose(curves["behaviour"], curves["naive"])
        best = np.max([curves[p] for p in ("naive", "overprompt", "intervention", "patch")], axis=0)
        np.testing.assert_allclose(curves["capability"], best)
        assert np.array(r["trajectory_11"]).shape == (len(steps), 2)
        assert len(r["disentanglement"]) == len(steps) and all(0 <= d <= 1 for d in r["disentanglement"])
        for key, i in r["onset_index"].items():
            assert (i is None) == (r["onset_step"][key] is None)
            if i is not None:
                assert r["onset_step"][key] == steps[i] and curves[key][i] >= st["threshold"]
                assert (curves[key][:i] < st["threshold"]).all()


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
        # 1 naive + 2 overprompt colours + 2x1 (alpha, beta) pairs + 1 patch, at every checkpoint
        assert len(variants) == 6 * len(r["steps"])
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
    again = hc.main(["--tiny", "--out", str(out), "--no-progress", "--seeds", "0", "1"])
    assert again["measured"] == record["measured"] and again["figures"] == record["figures"]


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("argv, message", [
    (["--separation", "1.5"], "argument --separation: colour separation must be in (0, 1], got 1.5"),
    (["--separation", "0"], "argument --separation: colour separation must be in (0, 1], got 0"),
    (["--separation", "blue"], "invalid float value"),
    (["--seeds", "3", "3"], "must not repeat"),
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
    assert hc.quick_scale().strict_probe and hc.DEFAULT_SEEDS["quick"] == (0, 1, 2, 3)
    assert [c[2] for c in quick.protocols()[1].colors] == [0.75, 0.85, 0.95]  # bluer than the 0.7 blue prompt
    UNet(qcfg.model)


# ------------------------------------------------------------------------------------------ pure helpers


def test_neighbour_corners(hc):
    corners = exp.neighbour_corners("11", ("00", "01", "10"))
    assert set(corners) == {"01", "10"}
    np.testing.assert_array_equal(corners["01"], [0.0, 1.0])


def test_judge_capability_first(hc):
    ok = hc.judge_capability_first({0: {"capability": 2, "behaviour": 4}, 1: {"capability": 3, "behaviour": None},
                                    2: {"capability": None, "behaviour": None}})
    assert ok["passed"] is True and ok["capability_first"] == [0] and ok["capability_only"] == [1] and ok["neither"] == [2]
    same = hc.judge_capability_first({0: {"capability": 2, "behaviour": 4}, 1: {"capability": 3, "behaviour": 3}})
    assert same["passed"] is False and same["not_first"] == [1]
    none = hc.judge_capability_first({0: {"capability": 2, "behaviour": None}})
    assert none["passed"] is None and none["capability_only"] == [0]
    with pytest.raises(ValueError, match="capability >= behaviour"):
        hc.judge_capability_first({0: {"capability": None, "behaviour": 1}})


def test_judge_turn(hc):
    ok = hc.judge_turn({0: {"turn": 5, "capability": 6}, 1: {"turn": None, "capability": 2}}, tolerance=1)
    assert ok["passed"] is True and ok["coincide"] == [0] and ok["no_turn"] == [1] and ok["offsets"] == {0: 1}
    far = hc.judge_turn({0: {"turn": 5, "capability": 9}, 1: {"turn": 4, "capability": None}}, tolerance=2)
    assert far["passed"] is False and far["apart"] == [0, 1] and far["offsets"] == {0: 4, 1: None}
    assert hc.judge_turn({0: {"turn": None, "capability": 1}}, tolerance=2)["passed"] is None
    with pytest.raises(ValueError, match="tolerance"):
        hc.judge_turn({}, tolerance=-1)




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
