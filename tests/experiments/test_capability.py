import numpy as np

import hidcap.experiments.capability as cap
from hidcap.experiments.capability import CONTROL_OF, PROTOCOLS, plot_fig6, plot_per_seed


def _seed_result(seed: int) -> dict:
    steps = [0, 100, 200, 300]
    rng = np.random.default_rng(seed)
    fresh = {}
    for name in [*PROTOCOLS, "capability", *CONTROL_OF.values()]:
        est = np.sort(rng.uniform(0, 1, len(steps)))
        fresh[name] = {"estimate": est.tolist(), "low": (est * 0.8).tolist(), "high": np.minimum(est * 1.2, 1).tolist()}
    return {"steps": steps, "fresh": fresh,
            "onset": {"capability": {"low": 100, "high": 200}, "behaviour": {"low": 200, "high": None}},
            "onset_step": {"capability": 100, "behaviour": 300}, "turn": {"step": 200, "corner": "10"}}


def _capture(monkeypatch):
    figs = []
    real = cap.save
    monkeypatch.setattr(cap, "save", lambda fig, path, **kw: figs.append(fig) or real(fig, path, **kw))
    return figs


def test_fig6_is_small_multiples_with_a_legend_per_line_style(tmp_path, monkeypatch):
    figs = _capture(monkeypatch)
    per_seed = {s: _seed_result(s) for s in (0, 1, 2)}
    assert plot_fig6(per_seed, 0.8, tmp_path / "f.png").is_file()
    fig = figs[0]
    assert len(fig.axes) == 3 * (len(PROTOCOLS) + 1)  # one row per seed, one column per protocol + capability
    assert [fig.axes[i * 5].get_ylabel() for i in range(3)] == ["seed 0\naccuracy", "seed 1\naccuracy", "seed 2\naccuracy"]
    assert all(ax.get_xlabel() == "training step" for ax in fig.axes[-5:])
    assert "control: random-direction intervention" in fig.axes[2].get_title()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    styles = {h.get_linestyle() for h in fig.legends[0].legend_handles if hasattr(h, "get_marker")}
    assert styles == {"-", "--", ":"} and any("threshold 0.8" in lab for lab in labels)
    assert any("negative control" in lab for lab in labels)
    assert "color=blue, size=small" in fig._suptitle.get_text()


def test_per_seed_legend_names_threshold_and_bars(tmp_path, monkeypatch):
    figs = _capture(monkeypatch)
    plot_per_seed({s: _seed_result(s) for s in (0, 1)}, 0.8, tmp_path / "p.png")
    labels = [t.get_text() for t in figs[0].legends[0].get_texts()]
    assert any("threshold 0.8" in lab for lab in labels) and any(lab.startswith("bars:") for lab in labels)
