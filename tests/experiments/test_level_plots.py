import pytest

import hidcap.experiments.level_plots as level_plots
from hidcap.experiments.level_plots import plot_learning_times


def _figure_of(monkeypatch):
    figs = []
    real = level_plots.save
    monkeypatch.setattr(level_plots, "save", lambda fig, path, **kw: figs.append(fig) or real(fig, path, **kw))
    return figs


def test_learning_times_figure_explains_every_mark(tmp_path, monkeypatch):
    figs = _figure_of(monkeypatch)
    rows = [{"level": lv} for lv in (0.4, 0.4, 0.8, 0.8)]
    onset = [{"low": 100, "high": 300}, {"low": 200, "high": None}, {"low": 50, "high": 150}, {"low": 80, "high": 120}]
    path = plot_learning_times(tmp_path / "lt.png", rows, [0.4, 0.8], 400, "separation s",
                               {"joint": [200, None, 100, 100], "colour": [150, 150, 60, 70]},
                               "time to 80% on class 11: joint rho = -0.71", {0.4: 0.02, 0.8: 0.08},
                               "colour signal (pixel MSE)", intervals={"joint": onset})
    assert path.is_file()
    fig = figs[0]
    assert "\N{GREEK SMALL LETTER RHO}" in fig._suptitle.get_text() and "rho" not in fig._suptitle.get_text()
    assert any("Spearman" in t.get_text() for t in fig.texts)
    for ax in fig.axes:
        assert ax.get_ylabel() == "learning time (training steps)" and ax.get_xlabel()
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
        assert {"joint", "joint: never", "colour", "mean over the runs that learned",
                "95 % bootstrap interval of the onset", "end of training (400 steps)"} <= set(labels)


def test_learning_times_without_rho_has_no_rho_caption(tmp_path, monkeypatch):
    figs = _figure_of(monkeypatch)
    plot_learning_times(tmp_path / "lt.png", [{"level": 1.0}], [1.0], 10, "level", {"joint": [5]}, "plain")
    assert not any("Spearman" in t.get_text() for t in figs[0].texts)
    labels = [t.get_text() for t in figs[0].legends[0].get_texts()]
    assert "95 % bootstrap interval of the onset" not in labels
    with pytest.raises(ValueError, match="has 2 times for 1 runs"):
        plot_learning_times(tmp_path / "x.png", [{"level": 1.0}], [1.0], 10, "level", {"joint": [5, 6]}, "t")
