"""Figures of the measurement layer, saved as PNG: concept-space trajectories, capability vs behaviour,
accuracy/loss curves, and curves coloured by concept distance.

Every function draws on its own ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot, no global
backend change), saves to ``path`` (parent folders created) and returns the path. matplotlib is imported
inside the functions so ``import hidcap`` stays light.

The one rule for figures anywhere in hidcap (geometry, experiments) and in probes/examples: make them with
:func:`figure` and write them with :func:`save`; never import pyplot or change the backend.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["figure", "plain_log_ticks", "plot_capability", "plot_concept_space", "plot_curves", "plot_distance_curves", "plot_heatmap",
           "plot_image_grid", "save", "wilson_band"]


def figure(figsize: tuple[float, float], dpi: int = 110) -> Any:
    """A new ``matplotlib.figure.Figure`` on its own Agg canvas (no pyplot state); add axes with
    ``fig.subplots(...)`` or ``fig.add_subplot(...)``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def save(fig: Any, path: str | Path, *, tight: bool = True, dpi: int | None = None) -> Path:
    """Write ``fig`` as a PNG to ``path`` (parent folders created; ``tight``: ``tight_layout`` first); returns
    the path. A path not ending in ``.png`` -> ``ValueError``."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"path must end in .png, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout()
    fig.savefig(path, **({} if dpi is None else {"dpi": dpi}))
    return path


def plain_log_ticks(ax: Any, axis: str = "y") -> None:
    """Label a log-scaled ``axis`` ("x", "y" or "both") of ``ax`` with plain numbers ("60", "0.02") instead of
    matplotlib's "6×10¹"; when the axis spans at most two decades the minor ticks at 2 and 5 × 10^k are labelled
    too, so a short axis is never left with one label. Call it after the data and the log scale are set."""
    if axis not in ("x", "y", "both"):
        raise ValueError(f"axis must be 'x', 'y' or 'both', got {axis!r}")
    from matplotlib.ticker import FuncFormatter

    def plain(v: float, _pos: Any = None) -> str:
        return f"{v:g}" if v > 0 else ""

    for name in ("x", "y") if axis == "both" else (axis,):
        a = getattr(ax, f"{name}axis")
        if a.get_scale() != "log":
            raise ValueError(f"the {name} axis is not log-scaled (scale {a.get_scale()!r})")
        low, high = sorted(getattr(ax, f"get_{name}lim")())
        short = low > 0 and np.log10(high / low) <= 2

        def minor(v: float, _pos: Any = None, short: bool = short) -> str:
            lead = round(v / 10 ** np.floor(np.log10(v))) if v > 0 else 0
            return plain(v) if short and lead in (2, 5) else ""

        a.set_major_formatter(FuncFormatter(plain))
        a.set_minor_formatter(FuncFormatter(minor))


def wilson_band(ax: Any, steps: Any, correct: Any, *, color: Any = None, alpha: float = 0.15, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
    """Shade the 95 % Wilson interval of an accuracy curve on ``ax`` (error bars of a proportion).

    steps (T,); correct (T, n): per-checkpoint, per-sample correctness (0/1). Extra keywords go to
    ``ax.fill_between``. Returns ``(low (T,), high (T,))`` (:func:`hidcap.evaluation.wilson_bounds`)."""
    from hidcap.evaluation.intervals import wilson_bounds

    x = np.asarray(steps, dtype=float)
    c = np.asarray(correct, dtype=float)
    if c.ndim != 2 or x.ndim != 1 or c.shape[0] != x.size:
        raise ValueError(f"steps (T,) and correct (T, n) must match, got {x.shape} and {c.shape}")
    low, high = wilson_bounds(c.sum(axis=1), c.shape[1])
    ax.fill_between(x, low, high, color=color, alpha=alpha, lw=0, **kw)
    return low, high


def _as_curve(curve: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        steps, values = curve
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a (steps, values) pair") from None
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    if steps.ndim != 1 or steps.shape != values.shape:
        raise ValueError(f"{what}: steps and values must be 1-D of equal length, got {steps.shape} and {values.shape}")
    return steps, values


def plot_concept_space(
    table: Any,
    path: str | Path,
    classes: Sequence[str] | None = None,
    *,
    title: str | None = None,
    held_out: Sequence[str] = (),
) -> Path:
    """Trajectories of class points through concept space over checkpoints.

    table: a :class:`~hidcap.evaluation.concept_scores.ConceptSpace` with 2 concepts (a 2-D unit square)
    or 3 (a 3-D unit cube). The corners are labelled with the class bits; each class's trajectory is a
    line from a hollow marker (first checkpoint) to a filled one (last), its points shaded by step.
    ``held_out`` classes are drawn with dashed lines.
    """
    n = len(table.concepts)
    if n not in (2, 3):
        raise ValueError(f"concept-space plots need 2 or 3 concepts, the table has {n}: {table.concepts}")
    classes = list(table.classes if classes is None else classes)
    for c in classes:
        if c not in table.classes:
            raise KeyError(f"class {c!r} is not in the table; classes: {table.classes}")
    from matplotlib import colormaps

    fig = figure((5.2, 5.0))
    ax = fig.add_subplot(projection="3d") if n == 3 else fig.add_subplot()
    corners = [tuple(int(b) for b in f"{i:0{n}b}") for i in range(2**n)]
    for corner in corners:
        ax.scatter(*corner, color="0.6", s=30, marker="s")
        label = "".join(map(str, corner))
        offset = [(-0.06 if v == 0 else 0.03) for v in corner]
        ax.text(*(np.array(corner) + offset), label, color="0.3", fontsize=10)
    if n == 2:
        ax.plot([0, 1, 1, 0, 0], [0, 0, 1, 1, 0], color="0.85", lw=1, zorder=0)
        ax.set_xlim(-0.12, 1.12)
        ax.set_ylim(-0.12, 1.12)
        ax.set_aspect("equal")
    colors = colormaps["tab10"]
    for k, c in enumerate(classes):
        steps, pts = table.trajectory(c)
        col = colors(k % 10)
        style = "--" if c in held_out else "-"
        ax.plot(*pts.T, style, color=col, lw=1.5, label=f"class {c}" + (" (held out)" if c in held_out else ""))
        shade = (steps - steps.min()) / max(steps.max() - steps.min(), 1)
        ax.scatter(*pts.T, c=[col], s=8 + 24 * shade, alpha=0.5)
        ax.scatter(*pts[0], facecolors="none", edgecolors=[col], s=60)
        ax.scatter(*pts[-1], color=col, s=60)
    ax.set_xlabel(f"P({table.concepts[0]} = 1)")
    ax.set_ylabel(f"P({table.concepts[1]} = 1)")
    if n == 3:
        ax.set_zlabel(f"P({table.concepts[2]} = 1)")
    ax.set_title(title or "concept space (hollow: first checkpoint, filled: last)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left" if n == 3 else "best")
    return save(fig, path)


def plot_capability(
    tables: Any,
    cls: str,
    path: str | Path,
    *,
    labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Capability (solid) and behaviour (dashed) of class ``cls`` over training steps, one colour per
    run. ``tables``: one :class:`~hidcap.evaluation.elicitation.CapabilityTable` or a sequence of them
    (e.g. one per seed); ``labels`` names them (default ``seed 0``, ``seed 1``, ...). Tables with fresh
    samples (selection control) show the fresh scores with their 95 % Wilson bands (:func:`wilson_band`);
    tables with per-sample correctness but no fresh samples show the selection scores with bands."""
    tables = [tables] if hasattr(tables, "summary") else list(tables)
    if not tables:
        raise ValueError("tables must hold at least one CapabilityTable")
    labels = [f"seed {i}" for i in range(len(tables))] if labels is None else list(labels)
    if len(labels) != len(tables):
        raise ValueError(f"labels must name every table: {len(labels)} labels for {len(tables)} tables")
    from matplotlib import colormaps

    fig = figure((6.0, 3.8))
    ax = fig.add_subplot()
    colors = colormaps["tab10"]
    fresh_any = False
    for i, (t, lab) in enumerate(zip(tables, labels)):
        fresh = bool(getattr(t, "fresh", None))
        fresh_any |= fresh
        steps, cap = t.curve(cls, "capability_fresh" if fresh else "capability")
        _, beh = t.curve(cls, "behaviour_fresh" if fresh else "behaviour")
        ax.plot(steps, cap, "-o", ms=3, color=colors(i % 10), label=f"{lab} capability")
        ax.plot(steps, beh, "--", color=colors(i % 10), alpha=0.8, label=f"{lab} behaviour")
        rows = getattr(t, "variants", [])
        if fresh or (rows and all("correct" in r for r in rows)):
            naive = getattr(t, "naive", "naive")
            wilson_band(ax, steps, t.correct(cls, None, fresh=fresh)[1], color=colors(i % 10), alpha=0.15)
            wilson_band(ax, steps, t.correct(cls, naive, fresh=fresh)[1], color=colors(i % 10), alpha=0.08, hatch="//")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"{tables[0].metric} accuracy")
    default = f"class {cls}: capability (max over protocols) vs behaviour (own prompt)"
    if fresh_any:
        default = f"class {cls}: capability vs behaviour, fresh samples, 95 % Wilson bands"
    ax.set_title(title or default, fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    return save(fig, path)


def plot_curves(
    curves: Mapping[str, Any],
    path: str | Path,
    *,
    ylabel: str = "accuracy",
    logy: bool = False,
    threshold: float | None = None,
    title: str | None = None,
) -> Path:
    """Line plot of named curves ``{label: (steps (T,), values (T,))}`` (accuracy or loss over training).
    ``logy``: log-scaled y axis (losses); ``threshold``: a horizontal dotted line (e.g. the learning-time
    threshold)."""
    if not curves:
        raise ValueError("curves must hold at least one (steps, values) pair")
    fig = figure((6.0, 3.8))
    ax = fig.add_subplot()
    for label, curve in curves.items():
        steps, values = _as_curve(curve, f"curves[{label!r}]")
        ax.plot(steps, values, "-", lw=1.5, marker="o" if steps.size <= 80 else None, ms=3, label=str(label))
    if threshold is not None:
        ax.axhline(threshold, color="0.4", ls=":", lw=1, label=f"threshold {threshold:g}")
    if logy:
        ax.set_yscale("log")
        plain_log_ticks(ax, "y")
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return save(fig, path)


def plot_distance_curves(
    curves: Mapping[str, Any],
    distances: Mapping[str, int],
    path: str | Path,
    *,
    ylabel: str = "joint accuracy",
    title: str | None = None,
) -> Path:
    """Curves ``{class: (steps, values)}`` coloured by each class's concept distance to the training set
    (``distances``, e.g. ``ConceptGraph.distances()``; training classes may be given distance 0).
    Legend entries are sorted by distance."""
    if not curves:
        raise ValueError("curves must hold at least one (steps, values) pair")
    missing = [c for c in curves if c not in distances]
    if missing:
        raise KeyError(f"no concept distance for class(es) {missing}")
    from matplotlib import colormaps

    levels = sorted({int(distances[c]) for c in curves})
    cmap = colormaps["viridis"]
    colour = {d: cmap(0.85 * i / max(len(levels) - 1, 1)) for i, d in enumerate(levels)}
    fig = figure((6.0, 3.8))
    ax = fig.add_subplot()
    for c, curve in sorted(curves.items(), key=lambda kv: (int(distances[kv[0]]), kv[0])):
        steps, values = _as_curve(curve, f"curves[{c!r}]")
        d = int(distances[c])
        ax.plot(steps, values, "-", lw=1.5, color=colour[d], label=f"{c} (distance {d})")
    ax.set_ylim(-0.03, 1.08)
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    ax.set_title(title or "generalisation by concept distance", fontsize=10)
    ax.legend(fontsize=8)
    return save(fig, path)


def plot_image_grid(
    images: Any,
    path: str | Path,
    *,
    row_labels: Sequence[str],
    col_labels: Sequence[str] | None = None,
    col_name: str = "sample",
    title: str | None = None,
    colorbar: bool | None = None,
    cell_inches: float = 0.75,
) -> Path:
    """Images as a labelled grid: one row per entry of ``row_labels``, ``len(images) / rows`` per row.

    images: (N, C, H, W) with C = 1 or 3, values in [0, 1] (torch or numpy), N divisible by the number of
    rows; row-major. Pixels are upscaled by nearest neighbour (no smoothing); rows are labelled with
    ``row_labels`` (e.g. class bits or bump centres), columns with ``col_labels`` (default 1, 2, …) under the
    axis name ``col_name``.
    colorbar: a grey-value colour bar for single-channel images (default: when C = 1).
    """
    arr = np.asarray(images.detach().cpu().float() if hasattr(images, "detach") else images, dtype=float)
    if arr.ndim != 4 or arr.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, C, H, W) with C = 1 or 3, got shape {arr.shape}")
    rows = len(row_labels)
    if rows < 1 or arr.shape[0] % rows:
        raise ValueError(f"{arr.shape[0]} images do not fill {rows} rows")
    n, c, h, w = arr.shape
    cols = n // rows
    col_labels = [str(i + 1) for i in range(cols)] if col_labels is None else list(col_labels)
    if len(col_labels) != cols:
        raise ValueError(f"col_labels must name {cols} columns, got {len(col_labels)}")
    gap = max(1, h // 8)
    canvas = np.ones((rows * (h + gap) - gap, cols * (w + gap) - gap, c))
    for k in range(n):
        r, q = divmod(k, cols)
        canvas[r * (h + gap) : r * (h + gap) + h, q * (w + gap) : q * (w + gap) + w] = arr[k].transpose(1, 2, 0)
    canvas = canvas.clip(0.0, 1.0)
    colorbar = c == 1 if colorbar is None else colorbar
    label_in = 0.12 * max(len(str(lab)) for lab in row_labels) + 0.4
    fig = figure((label_in + cols * cell_inches + (1.0 if colorbar else 0.2), rows * cell_inches + 0.9))
    ax = fig.add_subplot()
    shown = ax.imshow(canvas[..., 0] if c == 1 else canvas, cmap="gray" if c == 1 else None, vmin=0.0, vmax=1.0,
                      interpolation="nearest")
    ax.set_yticks([r * (h + gap) + (h - 1) / 2 for r in range(rows)], [str(lab) for lab in row_labels], fontsize=8)
    ax.set_xticks([q * (w + gap) + (w - 1) / 2 for q in range(cols)], col_labels, fontsize=7)
    ax.set_xlabel(col_name, fontsize=8)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        fig.colorbar(shown, ax=ax, fraction=0.04, pad=0.02, label="pixel value")
    return save(fig, path)


def plot_heatmap(
    panels: Mapping[str, Any],
    path: str | Path,
    *,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    row_name: str = "",
    col_name: str = "",
    title: str | None = None,
    annotate: bool | None = None,
    cmap: str = "viridis",
) -> Path:
    """One heatmap per entry of ``panels`` ``{name: values (R, K)}``, side by side, each with its own
    colour bar labelled ``name``; rows labelled ``row_labels`` (axis ``row_name``), columns ``col_labels``.
    annotate: write each cell's value (default: when a panel has at most 64 cells). NaN cells stay blank."""
    if not panels:
        raise ValueError("panels must hold at least one (R, K) array")
    values = {name: np.asarray(v, dtype=float) for name, v in panels.items()}
    shape = (len(row_labels), len(col_labels))
    for name, v in values.items():
        if v.shape != shape:
            raise ValueError(f"panel {name!r} has shape {v.shape}, the labels give {shape}")
    annotate = shape[0] * shape[1] <= 64 if annotate is None else annotate
    width = min(max(2.2, 0.55 * shape[1] + 1.6), 9.0)
    fig = figure((width * len(values), min(max(2.2, 0.4 * shape[0] + 1.3), 9.0)))
    for i, (name, v) in enumerate(values.items()):
        ax = fig.add_subplot(1, len(values), i + 1)
        im = ax.imshow(v, cmap=cmap, aspect="auto", interpolation="nearest")
        step_r, step_c = max(1, shape[0] // 16), max(1, shape[1] // 16)
        ax.set_yticks(range(0, shape[0], step_r), [str(lab) for lab in row_labels][::step_r], fontsize=8)
        ax.set_xticks(range(0, shape[1], step_c), [str(lab) for lab in col_labels][::step_c], fontsize=8)
        ax.set_ylabel(row_name)
        ax.set_xlabel(col_name)
        fig.colorbar(im, ax=ax, fraction=0.05, pad=0.03, label=name)
        if annotate and np.isfinite(v).any():
            lo, hi = np.nanmin(v), np.nanmax(v)
            for (r, q), x in np.ndenumerate(v):
                if np.isfinite(x):
                    dark = hi > lo and (x - lo) / (hi - lo) < 0.5
                    ax.text(q, r, f"{x:.3g}", ha="center", va="center", fontsize=7, color="w" if dark else "k")
    if title:
        fig.suptitle(title, fontsize=10)
    return save(fig, path)
