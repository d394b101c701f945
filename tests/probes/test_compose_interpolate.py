"""probes/compose_interpolate.py: a tiny run end to end (three data sets), its figures and section tables, the
section / verdict helpers on hand-made inputs, and the full-scale data and run configuration (built, not trained)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from hidcap.experiments import composition

from .conftest import assert_png, assert_smoke_and_decide

NAME = "compose_interpolate"
FIGURES = ("accuracy_maps.png", "sections.png", "data_and_samples.png", "parts.png")




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
    assert record["probe"] == NAME and record["scale"] == "tiny" and record["seeds"] == [0, 1]
    assert record["outcome"] in ("pass", "fail")  # every data set run: never undetermined
    assert record["criterion"] == list(ci.CRITERION)
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


def test_tiny_is_smoke_and_decide_reproduces_it(tiny, ci):
    out, record = tiny
    assert_smoke_and_decide(ci, out, record)


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
        assert sum(t[s]["n"] for s in ci.SECTIONS) == t["all"]["n"] == n * n * len(record["seeds"])
        assert t["held_out"]["n"] == t["vertical"]["n"] + t["horizontal"]["n"] + t["intersection"]["n"]
        # the pooled table is the sample-weighted mean of the seeds' tables
        for sec in ci.SECTIONS:
            seeds = [m["per_seed"][d][s]["table"][sec] for s in ("0", "1")]
            assert t[sec]["joint"] == pytest.approx(np.mean([x["joint"] for x in seeds]))
        for s in t.values():
            assert s["joint"] <= min(s["x"], s["y"]) + 1e-12 and max(s["x"], s["y"]) <= s["either"] + 1e-12
            assert 0 <= s["crossing"] <= s["joint"] + 1e-12
        held = sum(t[s]["joint"] * t[s]["n"] for s in composition.HELD_OUT) / t["held_out"]["n"]
        assert t["held_out"]["joint"] == pytest.approx(held)
    # the judged quantities: pooled intervals, per-seed Wilson intervals and their dispersion
    from hidcap.evaluation.intervals import Interval

    t2 = m["sections"]["2d"]
    iv = m["intervals"]["2d"]
    assert iv["composed"]["pooled"]["estimate"] == pytest.approx((t2["vertical"]["y"] + t2["horizontal"]["x"]) / 2)
    assert iv["interpolated"]["pooled"]["estimate"] == pytest.approx((t2["vertical"]["x"] + t2["horizontal"]["y"]) / 2)
    for d in m["datasets"]:
        for q, entry in m["intervals"][d].items():
            pooled = entry["pooled"]
            assert pooled["method"] == "bootstrap:seeds+samples" and pooled["low"] <= pooled["estimate"] <= pooled["high"]
            assert set(entry["per_seed"]) == {"0", "1"}
            assert all(e["method"] == "wilson" for e in entry["per_seed"].values())
            disp = entry["dispersion"]
            assert disp["n"] == 2 and disp["values"] == [entry["per_seed"][s]["estimate"] for s in ("0", "1")]
            assert disp["std"] == pytest.approx(np.std(disp["values"], ddof=1))
        assert m["intervals"][d]["held_joint"]["pooled"]["estimate"] == pytest.approx(m["sections"][d]["held_out"]["joint"])
        for sec, ivs in m["section_intervals"][d].items():
            assert ivs["joint"]["estimate"] == pytest.approx(m["sections"][d][sec]["joint"])
    q = {d: {k: Interval.from_dict(v["pooled"]) for k, v in m["intervals"][d].items()} for d in m["datasets"]}
    passed, parts = ci.compose_verdict(q)
    assert {True: "pass", False: "fail"}[passed] == record["outcome"] and parts == m["parts"]
    margins = m["seed_margins"]
    assert margins["composed_2d"]["spread"]["values"] == iv["composed"]["dispersion"]["values"]
    assert margins["held_joint_2d1d_minus_2d"]["threshold"] == ci.MARGIN


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
    from hidcap.data import frame_grid

    frame = frame_grid(32)
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


def _iv(p, half=0.05):
    """An interval around ``p`` (clipped to [0, 1])."""
    from hidcap.evaluation.intervals import Interval

    return Interval(p, max(0.0, p - half), min(1.0, p + half), 100, "bootstrap:seeds+samples")


def _q(train=0.9, composed=0.9, interpolated=0.1, held=0.05, crossing=None, either=0.9, half=0.05):
    return {"train_joint": _iv(train, half), "composed": _iv(composed, half), "interpolated": _iv(interpolated, half),
            "held_joint": _iv(held, half), "held_crossing": _iv(held if crossing is None else crossing, half),
            "all_either": _iv(either, half)}


PAPER_LIKE = {"2d": _q(), "2d+1d": _q(held=0.8), "1d": _q(train=0.0, composed=0.5, interpolated=0.5, held=0.1,
                                                           crossing=0.0)}


def test_compose_verdict_paper_like_passes(ci):
    passed, parts = ci.compose_verdict(PAPER_LIKE)
    assert passed is True
    assert parts["evaluated"] == ["i_2d_composes", "ii_2d_no_interpolation", "iii_2d1d_beats_2d"]
    rep = parts["reported_not_judged"]  # (iv) is reported only
    assert rep == {"iv_stripes_learned_1d": True, "iv_1d_no_composition_crossing": True,
                   "iv_1d_no_composition_joint_original": True}


def test_compose_verdict_margin_inside_the_intervals_fails(ci):
    # (iii): 2D+1D − 2D = 0.35 > 0.3 in the point estimates, but the intervals (± 0.05) leave 0.25 < 0.3
    close = dict(PAPER_LIKE, **{"2d+1d": _q(held=0.4), "2d": _q(held=0.05)})
    passed, parts = ci.compose_verdict(close)
    assert passed is False and parts["iii_2d1d_beats_2d"] is False
    # the same point estimates with tight intervals decide it
    tight = {"2d": _q(held=0.05, half=0.01), "2d+1d": _q(held=0.4, half=0.01)}
    assert ci.compose_verdict(tight)[0] is True
    # (i): composed 0.52 with an interval reaching below 0.5 is not decided -> fail
    low = dict(PAPER_LIKE, **{"2d": _q(composed=0.52, interpolated=0.0)})
    passed, parts = ci.compose_verdict(low)
    assert passed is False and parts["i_2d_composes"] is False and parts["ii_2d_no_interpolation"] is True


def test_compose_verdict_control_equal_to_the_protocol_fails(ci):
    # the 2D model is 2D+1D's control in (iii): equal held-out accuracy fails
    same = dict(PAPER_LIKE, **{"2d+1d": _q(held=0.05)})
    passed, parts = ci.compose_verdict(same)
    assert passed is False and parts["iii_2d1d_beats_2d"] is False
    interpolates = dict(PAPER_LIKE, **{"2d": _q(composed=0.9, interpolated=0.9)})
    passed, parts = ci.compose_verdict(interpolates)
    assert passed is False and parts["ii_2d_no_interpolation"] is False


def test_compose_verdict_unlearned_fails_and_iv_never_judges(ci):
    unlearned = dict(PAPER_LIKE, **{"2d+1d": _q(train=0.3, held=0.8)})
    passed, parts = ci.compose_verdict(unlearned)
    assert passed is False and parts["precondition_learned"] is False
    borderline = dict(PAPER_LIKE, **{"2d": _q(train=0.52)})  # 0.52 ± 0.05 is not decided ≥ 0.5
    assert ci.compose_verdict(borderline)[0] is False
    # 1D composing would fail (iv), which is reported only: the verdict stands on (i)-(iii)
    one_d_composes = dict(PAPER_LIKE, **{"1d": _q(held=0.8, crossing=0.8)})
    passed, parts = ci.compose_verdict(one_d_composes)
    assert passed is True and parts["reported_not_judged"]["iv_1d_no_composition_crossing"] is False


def test_compose_verdict_subsets(ci):
    without_1d = {k: v for k, v in PAPER_LIKE.items() if k != "1d"}
    passed, parts = ci.compose_verdict(without_1d)
    assert passed is True and parts["reported_not_judged"] == {}
    assert ci.compose_verdict({"1d": PAPER_LIKE["1d"]})[0] is None  # nothing to judge
    with pytest.raises(ValueError, match="unknown data sets"):
        ci.compose_verdict({"3d": PAPER_LIKE["1d"]})


def test_quantity_samples_and_intervals():
    frame = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0]])  # train, vertical, horizontal, intersection
    masks = composition.section_masks(frame, (3.0, 5.0))
    ok = np.array([[True, True], [False, True], [True, False], [True, True]])
    blob = np.array([True, True, True, False])
    q = composition.quantity_samples(ok, blob, masks)
    assert q["composed"].tolist() == [1.0, 1.0] and q["interpolated"].tolist() == [0.0, 0.0]
    assert q["held_joint"].tolist() == [0.0, 0.0, 1.0] and q["held_crossing"].tolist() == [0.0, 0.0, 0.0]
    assert q["train_joint"].tolist() == [1.0] and q["all_either"].tolist() == [1.0] * 4
    other = composition.quantity_samples(~ok, blob, masks)
    out = composition.quantity_intervals({0: q, 1: other})
    c = out["composed"]
    assert c["pooled"].estimate == pytest.approx(0.5) and c["pooled"].method == "bootstrap:seeds+samples"
    assert c["per_seed"][0].estimate == 1.0 and c["per_seed"][0].method == "wilson"
    assert c["spread"].values == (1.0, 0.0) and c["spread"].std == pytest.approx(np.sqrt(0.5))
    one = composition.quantity_intervals({3: q})
    assert one["composed"]["pooled"].method == "wilson" and one["composed"]["spread"].std is None
    with pytest.raises(ValueError, match="no seed"):
        composition.quantity_intervals({})
    with pytest.raises(ValueError, match=r"\(K, 2\)"):
        composition.quantity_samples(ok[:, 0], blob, masks)


def test_seed_margins():
    per_seed = {s: {"2d": {"composed": c, "interpolated": 0.1, "held_joint": 0.05},
                    "2d+1d": {"held_joint": h, "held_crossing": 0.5}, "1d": {"held_crossing": 0.0}}
                for s, c, h in ((0, 0.9, 0.5), (1, 0.8, 0.4), (2, 0.85, 0.3))}
    m = composition.compose_seed_margins(per_seed)
    assert m["composed_2d"]["margin"] == pytest.approx(0.35) and m["composed_2d"]["decided"] is True
    d = m["held_joint_2d1d_minus_2d"]  # mean 0.35 − 0.3 = 0.05 < sd 0.1: not decided
    assert d["margin"] == pytest.approx(0.05) and d["side"] == "not decided"
    assert composition.compose_seed_margins({0: {"2d": per_seed[0]["2d"]}})["held_crossing_2d1d_minus_1d"] is None


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
