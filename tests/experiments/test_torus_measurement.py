"""hidcap.experiments.torus_measurement: the measurement takes its points as a parameter, and the figures are drawn."""
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hidcap.data import frame_grid
from hidcap.scales import torus_scale
from hidcap.experiments.torus_measurement import measure_torus, measure_torus_scale, torus_figures
from hidcap.training import train



def assert_png(path):
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = imread(path)
    assert img.shape[0] > 200 and img.shape[1] > 200 and float(img[..., :3].std()) > 0.02, path


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    s = torus_scale("tiny")
    return train(s.train_config(0, "cpu"), tmp_path_factory.mktemp("run"), progress=False)


def test_measure_torus_scale_rows_and_final(series):
    m = measure_torus_scale(series, torus_scale("tiny"), seed=0, progress=False)
    assert [r["step"] for r in m.rows] == series.steps and m.step == series.steps[-1]
    assert m.labels.shape == (64, 2) and m.images.shape == (64, 1, 8, 8) and m.acts.shape[0] == 64
    assert len(m.betti.betti) == 3 and set(m.verdict.closer) == {"x_on_y", "x_on_x", "y_on_y"}


def test_measurement_points_are_a_parameter(series):
    """A finer lattice (what the 32 x 32 training lattice of a 16 px frame would be) and fewer landmarks."""
    labels = frame_grid(8, 0.5)
    m = measure_torus(series, labels, layer="ups.0.resample", sample_steps=2, seed=0, period=8.0, every=10,
                      landmarks=40, maxdim=1, progress=False)
    assert m.labels.shape == (256, 2) and m.acts.shape[0] == 256
    assert [r["step"] for r in m.rows] == [series.steps[0], series.steps[-1]]  # every 10th: the first and the last
    assert len(m.ph.indices) == 40 and len(m.ph.diagrams) == 2  # 40 landmarks entered ripser; H0 and H1
    assert torus_scale("tiny").labels().shape == (64, 2)
    assert replace(torus_scale("tiny"), grid_step=0.5).labels().shape == (256, 2)
    with pytest.raises(ValueError, match="labels"):
        measure_torus(series, np.zeros((5, 3)), layer="ups.0.resample", sample_steps=2, seed=0, period=8.0)


def test_torus_figures(series, tmp_path, monkeypatch):
    import hidcap.experiments.torus_measurement as tm

    saved = {}
    real = tm.save
    monkeypatch.setattr(tm, "save", lambda fig, path, **kw: saved.__setitem__(Path(path).name, fig) or real(fig, path, **kw))
    m = measure_torus_scale(series, torus_scale("tiny"), seed=0, progress=False)
    names = torus_figures(tmp_path, [m, m], accuracy_line=0.5)
    assert names == ["training.png", "spectrum.png", "persistence.png", "torus_tests.png", "pca.png", "samples.png"]
    for n in names:
        assert_png(tmp_path / n)
    tests = saved["torus_tests.png"]
    title = tests._suptitle.get_text()
    assert f"step {m.step}" in title and m.layer in title and "UNet (8, 16)" in title
    panels = [ax for ax in tests.axes if ax.get_title()]
    assert all(ax.get_ylabel() == "probability density" for ax in panels[::2]) and all(ax.get_xlabel() for ax in panels)
    legend = [t.get_text() for t in tests.legends[0].get_texts()]
    assert sum(lab.startswith("ideal ") for lab in legend) >= 2 and any("overlap" in lab for lab in legend)
    assert any(lab.startswith("model: ") for lab in legend)
    assert any("Wasserstein" in t.get_text() for t in tests.texts)  # W is defined on the figure
    training = saved["training.png"]
    loss_ticks = [t.get_text() for t in training.axes[0].get_yticklabels() + training.axes[0].get_yticklabels(minor=True)]
    assert not any("times" in t or "10^" in t or "\\cdot" in t for t in loss_ticks)
    assert any(t and t[0].isdigit() for t in loss_ticks)  # plain numbers
    with pytest.raises(ValueError):
        torus_figures(tmp_path, [])


def test_coarse_lattice_before_the_last_checkpoint(series):
    """Earlier checkpoints on a coarse lattice, the last on the whole one; each phase is timed."""
    fine, coarse = frame_grid(8, 1.0), frame_grid(8, 2.0)
    m = measure_torus(series, fine, layer="ups.0.resample", sample_steps=2, seed=0, period=8.0, landmarks=None,
                      maxdim=1, coarse_labels=coarse, progress=False)
    assert [r["points"] for r in m.rows] == [16] * (len(series.steps) - 1) + [64]
    assert [len(c) for c in m.correct] == [r["points"] for r in m.rows]
    assert m.acts.shape[0] == 64 and m.images.shape[0] == 64  # the final measurement is the whole lattice
    assert set(m.timings) == {"sample", "sample_last", "accuracy_pca", "ripser", "torus_tests"}
    assert all(t >= 0 for t in m.timings.values()) and m.timings["sample"] > 0 and m.timings["sample_last"] > 0
    # the last checkpoint's numbers do not depend on the coarse lattice
    full = measure_torus(series, fine, layer="ups.0.resample", sample_steps=2, seed=0, period=8.0, landmarks=None,
                         maxdim=1, every=len(series.steps), progress=False)
    assert full.rows[-1] == {**m.rows[-1]} and full.betti.betti == m.betti.betti
    with pytest.raises(ValueError, match="coarse_labels"):
        measure_torus(series, fine, layer="ups.0.resample", sample_steps=2, seed=0, period=8.0,
                      coarse_labels=np.zeros((4, 3)))
