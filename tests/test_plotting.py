import numpy as np
import pytest

from hidcap.evaluation.elicitation import CapabilityTable
from hidcap.evaluation.concept_scores import ConceptSpace
from hidcap.plotting import plot_capability, plot_concept_space, plot_curves, plot_distance_curves


def _table(concepts, classes, steps=(0, 10, 20)):
    t = ConceptSpace(tuple(concepts))
    for s in steps:
        frac = s / max(steps)
        for c in classes:
            for j, name in enumerate(concepts):
                t.points.append({"step": s, "class": c, "concept": name, "value": 0.5 + (int(c[j]) - 0.5) * frac})
            t.accuracy.append({"step": s, "class": c, "joint": frac, "additive": frac, "n_samples": 4})
    return t


def _is_png(path):
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 2000


def test_concept_space_2d_and_3d(tmp_path):
    t2 = _table(("color", "size"), ("00", "01", "10", "11"))
    assert _is_png(plot_concept_space(t2, tmp_path / "cs2.png", held_out=("11",)))
    t3 = _table(("color", "size", "shape"), ("000", "011", "111"))
    assert _is_png(plot_concept_space(t3, tmp_path / "sub" / "cs3.png"))


def test_capability_several_seeds(tmp_path):
    tables = []
    for seed in range(2):
        t = CapabilityTable("joint")
        for s in (0, 100, 200):
            t.summary.append({"step": s, "class": "11", "behaviour": s / 400, "capability": min(1, s / 150 + 0.1 * seed),
                              "best_protocol": "naive", "best_variant": "naive"})
        tables.append(t)
    assert _is_png(plot_capability(tables, "11", tmp_path / "cap.png"))
    assert _is_png(plot_capability(tables[0], "11", tmp_path / "cap1.png", labels=["run"]))
    with pytest.raises(KeyError, match="00"):
        plot_capability(tables, "00", tmp_path / "x.png")
    with pytest.raises(ValueError, match="labels"):
        plot_capability(tables, "11", tmp_path / "x.png", labels=["a"])


def test_curves_and_distance_curves(tmp_path):
    steps = np.arange(0, 1000, 50)
    loss = {"loss": (steps, np.exp(-steps / 300) + 0.05)}
    assert _is_png(plot_curves(loss, tmp_path / "loss.png", ylabel="loss", logy=True))
    acc = {c: (steps, 1 / (1 + np.exp(-(steps - m) / 60))) for c, m in (("011", 300), ("101", 350), ("111", 700))}
    assert _is_png(plot_curves(acc, tmp_path / "acc.png", threshold=0.8))
    assert _is_png(plot_distance_curves(acc, {"011": 1, "101": 1, "111": 2}, tmp_path / "dist.png"))


def test_bad_input(tmp_path):
    t1 = _table(("color",), ("0", "1"))
    with pytest.raises(ValueError, match="2 or 3 concepts"):
        plot_concept_space(t1, tmp_path / "x.png")
    with pytest.raises(KeyError, match="22"):
        plot_concept_space(_table(("color", "size"), ("00",)), tmp_path / "x.png", classes=("22",))
    with pytest.raises(ValueError, match=".png"):
        plot_curves({"a": ([0, 1], [0, 1])}, tmp_path / "x.pdf")
    with pytest.raises(ValueError, match="equal length"):
        plot_curves({"a": ([0, 1], [0, 1, 2])}, tmp_path / "x.png")
    with pytest.raises(KeyError, match="111"):
        plot_distance_curves({"111": ([0], [0])}, {"011": 1}, tmp_path / "x.png")


def test_image_grid_labels_rows_and_rejects_bad_shapes(tmp_path):
    import matplotlib.image as mpimg
    import torch

    from hidcap.plotting import plot_image_grid

    path = plot_image_grid(torch.rand(6, 3, 8, 8), tmp_path / "g.png", row_labels=["class 00", "class 11"])
    img = mpimg.imread(path)
    assert img.shape[0] >= 100 and img.shape[1] > img.shape[0]
    with pytest.raises(ValueError, match="do not fill 4 rows"):
        plot_image_grid(torch.rand(6, 3, 8, 8), tmp_path / "h.png", row_labels=list("abcd"))
    with pytest.raises(ValueError, match="C = 1 or 3"):
        plot_image_grid(torch.rand(2, 2, 8, 8), tmp_path / "h.png", row_labels=["a"])


