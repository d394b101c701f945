"""Composition versus interpolation (Liang et al. 2024, Sec. 3.2, Fig. 4 and 9): sections of the frame around a
held-out band, per-sample correctness, per-section accuracy tables and their figures.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.patches import Rectangle

from hidcap.data import BumpDataSpec
from hidcap.evaluation import centre_errors, decode_centres
from hidcap.plotting import figure


DATASETS = ("2d", "1d", "2d+1d")


SECTIONS = ("train", "vertical", "horizontal", "intersection")


HELD_OUT = ("vertical", "horizontal", "intersection")


def section_masks(frame: np.ndarray, band: tuple[float, float]) -> dict[str, np.ndarray]:
    """Boolean masks ``(K,)`` of the four sections for frame coordinates ``(K, 2)``: train (neither coordinate in
    the band), vertical (x in, y not), horizontal (y in, x not), intersection (both)."""
    f = np.asarray(frame, dtype=float)
    if f.ndim != 2 or f.shape[1] != 2:
        raise ValueError(f"frame coordinates must be (K, 2), got shape {f.shape}")
    low, high = band
    if low > high:
        raise ValueError(f"band low must be <= high, got {band}")
    in_x = (f[:, 0] >= low) & (f[:, 0] <= high)
    in_y = (f[:, 1] >= low) & (f[:, 1] <= high)
    return {"train": ~in_x & ~in_y, "vertical": in_x & ~in_y, "horizontal": ~in_x & in_y, "intersection": in_x & in_y}


def correctness(images, frame: np.ndarray, *, threshold: float = 0.5, tolerance: float = 1.0) -> np.ndarray:
    """Per-sample ``(K, 2)`` bool: is the decoded μx / μy within ``tolerance`` of the prompted frame coordinate
    (blobs = pixels darker than ``threshold``, see :func:`hidcap.evaluation.decode_centres`)."""
    err = centre_errors(decode_centres(images, threshold=threshold), frame)
    return err < tolerance


def single_blob(images, *, threshold: float) -> np.ndarray:
    """Per sample ``(K,)`` bool: exactly one connected region darker than ``threshold`` (a bump, or the crossing of
    an SOS). Samples without it are decoded by the centroid fallback, which puts a lone stripe's missing
    coordinate at the frame centre."""
    from scipy import ndimage

    arr = images.detach().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    arr = arr.reshape(arr.shape[0], arr.shape[-2], arr.shape[-1])
    return np.array([ndimage.label(img < threshold)[1] == 1 for img in arr], dtype=bool)


def section_table(ok: np.ndarray, masks: dict[str, np.ndarray], blob: np.ndarray | None = None
                  ) -> dict[str, dict[str, float]]:
    """Per section: n, x, y, joint accuracy, 'either' (at least one coordinate right) from ``ok`` ``(K, 2)``, and
    with ``blob`` ``(K,)`` 'crossing' (joint right *and* a single blob: a composed 2D image at the right place)."""
    out = {}
    for name, m in list(masks.items()) + [("held_out", masks["vertical"] | masks["horizontal"] | masks["intersection"]),
                                           ("all", np.ones(len(ok), dtype=bool))]:
        sel = ok[m]
        n = int(m.sum())
        if n == 0:
            out[name] = {"n": 0, "x": None, "y": None, "joint": None, "either": None, "crossing": None}
            continue
        joint = sel.all(axis=1)
        out[name] = {"n": n, "x": float(sel[:, 0].mean()), "y": float(sel[:, 1].mean()),
                     "joint": float(joint.mean()), "either": float(sel.any(axis=1).mean()),
                     "crossing": None if blob is None else float((joint & blob[m]).mean())}
    return out


def plot_maps(path: Path, maps: dict[str, np.ndarray], n: int, band, kind: str, seeds) -> None:
    """Per data set (rows): μx, μy and joint accuracy over (x, y), the band's sections outlined."""
    fig = figure((10.5, 3.1 * len(maps) + 0.6))
    fig.set_layout_engine("constrained")
    axes = fig.subplots(len(maps), 3, squeeze=False)
    for row, (name, acc) in enumerate(maps.items()):  # acc (n, n, 3): [x index, y index, (x, y, joint)]
        for col, what in enumerate(("μx correct", "μy correct", "both correct (joint)")):
            ax = axes[row, col]
            im = ax.imshow(acc[:, :, col].T, origin="upper", cmap="RdYlGn", vmin=0, vmax=1,
                           extent=(-0.5, n - 0.5, n - 0.5, -0.5))
            for v in (band[0] - 0.5, band[1] + 0.5):
                ax.axvline(v, color="k", ls="--", lw=1)
                ax.axhline(v, color="k", ls="--", lw=1)
            ax.set_title(f"{name.upper()}: {what}", fontsize=10)
            ax.set(xlabel="prompted μx", ylabel="prompted μy")
            c = (band[0] + band[1]) / 2
            for (tx, ty), label in (((c, 0.15 * n), "V"), ((0.15 * n, c), "H"), ((c, c), "I")):
                ax.text(tx, ty, label, ha="center", va="center", fontsize=9, fontweight="bold",
                        bbox={"facecolor": "white", "alpha": 0.6, "lw": 0, "pad": 1})
    fig.colorbar(im, ax=axes, shrink=0.5, label=f"fraction correct (mean over seeds {list(seeds)})")
    fig.suptitle(f"2D data = {kind}; dashed: held-out band [{band[0]:g}, {band[1]:g}]; "
                 "V vertical, H horizontal, I intersection section", fontsize=10)
    fig.savefig(path, dpi=110)


