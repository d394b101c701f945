"""probes/compose_interpolate.py: a tiny run end to end (three data sets), its figures and section tables, the
section / verdict helpers on hand-made inputs, and the full-scale data and run configuration (built, not trained)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from hidcap.experiments import composition

from .conftest import assert_png

NAME = "compose_interpolate"
FIGURES = ("accuracy_maps.png", "sections.png", "data_and_samples.png")




@pytest.fixture(scope="module")
def ci(probe_module):
    return probe_module(NAME)


@pytest.fixture(scope="module")
def tiny(ci, tmp_path_factory):
    out = tmp_path_factory.mktemp("compose_interpolate")
    record = ci.main(["--tiny", "--out", str(out), "--no-progress"])
    return out, record


# ------------------------------------------------------------------------------------------ tiny run
def test_tiny_verdict_fields(tiny, ci):
    out, record = tiny
    assert json.loads((out / "verdict.json").read_text()) == record
    assert record["probe"] == NAME and record["scale"] == "tiny" and record["seeds"] == [0]
    assert record["passed"] in (True, False, None)
    assert record["verdict"] == {True: "pass", False: "fail", None: "undetermined"}[record["passed"]]
    assert record["criterion"] == ci.CRITERION
    m = record["measured"]
    assert m["kind_2d"] == "sos" and m["datasets"] == ["2d", "1d", "2d+1d"] and m["band"] == [3.0, 5.0]
    assert m["decode_threshold"] == ci.DECODE_THRESHOLD["sos"] == 0.25
    for d in m["datasets"]:
        data = json.loads((out / "runs" / f"sos_{d.replace('+', 'p')}_seed0" / "config.json").read_text())["data"]
        assert data["@kind"] == "ConcatSpec"  # the data sets it trained on, in its config
        assert len(data["specs"]) == len(ci.compose_scale("tiny").specs(d, "sos"))
    # the data sets: 2D has no centre in the band, the stripes cover it
    per = m["per_seed"]
    assert per["2d"]["0"]["training_images"] < per["2d+1d"]["0"]["training_images"]
    # at least the 2D model's steps and epochs
    scale = ci.compose_scale("tiny")
    for d in m["datasets"]:
        assert per[d]["0"]["train_steps"] == scale.steps_for(d) and per[d]["0"]["training_images"] == scale.images(d)
    assert per["2d"]["0"]["train_steps"] == m["train_steps_2d"] == scale.steps
    assert per["1d"]["0"]["train_steps"] == scale.steps
    ratio = scale.images("2d+1d") / scale.images("2d")
    assert per["2d+1d"]["0"]["train_steps"] == max(scale.steps, round(scale.steps * ratio))


def test_tiny_figures(tiny):
    out, record = tiny
    assert record["figures"] == list(FIGURES)
    for name in FIGURES:
        assert_png(out / name)


def test_tiny_tables_are_consistent(tiny, ci):
    _, record = tiny
    m = record["measured"]
    n = m["image_size"]
    for d in m["datasets"]:
        t = m["sections"][d]
        assert sum(t[s]["n"] for s in ci.SECTIONS) == t["all"]["n"] == n * n
        assert t["held_out"]["n"] == t["vertical"]["n"] + t["horizontal"]["n"] + t["intersection"]["n"]
        # the pooled table of one seed is that seed's table
        assert t == m["per_seed"][d]["0"]["table"]
        for s in t.values():
            assert s["joint"] <= min(s["x"], s["y"]) + 1e-12 and max(s["x"], s["y"]) <= s["either"] + 1e-12
            assert 0 <= s["crossing"] <= s["joint"] + 1e-12
        held = sum(t[s]["joint"] * t[s]["n"] for s in composition.HELD_OUT) / t["held_out"]["n"]
        assert t["held_out"]["joint"] == pytest.approx(held)
    t2 = m["sections"]["2d"]
    nums = m["parts"]["numbers"]
    assert nums["composed_2d"] == pytest.approx((t2["vertical"]["y"] + t2["horizontal"]["x"]) / 2)
    assert nums["interpolated_2d"] == pytest.approx((t2["vertical"]["x"] + t2["horizontal"]["y"]) / 2)
    passed, parts = ci.compose_verdict(m["sections"])
    assert passed == record["passed"] and parts == m["parts"]


@pytest.mark.parametrize(
    "argv, message",
    [(["--kind", "circle"], "invalid choice"), (["--datasets", "3d"], "invalid choice"),
     (["--steps", "x"], "invalid int")],
)
def test_bad_options_exit_with_message(ci, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit):
        ci.main(["--tiny", "--out", str(tmp_path), *argv])
    assert message in capsys.readouterr().err


def test_bad_steps_raise(ci, tmp_path):
    with pytest.raises(ValueError, match="--steps"):
        ci.main(["--tiny", "--out", str(tmp_path), "--steps", "0"])


# ------------------------------------------------------------------------------------------ helpers
def test_section_masks(ci):
    from hidcap.experiments import recording as bump_runs

    frame = bump_runs.frame_grid(32)
    masks = ci.section_masks(frame, (13, 19))
    counts = {k: int(v.sum()) for k, v in masks.items()}
    assert counts == {"train": 25 * 25, "vertical": 7 * 25, "horizontal": 25 * 7, "intersection": 7 * 7}
    assert masks["vertical"][np.flatnonzero((frame == [13, 0]).all(axis=1))[0]]
    with pytest.raises(ValueError, match="low must be"):
        ci.section_masks(frame, (19, 13))
    with pytest.raises(ValueError, match=r"\(K, 2\)"):
        ci.section_masks(np.zeros(5), (1, 2))


def test_correctness_on_rendered_data(ci):
    from hidcap.data import render_bumps

    frame = np.array([[3.0, 4.0], [10.0, 2.0]])
    images = render_bumps(torch_tensor(frame), kind="sos", image_size=16)
    for threshold in (0.25, 0.5):
        assert ci.correctness(images, frame, threshold=threshold).all()
    shifted = ci.correctness(images, frame + [3.0, 0.0], threshold=0.25)  # x off by 3 px, y right
    assert (shifted == [[False, True], [False, True]]).all()
    # a sample whose stripes dip just below 0.5 in places: at 0.5 the stripes break into several blobs and the
    # decoder falls back to the centroid; at 0.25 only the crossing counts
    noisy = images.clone()
    noisy[0, 0, 4, 10:16:2] -= 0.05  # dents along the horizontal stripe at y = 4, away from the crossing
    noisy[0, 0, 4, 11:16:2] += 0.05
    assert not ci.correctness(noisy[:1], frame[:1], threshold=0.5).all()
    assert ci.correctness(noisy[:1], frame[:1], threshold=0.25).all()


def test_single_blob(ci):
    from hidcap.data import render_bumps

    centres = torch_tensor([[4.0, 5.0], [8.0, 8.0]])
    sos = render_bumps(centres, kind="sos", image_size=16)
    assert ci.single_blob(sos, threshold=0.25).tolist() == [True, True]
    stripe = render_bumps(torch_tensor([[4.0, -20.0]]), kind="sos", image_size=16)  # crossing far off the frame
    assert ci.single_blob(stripe, threshold=0.25).tolist() == [False]
    bumps = render_bumps(centres, kind="bump", image_size=16).numpy()
    two = np.minimum(bumps[0], bumps[1])  # two dark bumps in one image
    assert ci.single_blob(two[None], threshold=0.5).tolist() == [False]
    # section_table's crossing: joint right and a single blob
    ok = np.array([[True, True], [True, True], [True, False]])
    masks = {"train": np.array([True, True, True]), "vertical": np.zeros(3, bool), "horizontal": np.zeros(3, bool),
             "intersection": np.zeros(3, bool)}
    t = ci.section_table(ok, masks, np.array([True, False, True]))
    assert t["train"]["joint"] == pytest.approx(2 / 3) and t["train"]["crossing"] == pytest.approx(1 / 3)
    assert t["vertical"]["n"] == 0 and t["vertical"]["crossing"] is None
    assert ci.section_table(ok, masks)["all"]["crossing"] is None


def torch_tensor(a):
    import torch

    return torch.as_tensor(a, dtype=torch.float32)


def _table(train, vertical, horizontal, intersection, either=1.0, crossing=None):
    """A section table from (x, y) accuracies; joint = x·y (independent errors), n = 10 per section; held-out
    crossing = held-out joint unless given."""
    sec = {"train": train, "vertical": vertical, "horizontal": horizontal, "intersection": intersection}
    out = {k: {"n": 10, "x": x, "y": y, "joint": x * y, "either": max(x, y), "crossing": x * y}
           for k, (x, y) in sec.items()}
    held = float(np.mean([out[k]["joint"] for k in ("vertical", "horizontal", "intersection")]))
    out["held_out"] = {"n": 30, "x": 0, "y": 0, "joint": held, "either": 0,
                       "crossing": held if crossing is None else crossing}
    out["all"] = {"n": 40, "x": 0, "y": 0, "joint": 0, "either": either, "crossing": 0}
    return out


PAPER_LIKE = {
    "2d": _table((1, 1), (0.1, 0.9), (0.9, 0.1), (0.1, 0.1)),
    "2d+1d": _table((1, 1), (0.9, 0.9), (0.9, 0.9), (0.8, 0.8)),
    "1d": _table((0.5, 0.5), (0.9, 0.1), (0.1, 0.9), (0.5, 0.5), either=0.9, crossing=0.0),
}


def test_compose_verdict_paper_like_passes(ci):
    passed, parts = ci.compose_verdict(PAPER_LIKE)
    assert passed is True
    assert parts["numbers"]["composed_2d"] == pytest.approx(0.9)
    assert parts["numbers"]["interpolated_2d"] == pytest.approx(0.1)
    assert parts["evaluated"] == ["i_2d_composes", "ii_2d_no_interpolation", "iii_2d1d_beats_2d",
                                  "iv_1d_no_composition"]


def test_compose_verdict_failures(ci):
    interpolates = dict(PAPER_LIKE, **{"2d": _table((1, 1), (0.9, 0.9), (0.9, 0.9), (0.9, 0.9))})
    passed, parts = ci.compose_verdict(interpolates)
    assert passed is False and parts["ii_2d_no_interpolation"] is False and parts["iii_2d1d_beats_2d"] is False
    no_compose = dict(PAPER_LIKE, **{"2d": _table((1, 1), (0.1, 0.2), (0.2, 0.1), (0.1, 0.1))})
    passed, parts = ci.compose_verdict(no_compose)
    assert passed is False and parts["i_2d_composes"] is False
    one_d_composes = dict(PAPER_LIKE, **{"1d": _table((1, 1), (0.9, 0.9), (0.9, 0.9), (0.9, 0.9))})
    passed, parts = ci.compose_verdict(one_d_composes)
    assert passed is False and parts["iv_1d_no_composition"] is False
    # (iv) reads the crossing accuracy: a high joint from centroid-decoded lone stripes does not count ...
    lone_stripes = dict(PAPER_LIKE, **{"1d": _table((0, 0), (0.9, 0.9), (0.9, 0.9), (0.9, 0.9), crossing=0.05)})
    assert ci.compose_verdict(lone_stripes)[1]["iv_1d_no_composition"] is True
    # ... but real crossings do
    crossings = dict(PAPER_LIKE, **{"1d": _table((0, 0), (0.2, 0.2), (0.2, 0.2), (0.2, 0.2), crossing=0.6)})
    assert ci.compose_verdict(crossings)[1]["iv_1d_no_composition"] is False


def test_compose_verdict_undetermined(ci):
    unlearned = dict(PAPER_LIKE, **{"2d+1d": _table((0.3, 0.3), (0.9, 0.9), (0.9, 0.9), (0.8, 0.8))})
    passed, parts = ci.compose_verdict(unlearned)
    assert passed is None and parts["precondition_learned"] is False
    no_stripes = dict(PAPER_LIKE, **{"1d": _table((0, 0), (0, 0), (0, 0), (0, 0), either=0.1)})
    passed, parts = ci.compose_verdict(no_stripes)
    assert passed is None and parts["iv_1d_no_composition"] is None
    # the 1D data set left out: parts (i)-(iii) decide alone
    without_1d = {k: v for k, v in PAPER_LIKE.items() if k != "1d"}
    passed, parts = ci.compose_verdict(without_1d)
    assert passed is True and "iv_1d_no_composition" not in parts["evaluated"]
    assert ci.compose_verdict({"1d": PAPER_LIKE["1d"]})[0] is None


# ------------------------------------------------------------------------------------------ configs
def test_full_scale_data_and_config(ci):
    from hidcap.models import presets

    full = ci.compose_scale("full")
    assert full.band == (13.0, 19.0) and full.latent_size == 44 and full.image_size == 32
    two_d, sx, sy = full.specs("2d+1d", "sos")
    assert two_d.kind == "sos" and two_d.held_out.kind == "band" and two_d.offset == 6
    assert len(two_d.centres(0)) == (320 - 61) ** 2  # d = 0.1: 61 lattice values in [13, 19] held out per axis
    assert (sx.kind, sy.kind, sx.rim, sx.held_out.kind) == ("stripe_x", "stripe_y", 0.0, "none")
    assert sx.centres(0)[:, 0].min() >= 6 and sx.centres(0)[:, 0].max() < 38  # x on the frame, y off it
    assert [s.rim for s in full.specs("1d", "sos")] == [3.0, 3.0]
    quick = ci.compose_scale("quick")
    qx = quick.specs("2d+1d", "sos")[1]
    assert (qx.increment, qx.increment_y) == (0.5, quick.stripe_increment) == (0.5, 2.0)  # coarser off-frame
    assert quick.specs("1d", "sos")[0].increment_y == 0.5  # 1D alone: the lattice spacing
    assert quick.steps_for("1d") == quick.steps_for("2d") == quick.steps == 1200
    assert quick.steps_for("2d+1d") == round(1200 * quick.images("2d+1d") / quick.images("2d"))
    assert full.specs("2d", "bump")[0].kind == "bump"
    cfg = full.train_config("2d", 0, "cpu")
    assert cfg.model == presets.gaussian_bumps() and cfg.steps == 50000 and cfg.data is None
    assert cfg.batch_size == 128 and cfg.diffusion.timesteps == 1000
    assert full.train_config("1d", 0, "cpu").steps == 50000  # fewer images than 2D: the same steps
    both = full.train_config("2d+1d", 0, "cpu")
    assert both.steps == round(50000 * (67081 + 2 * 38400) / 67081)  # the same number of epochs as 2D
    with pytest.raises(ValueError, match="dataset must be"):
        full.specs("3d", "sos")
    with pytest.raises(ValueError, match="kind must be"):
        full.specs("2d", "stripe")
    with pytest.raises(ValueError, match="unknown scale"):
        ci.compose_scale("medium")