def test_heatmap_panels_must_fit_the_labels(tmp_path):
    import numpy as np

    from hidcap.plotting import plot_heatmap

    path = plot_heatmap({"joint": np.eye(2), "radius": np.full((2, 2), np.nan)}, tmp_path / "h.png",
                        row_labels=["0.1", "1"], col_labels=["0.1", "1"], row_name="α", col_name="β")
    assert path.is_file()
    with pytest.raises(ValueError, match="shape"):
        plot_heatmap({"joint": np.eye(3)}, tmp_path / "x.png", row_labels=["a"], col_labels=["b"])


def test_capability_with_fresh_samples_draws_wilson_bands(tmp_path):
    from hidcap.evaluation.intervals import wilson_bounds
    from hidcap.plotting import figure, wilson_band

    t = CapabilityTable("joint")
    for s in (0, 10, 20):
        k = s // 5
        correct = [1] * k + [0] * (4 - k)
        for proto in ("naive", "over"):
            row = {"step": s, "class": "11", "protocol": proto, "variant": proto, "joint": k / 4, "additive": k / 4,
                   "correct": correct}
            t.variants.append(row)
            t.fresh.append(dict(row))
        t.summary.append({"step": s, "class": "11", "behaviour": k / 4, "capability": k / 4, "best_protocol": "naive",
                          "best_variant": "naive", "behaviour_fresh": k / 4, "capability_fresh": k / 4})
    assert _is_png(plot_capability(t, "11", tmp_path / "fresh.png"))
    ax = figure((3, 3)).add_subplot()
    low, high = wilson_band(ax, [0, 10, 20], [[0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]])
    np.testing.assert_allclose(low, wilson_bounds([0, 2, 4], 4)[0])
    assert high[0] > 0 and low[2] < 1 and len(ax.collections) == 1
    with pytest.raises(ValueError, match="must match"):
        wilson_band(ax, [0, 10], [[0, 1]] * 3)


def _tick_texts(ax, axis="y"):
    a = getattr(ax, f"{axis}axis")
    return [t.get_text() for t in a.get_ticklabels() + a.get_ticklabels(minor=True) if t.get_text()]


def test_plain_log_ticks_write_plain_numbers():
    from hidcap.plotting import figure, plain_log_ticks

    fig = figure((3, 3))
    ax = fig.add_subplot()
    ax.plot([1, 2], [40, 90])
    ax.set_yscale("log")
    fig.canvas.draw()
    assert any("times" in t for t in _tick_texts(ax))  # matplotlib's default: 6×10¹ (mathtext)
    plain_log_ticks(ax)
    fig.canvas.draw()
    texts = _tick_texts(ax)
    assert "50" in texts and not any("times" in t or "^" in t for t in texts)
    wide = figure((3, 3)).add_subplot()
    wide.plot([1, 2], [1e-3, 10])
    wide.set_yscale("log")
    plain_log_ticks(wide)
    wide.figure.canvas.draw()
    assert "0.01" in _tick_texts(wide) and "0.02" not in _tick_texts(wide)  # minor ticks unlabelled over 4 decades
    with pytest.raises(ValueError, match="not log-scaled"):
        plain_log_ticks(ax, "x")
    with pytest.raises(ValueError, match="axis must be"):
        plain_log_ticks(ax, "z")


def test_curves_log_axis_has_plain_ticks(tmp_path, monkeypatch):
    import hidcap.plotting as plotting

    figs = []
    real = plotting.save
    monkeypatch.setattr(plotting, "save", lambda fig, path, **kw: figs.append(fig) or real(fig, path, **kw))
    plot_curves({"loss": ([0, 10, 20], [90.0, 60.0, 45.0])}, tmp_path / "c.png", ylabel="loss", logy=True)
    texts = _tick_texts(figs[0].axes[0])
    assert texts and not any("times" in t for t in texts)
