"""The Clifford-torus measurement of Liang et al. 2024 (Sec. 3.1, Fig. 2, 3 and 8) and its figures, shared by
``examples/clifford_torus.py`` and ``probes/torus_geometry.py``.

At the measured checkpoints of a bump run, sample one image per (x, y) centre of ``labels`` while one layer is
recorded at the final sampling step, and measure sample accuracy, the PCA spectrum and participation ratio (PR);
at the last measured checkpoint, persistent homology (ripser on greedy landmarks after PCA) and the torus
orthogonality / parallelism tests against ideal Clifford and standard tori. Only the last checkpoint needs the
whole lattice (the loops of a coarse grid barely clear the noise, docs/geometry.md): the earlier ones may be
measured on a coarser lattice (``coarse_labels``), which is what the example's CPU default does.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hidcap import geometry, geometry_plots
from hidcap.evaluation.bump_decoding import bump_accuracy
from hidcap.evaluation.intervals import wilson_interval
from hidcap.experiments.recording import measured_steps, record_samples
from hidcap.scales import TorusScale
from hidcap.plotting import figure, plain_log_ticks, save
from hidcap.progress import progress_bar
from hidcap.runs import SeriesLike

__all__ = ["TorusMeasurement", "measure_torus", "measure_torus_scale", "torus_figures"]


@dataclass
class TorusMeasurement:
    """One run's torus measurement.

    rows: one dict per measured checkpoint (``step``, ``accuracy`` with its 95 % Wilson interval ``accuracy_low``,
    ``accuracy_high`` over the K samples, ``accuracy_x``, ``accuracy_y``, ``participation_ratio``,
    ``top4_explained``, ``eigenvalues`` (top 15), ``points``: how many centres it measured); ``correct``: per
    measured checkpoint, the per-sample joint correctness ``(points,)`` bool; the rest is the last measured
    checkpoint: ``labels`` (K, 2), ``images`` (K, 1, N, N), ``acts`` (K, D), its PCA ``spectrum``, persistence
    diagrams ``ph``, ``betti`` (the library's default call, ``rule="null"``), ``betti_confidence`` (the
    confidence rule at 95 %, with each bar's p-value, reported beside it) and the torus-test ``verdict``;
    ``timings``: wall seconds per phase (``sample``:
    sampling while recording at the checkpoints before the last, ``sample_last``: the same at the last,
    ``accuracy_pca``: bump accuracy and PCA spectra, ``ripser``: persistence diagrams and Betti numbers, null
    clouds included, ``torus_tests``).
    """

    seed: int
    layer: str
    series: Any
    rows: list[dict[str, Any]]
    step: int
    labels: np.ndarray
    images: torch.Tensor
    acts: np.ndarray
    spectrum: geometry.PCASpectrum
    ph: geometry.PersistenceResult
    betti: geometry.BettiResult
    verdict: geometry.TorusVerdict
    correct: list[np.ndarray] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    betti_confidence: geometry.BettiResult | None = None


def measure_torus(
    series: SeriesLike,
    labels: np.ndarray,
    *,
    layer: str,
    sample_steps: int,
    seed: int,
    period: float,
    every: int = 1,
    landmarks: int | None = None,
    maxdim: int = 2,
    pca_dim: int = 10,
    batch: int = 1024,
    coarse_labels: np.ndarray | None = None,
    progress: bool | None = None,
) -> TorusMeasurement:
    """Measure the torus geometry of ``series`` (see the module docstring).

    labels: the (x, y) centres ``(K, 2)`` to sample (e.g. :func:`~hidcap.geometry.grid_labels` for one per
    integer (x, y), or a finer lattice); period: the latent period in pixels (the frame size N); every: measure
    every k-th checkpoint (the last always); landmarks: greedy landmarks for persistent homology (None: all K
    points); maxdim: highest homology dimension; pca_dim: PCA dimensions before ripser; batch: labels sampled
    at once; coarse_labels: the centres ``(K', 2)`` measured at every checkpoint but the last (None: ``labels``;
    a row's ``points`` says how many it measured). The sampler noise of every checkpoint comes from ``seed``.
    """
    labels = _check_labels(labels, "labels")
    coarse = labels if coarse_labels is None else _check_labels(coarse_labels, "coarse_labels")
    rows: list[dict[str, Any]] = []
    correct: list[np.ndarray] = []
    timings = {"sample": 0.0, "sample_last": 0.0, "accuracy_pca": 0.0, "ripser": 0.0, "torus_tests": 0.0}
    images = acts = spectrum = None
    steps = measured_steps(series.steps, every)
    for step in progress_bar(steps, progress=progress, desc="measure"):
        at = labels if step == steps[-1] else coarse
        t0 = time.perf_counter()
        images, recorded = record_samples(series, step, at, sample_steps=sample_steps, seed=seed, layer=layer,
                                          batch=batch)
        t1 = time.perf_counter()
        acc = bump_accuracy(images, torch.as_tensor(at, dtype=torch.float32), periodic=True)
        acts = recorded.numpy()
        spectrum = geometry.pca_spectrum(acts)
        correct.append(np.asarray(acc.correct, dtype=bool))
        wil = wilson_interval(int(acc.correct.sum()), int(acc.correct.size))
        rows.append({"step": step, "points": len(at), "accuracy": acc.joint, "accuracy_low": wil.low,
                     "accuracy_high": wil.high, "accuracy_x": acc.x, "accuracy_y": acc.y,
                     "participation_ratio": spectrum.participation_ratio,
                     "top4_explained": spectrum.explained_variance(4),
                     "eigenvalues": spectrum.eigenvalues[:15].tolist()})
        timings["sample_last" if step == steps[-1] else "sample"] += t1 - t0
        timings["accuracy_pca"] += time.perf_counter() - t1
    t0 = time.perf_counter()
    ph = geometry.persistence_diagrams(acts, maxdim=maxdim, n_landmarks=landmarks, pca_dim=pca_dim, seed=seed)
    betti = geometry.betti_numbers(ph)
    betti_confidence = geometry.betti_numbers(ph, rule="confidence")  # reported beside (issue 25's new call)
    t1 = time.perf_counter()
    verdict = geometry.torus_tests(acts, labels, period=float(period))
    timings["ripser"], timings["torus_tests"] = t1 - t0, time.perf_counter() - t1
    return TorusMeasurement(seed=seed, layer=layer, series=series, rows=rows, step=steps[-1], labels=labels,
                            images=images, acts=acts, spectrum=spectrum, ph=ph, betti=betti, verdict=verdict,
                            correct=correct, timings=timings, betti_confidence=betti_confidence)


def _check_labels(labels: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(labels, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) < 2:
        raise ValueError(f"{name} must be (K >= 2, 2) centres (x, y), got shape {arr.shape}")
    return arr


def measure_torus_scale(series: SeriesLike, scale: TorusScale, seed: int,
                        progress: bool | None = None) -> TorusMeasurement:
    """:func:`measure_torus` with the measurement settings of a :class:`~hidcap.scales.TorusScale`."""
    return measure_torus(series, scale.labels(), layer=scale.bumps.layer, sample_steps=scale.sample_steps, seed=seed,
                         period=float(scale.data.image_size), every=scale.measure_every, landmarks=scale.landmarks,
                         maxdim=scale.maxdim, batch=scale.bumps.sample_batch, coarse_labels=scale.coarse_labels(),
                         progress=progress)


# ------------------------------------------------------------------------------------------ figures
def _peak(rows: Sequence[dict[str, Any]]) -> tuple[int, float] | None:
    trained = [r for r in rows if r["step"] > 0]
    if not trained:
        return None
    best = max(trained, key=lambda r: r["participation_ratio"])
    return best["step"], best["participation_ratio"]


def torus_figures(out: str | Path, results: Sequence[TorusMeasurement], *, accuracy_line: float | None = None,
                  betti_expected: tuple[int, ...] = (1, 2, 1)) -> list[str]:
    """Write training.png, spectrum.png, persistence.png, torus_tests.png, pca.png and samples.png into ``out``.

    training.png overlays every result (one per seed); the other figures show ``results[0]``. accuracy_line: a
    horizontal line on the accuracy panel (e.g. a criterion's threshold). Returns the file names.
    """
    if not results:
        raise ValueError("results must hold at least one TorusMeasurement")
    out = Path(out)
    res = results[0]
    names = ["training.png", "spectrum.png", "persistence.png", "torus_tests.png", "pca.png", "samples.png"]

    # training: loss, sample accuracy, participation ratio (★: peak over the trained checkpoints)
    fig = figure((14, 3.8))
    axes = fig.subplots(1, 3)
    for r in results:
        metrics = r.series.metrics()
        label = f"seed {r.seed}"
        axes[0].plot([m["step"] for m in metrics], [m["loss"] for m in metrics], label=label)
        steps = [row["step"] for row in r.rows]
        acc = np.array([row["accuracy"] for row in r.rows])
        if all("accuracy_low" in row for row in r.rows):
            err = [acc - np.array([row["accuracy_low"] for row in r.rows]),
                   np.array([row["accuracy_high"] for row in r.rows]) - acc]
            axes[1].errorbar(steps, acc, yerr=err, fmt="o-", ms=4, capsize=3, label=f"{label}, joint (95 % Wilson)")
        else:
            axes[1].plot(steps, acc, "o-", ms=4, label=f"{label}, joint")
        if len(results) == 1:
            axes[1].plot(steps, [row["accuracy_x"] for row in r.rows], ".--", label="x alone")
            axes[1].plot(steps, [row["accuracy_y"] for row in r.rows], ".--", label="y alone")
        axes[2].plot(steps, [row["participation_ratio"] for row in r.rows], "o-", ms=4, label=label)
        if (peak := _peak(r.rows)) is not None:
            axes[2].plot(*peak, "*", ms=14, color="tab:red")
    axes[0].set(xlabel="training step", ylabel="training loss (per batch)", yscale="log", title="training loss\n")
    if accuracy_line is not None:
        axes[1].axhline(accuracy_line, color="grey", ls=":", lw=1, label=f"threshold {accuracy_line:g}")
    counts = sorted({row.get("points", len(res.labels)) for row in res.rows})
    centres = f"{len(res.labels)} centres" if len(counts) == 1 else f"{' or '.join(map(str, counts))} centres"
    axes[1].set(xlabel="training step", ylabel="sample accuracy", ylim=(-0.02, 1.02),
                title=f"sample accuracy, one prompt per\nmeasured (x, y) ({centres})")
    axes[2].axhline(4, color="grey", ls=":", label="ideal Clifford torus (4)")
    axes[2].set(xlabel="training step", ylabel="participation ratio", yscale="log",
                title=f"participation ratio of {res.layer}\n(★ = peak over steps > 0)")
    for ax in axes:
        ax.legend(frameon=False, fontsize=7)
    plain_log_ticks(axes[0], "y")
    plain_log_ticks(axes[2], "y")
    fig.suptitle(f"{_model_label(res.series)}: training and the geometry of {res.layer}", fontsize=10)
    save(fig, out / names[0], dpi=120)

    # spectrum: explained variance of the top 15 components at every measured checkpoint
    fig = figure((5.5, 3.8))
    ax = fig.subplots()
    cmap = __import__("matplotlib").colormaps["viridis"]
    for i, row in enumerate(res.rows):
        ev = np.asarray(row["eigenvalues"])
        ax.plot(np.arange(1, len(ev) + 1), ev / ev.sum(), "o-", ms=3, color=cmap(i / max(1, len(res.rows) - 1)),
                label=f"step {row['step']} (acc {row['accuracy']:.2f}, top-4 {row['top4_explained']:.2f})")
    ax.set(xlabel="principal component", ylabel="explained variance ratio (of top 15)", yscale="log",
           title=f"PCA eigenspectrum of {res.layer}, seed {res.seed}\n{_model_label(res.series)}")
    plain_log_ticks(ax, "y")
    ax.legend(frameon=False, fontsize=6)
    save(fig, out / names[1], dpi=120)

    ax = geometry_plots.plot_diagrams(res.ph, title=f"{_model_label(res.series)}\n{res.layer}, step {res.step}, seed "
                                              f"{res.seed}\nBetti numbers {tuple(res.betti.betti)} (a torus: "
                                              f"{betti_expected})")
    ax.set(xlabel="birth (Euclidean distance after PCA)", ylabel="death (Euclidean distance after PCA)")
    save(ax.figure, out / names[2], dpi=120)
    save(_label_torus_tests(geometry_plots.plot_torus_tests(res.verdict), res), out / names[3], tight=False, dpi=120)
    _pca_figure(res, out / names[4])
    _samples_figure(res, out / names[5])
    return names


def _model_label(series: Any) -> str:
    """A short name of the model of ``series`` for figure titles: its architecture and channel widths, and the
    run directory when the series has one (``"UNet (16, 32, 32), run out/ct/run"``)."""
    model = getattr(getattr(series, "config", None), "model", None)
    name = "model" if model is None else type(model).__name__.removesuffix("Config")
    channels = getattr(model, "channels", None)
    if channels is not None:
        name += f" {tuple(channels)}"
    run_dir = getattr(series, "run_dir", None)
    return name if run_dir is None else f"{name}, run {'/'.join(Path(run_dir).parts[-2:])}"


def _label_torus_tests(fig: Any, res: TorusMeasurement) -> Any:
    """Make :func:`hidcap.geometry_plots.plot_torus_tests`' figure read on its own: y labels, a figure legend naming
    every colour (the overlap of two filled histograms included), a title naming the model, checkpoint, layer
    and seed, and a caption defining W."""
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Patch

    axes = [ax for ax in fig.axes if ax.get_title()]
    handles, labels = axes[0].get_legend_handles_labels()
    if axes[0].get_legend() is not None:
        axes[0].get_legend().remove()
    named, filled = [], []
    for h, lab in zip(handles, labels):
        patch = h.patches[0] if hasattr(h, "patches") else h
        if lab == "model":
            named.append((patch, f"model: {res.layer} at step {res.step}"))
            continue
        lab = lab.replace("clifford", "Clifford")
        named.append((patch, f"ideal {lab} torus" if "torus" not in lab else f"ideal {lab}"))
        if patch.get_fill():
            filled.append((to_rgba(patch.get_facecolor()), lab))
    for i, (c1, n1) in enumerate(filled):  # alpha-blended over white, as drawn
        for c2, n2 in filled[i + 1:]:
            under = np.array([1.0, 1.0, 1.0]) * (1 - c1[3]) + np.array(c1[:3]) * c1[3]
            blend = under * (1 - c2[3]) + np.array(c2[:3]) * c2[3]
            named.append((Patch(color=tuple(blend)), f"{n1} and {n2} overlap"))
    for ax in axes:
        if ax.get_subplotspec().colspan.start == 0:
            ax.set_ylabel("probability density")
    w, h = fig.get_size_inches()
    fig.set_size_inches(w, h + 1.0)
    fig.legend([a for a, _ in named], [b for _, b in named], loc="lower center", ncol=2, fontsize=8,
               frameon=False, bbox_to_anchor=(0.5, 0.035))
    fig.text(0.5, 0.01, "W: 1-D Wasserstein distance between the model's histogram and that ideal torus's "
             "(smaller = closer). Ideal tori are sampled on the same lattice.", ha="center", va="bottom",
             fontsize=7.5, color="0.25")
    fig.suptitle(f"torus tests of {_model_label(res.series)}\ncheckpoint step {res.step}, layer {res.layer}, "
                 f"seed {res.seed}", fontsize=10)
    fig.tight_layout(rect=(0, 0.9 / (h + 1.0), 1, 1))
    return fig


def _pca_figure(res: TorusMeasurement, path: Path) -> None:
    """Top-4 PCA projections, coloured by x (top row) and by y (bottom row), with a colour bar per row.

    On a Clifford torus x and y each take one 2-D plane of the top four components, but which plane is not
    known in advance; the three columns (PC1-PC2, PC3-PC4, PC1-PC3) show both planes and one mixed pair.
    """
    proj = res.spectrum.project(res.acts, 4)
    pairs = [(0, 1), (2, 3), (0, 2)]
    fig = figure((11.5, 6.6))
    axes = fig.subplots(2, len(pairs), squeeze=False)
    for r, (coord, col) in enumerate((("x", 0), ("y", 1))):
        c = res.labels[:, col]
        for ax, (i, j) in zip(axes[r], pairs):
            sc = ax.scatter(proj[:, i], proj[:, j], c=c, cmap="twilight", s=8)
            ax.set(title=f"PC{i + 1} vs PC{j + 1}, colour = {coord}", xticks=[], yticks=[],
                   xlabel=f"PC{i + 1} (activation units)", ylabel=f"PC{j + 1} (activation units)")
        fig.colorbar(sc, ax=list(axes[r]), label=f"prompted {coord} (px; cyclic)", fraction=0.03, pad=0.02)
    fig.suptitle(f"{_model_label(res.series)}: final representation ({res.layer}), step {res.step}, seed {res.seed}",
                 fontsize=9)
    save(fig, path, tight=False, dpi=120)


def _samples_figure(res: TorusMeasurement, path: Path) -> None:
    """Samples of (up to) an 8 x 8 subgrid of the measured lattice: x across the columns, y down the rows."""
    xs, ys = np.unique(res.labels[:, 0]), np.unique(res.labels[:, 1])
    imgs = res.images.numpy()
    if len(xs) * len(ys) != len(imgs):
        raise ValueError("samples.png needs the labels to be a full (x, y) lattice")
    grid = imgs.reshape(len(xs), len(ys), *imgs.shape[1:])  # [x index, y index] (labels are x slowest)
    sx, sy = max(1, len(xs) // 8), max(1, len(ys) // 8)
    pick, px, py = grid[::sx, ::sy], xs[::sx], ys[::sy]
    cols, rows = pick.shape[:2]
    fig = figure((cols * 0.9 + 0.6, rows * 0.9 + 0.7))
    axes = fig.subplots(rows, cols, squeeze=False,
                        gridspec_kw={"wspace": 0.08, "hspace": 0.08, "left": 0.1, "right": 0.98, "bottom": 0.1,
                                     "top": 0.88})
    for xi in range(cols):
        for yi in range(rows):
            a = axes[yi, xi]
            a.imshow(pick[xi, yi, 0], cmap="gray", vmin=0, vmax=1)
            a.set_xticks([])
            a.set_yticks([])
            if yi == rows - 1:
                a.set_xlabel(f"{px[xi]:g}", fontsize=7)
            if xi == 0:
                a.set_ylabel(f"{py[yi]:g}", fontsize=7, rotation=0, ha="right", va="center")
    fig.supxlabel("prompted x (px)", fontsize=8)
    fig.supylabel("prompted y (px)", fontsize=8)
    fig.suptitle(f"{_model_label(res.series)}: samples at step {res.step}, seed {res.seed} (x across, y down)",
                 fontsize=8)
    save(fig, path, tight=False, dpi=120)
