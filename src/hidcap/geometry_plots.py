"""Figures of the geometry and percolation measurements. This is the figure layer (docs/design.md): the
measurement modules (:mod:`hidcap.geometry`, :mod:`hidcap.percolation`) compute and draw nothing.

PCA spectra, projections, persistence diagrams, the torus tests and percolation curves, each on its own Agg
canvas (:func:`hidcap.plotting.figure`); each returns its ``Axes`` or ``Figure`` and writes a PNG when given
``path``.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hidcap.geometry.pca import PCASpectrum, as_points
from hidcap.geometry.projections import _check_components
from hidcap.geometry.topology import PersistenceResult, _diagram_list
from hidcap.geometry.torus import STATISTICS, TESTS, TorusVerdict
from hidcap.percolation import PercolationCurve
from hidcap.plotting import figure

__all__ = ["plot_diagrams", "plot_percolation", "plot_projection", "plot_spectrum", "plot_torus_tests"]


def plot_spectrum(
    spectrum: PCASpectrum, *, n: int | None = 20, cumulative: bool = True, ax: Any = None, path: str | Path | None = None
) -> Any:
    """Bar plot of the explained-variance ratio of the top ``n`` axes (plus its cumulative curve).

    Returns the matplotlib ``Axes``; saves a PNG when ``path`` is given.
    """
    ratio = spectrum.explained_variance_ratio[: n or None]
    if ax is None:
        ax = figure((5, 3.5)).subplots()
    idx = np.arange(1, len(ratio) + 1)
    ax.bar(idx, ratio, color="tab:blue", label="per component")
    if cumulative:
        ax.plot(idx, np.cumsum(ratio), "o-", color="tab:orange", ms=3, label="cumulative")
    ax.set_xlabel("principal component")
    ax.set_ylabel("explained variance ratio")
    pr = f"{spectrum.participation_ratio:.2f}" if np.any(spectrum.eigenvalues > 0) else "undefined: zero variance"
    ax.set_title(f"PCA spectrum (participation ratio {pr})")
    ax.legend(frameon=False)
    if path is not None:
        ax.figure.tight_layout()
        ax.figure.savefig(path, dpi=120)
    return ax


def plot_projection(
    projection: np.ndarray,
    *,
    color: np.ndarray | None = None,
    cmap: str = "twilight",
    title: str | None = None,
    ax: Any = None,
    path: str | Path | None = None,
) -> Any:
    """Scatter a 2-D or 3-D projection ``(n, 2|3)`` coloured by ``color`` ``(n,)`` (e.g. the x label).

    Returns the ``Axes`` (3-D axes for 3 columns); saves a PNG when ``path`` is given.
    """
    proj = as_points(projection, "projection", min_points=1)
    k = _check_components(proj.shape[1])
    if color is not None and len(np.asarray(color)) != len(proj):
        raise ValueError(f"color has {len(np.asarray(color))} entries but the projection has {len(proj)} points")
    if ax is None:
        ax = figure((4.5, 4.5)).add_subplot(projection="3d" if k == 3 else None)
    ax.scatter(*proj.T, c=color, cmap=cmap if color is not None else None, s=6)
    if title:
        ax.set_title(title)
    if path is not None:
        ax.figure.tight_layout()
        ax.figure.savefig(path, dpi=120)
    return ax


def plot_diagrams(
    diagrams: PersistenceResult | Sequence[np.ndarray],
    *,
    title: str | None = None,
    lifetime: bool = False,
    ax: Any = None,
    path: str | Path | None = None,
) -> Any:
    """Plot persistence diagrams with persim; returns the ``Axes`` and saves a PNG when ``path`` is given."""
    import persim

    dgms = _diagram_list(diagrams)
    if ax is None:
        ax = figure((4.5, 4.5)).subplots()
    persim.plot_diagrams(dgms, title=title, lifetime=lifetime, ax=ax, show=False)
    if path is not None:
        ax.figure.tight_layout()
        ax.figure.savefig(path, dpi=120)
    return ax


def plot_torus_tests(verdict: TorusVerdict, *, path: str | Path | None = None, bins: int = 30) -> Any:
    """Histograms (3 tests × 2 statistics) of the model against the Clifford torus and, per test, the standard
    torus in the orientation that test found closer (the one its title's W(standard) measures); returns the
    ``Figure``."""
    fig = figure((9, 8))
    axes = fig.subplots(len(TESTS), len(STATISTICS), squeeze=False)
    edges = np.linspace(0, 1, bins + 1)
    for i, t in enumerate(TESTS):
        orient = verdict.standard_orientation[t]
        for j, s in enumerate(STATISTICS):
            ax = axes[i, j]
            for name, stats, color in ((f"standard ({orient} on the large circle)", verdict.standard_for(t), "tab:blue"),
                                       ("clifford", verdict.clifford, "tab:orange")):
                ax.hist(stats.values[t][s], bins=edges, density=True, alpha=0.5, color=color, label=name)
            ax.hist(verdict.model.values[t][s], bins=edges, density=True, histtype="step", lw=1.5, color="k", label="model")
            d = verdict.distances[t][s]
            ax.set_title(f"{t} {s}\nW: clifford {d['clifford']:.3f}, standard ({orient}-major) {d['standard']:.3f}",
                         fontsize=9)
            ax.set_xlabel("cosine of principal angle" if s == "orthogonality" else "normalised residual")
            ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def plot_percolation(
    curves: Sequence[PercolationCurve], *, labels: Sequence[str] | None = None, ax: Any = None, path: str | Path | None = None
) -> Any:
    """Mean ± std largest-cluster mass ratio versus λ for each curve; returns the ``Axes`` (PNG when ``path``)."""
    if ax is None:
        ax = figure((5, 3.5)).subplots()
    for i, c in enumerate(curves):
        label = labels[i] if labels is not None else f"σ={c.config.sigma}"
        ax.plot(c.lambdas, c.mean, label=label)
        ax.fill_between(c.lambdas, c.mean - c.std, c.mean + c.std, alpha=0.25)
    ax.set_xlabel("kept fraction λ")
    ax.set_ylabel("largest-cluster mass ratio")
    ax.legend(frameon=False)
    if path is not None:
        ax.figure.tight_layout()
        ax.figure.savefig(path, dpi=120)
    return ax