def plot_sections(path: Path, tables: dict[str, dict], kind: str) -> None:
    """Bars per section (vertical, horizontal, intersection, train) of μx / μy / joint accuracy per data set."""
    names = list(tables)
    colours = {"2d": "tab:green", "1d": "tab:blue", "2d+1d": "tab:orange"}
    fig = figure((14, 3.6))
    axes = fig.subplots(1, 4, sharey=True)
    width = 0.8 / max(1, len(names))
    for ax, section in zip(axes, ("vertical", "horizontal", "intersection", "train")):
        for i, name in enumerate(names):
            t = tables[name][section]
            vals = [t[k] if t.get(k) is not None else 0 for k in ("x", "y", "joint", "crossing")]
            ax.bar(np.arange(4) + (i - (len(names) - 1) / 2) * width, vals, width, color=colours.get(name, "grey"),
                   label=name.upper())
        ax.set_xticks(range(4), ["μx", "μy", "joint", "crossing"])
        ax.set_title(f"{section} (n={tables[names[0]][section]['n']})")
        ax.set_ylim(0, 1.05)
    axes[0].set_ylabel("accuracy (|error| < 1 px)")
    axes[0].legend(frameon=False, fontsize=8)
    fig.suptitle(f"per-section accuracy, 2D data = {kind} (paper 003 Fig. 4(c-e)); crossing = joint with a single "
                 "blob (a 2D image, not a lone stripe)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot_data_and_samples(path: Path, specs_by: dict[str, list[BumpDataSpec]], samples: dict[str, tuple],
                          scale: Any, seed: int) -> None:
    """Top: the training centres of each data set in the latent space (Fig. 9(e-g)); bottom: samples prompted
    in each held-out section."""
    names = list(specs_by)
    fig = figure((4.2 * len(names), 8.2))
    axes = fig.subplots(2, len(names), squeeze=False)
    off = scale.latent_size / 2 - scale.image_size / 2
    for col, name in enumerate(names):
        ax = axes[0, col]
        for spec in specs_by[name]:
            c = spec.centres(seed).numpy()
            colour = {"stripe_x": "tab:blue", "stripe_y": "tab:purple"}.get(spec.kind, "tab:green")
            ax.scatter(c[:, 0], c[:, 1], s=1.5, color=colour, label=f"{spec.kind} ({len(c)})")
        ax.add_patch(Rectangle((off, off), scale.image_size, scale.image_size, fill=False, color="k", lw=1))
        lo, hi = scale.band[0] + off, scale.band[1] + off
        for a, b in ((lo, hi),):
            ax.axvspan(a, b, color="tab:red", alpha=0.12)
            ax.axhspan(a, b, color="tab:red", alpha=0.12)
        ax.set(xlim=(0, scale.latent_size), ylim=(scale.latent_size, 0), aspect="equal",
               title=f"{name.upper()} training centres (latent units)", xlabel="μx", ylabel="μy")
        ax.legend(frameon=False, fontsize=7, loc="lower right", markerscale=4)
        # samples: a strip of prompts from each held-out section
        images, frame = samples[name]
        masks = section_masks(frame, scale.band)
        picks = []
        for section in ("vertical", "horizontal", "intersection"):
            idx = np.flatnonzero(masks[section])
            if len(idx):
                picks += [(section, int(i)) for i in idx[np.linspace(0, len(idx) - 1, 3).round().astype(int)]]
        ax = axes[1, col]
        ax.axis("off")
        k = len(picks)
        for j, (section, i) in enumerate(picks):
            sub = ax.inset_axes((j % 3 / 3 + 0.01, 1 - (j // 3 + 1) / max(1, (k + 2) // 3) + 0.02,
                                 0.3, 1 / max(1, (k + 2) // 3) - 0.06))
            sub.imshow(images[i, 0], cmap="gray", vmin=0, vmax=1)
            x, y = frame[i]
            sub.plot([x], [y], "r+", ms=8)
            sub.set_xticks([])
            sub.set_yticks([])
            sub.set_title(f"{section[:5]} ({x:g},{y:g})", fontsize=7)
        ax.set_title(f"{name.upper()} samples in the held-out sections (+ = prompt)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
