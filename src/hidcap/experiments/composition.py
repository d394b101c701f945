"""Composition versus interpolation (Liang et al. 2024, Sec. 3.2, Fig. 4 and 9): sections of the frame around a
held-out band, the probe's scales (:func:`compose_scale`), per-sample correctness, per-section accuracy tables
and their figures.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.patches import Rectangle

from hidcap.data import BumpDataSpec, HeldOutRegion
from hidcap.evaluation import centre_errors, decode_centres
from hidcap.evaluation.intervals import Interval, accuracy_interval, beats, wilson_interval
from hidcap.evaluation.seeds import seed_margin, seed_spread
from hidcap.scales import BumpScale, bump_scale
from hidcap.plotting import figure
from hidcap.run_config import CheckpointConfig, OptimConfig


DATASETS = ("2d", "1d", "2d+1d")


SECTIONS = ("train", "vertical", "horizontal", "intersection")


HELD_OUT = ("vertical", "horizontal", "intersection")


@dataclass(frozen=True)
class ComposeScale:
    """Data, band, run length and measurement of one scale. ``band`` is (low, high) in frame pixels, inclusive.

    steps: training steps of the 2D and 1D models; 2D+1D trains for the same number of epochs as 2D (steps scaled
    by its number of images, :meth:`steps_for`), so every 2D image is seen as often in 2D+1D as in 2D.
    increment: lattice spacing of every on-frame coordinate; stripe_increment: spacing of the stripes' off-frame
    coordinate in the 2D+1D set (None: ``increment``). Paper 003 (N = 32, 44×44 latent, d = 0.1) has about as many
    stripes as 2D images in its 2D+1D set; on a 16-pixel frame with the same 6-pixel pad the off-frame space is
    relatively larger, and a coarser off-frame spacing keeps that balance.
    """

    name: str
    bumps: BumpScale
    band: tuple[float, float]
    increment: float
    steps: int
    sample_steps: int
    sigma: float = 1.0
    stripe_increment: float | None = None

    @property
    def image_size(self) -> int:
        return self.bumps.image_size

    @property
    def latent_size(self) -> int:
        return self.image_size + 12  # 44 for N = 32: the stripes' extended latent space (paper 003, App. C.1)

    def specs(self, dataset: str, kind: str) -> list[BumpDataSpec]:
        """The data specs of ``dataset`` ('2d', '1d' or '2d+1d') with 2D data of ``kind`` ('sos' or 'bump')."""
        if dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
        if kind not in ("sos", "bump"):
            raise ValueError(f"kind must be 'sos' or 'bump', got {kind!r}")
        common = dict(image_size=self.image_size, increment=self.increment, latent_size=self.latent_size,
                      sigma_x=self.sigma, sigma_y=self.sigma)
        out = []
        if dataset in ("2d", "2d+1d"):
            out.append(BumpDataSpec(kind=kind, held_out=HeldOutRegion("band", *self.band), **common))
        if dataset in ("1d", "2d+1d"):
            # the 1D-only set drops the rim where both stripes are partly visible (paper 003, App. C.1: "without
            # 2D rim"); in 2D+1D the stripes cover the whole extended latent space
            rim = 3.0 * self.sigma if dataset == "1d" else 0.0
            # the coarser off-frame spacing only balances the 2D+1D mix; 1D alone keeps the lattice spacing
            off = (self.stripe_increment or self.increment) if dataset == "2d+1d" else self.increment
            stripes = dict(common, rim=rim)
            out += [BumpDataSpec(kind="stripe_x", **dict(stripes, increment_y=off)),  # y off the frame
                    BumpDataSpec(kind="stripe_y", **dict(stripes, increment=off, increment_y=self.increment))]
        return out

    def images(self, dataset: str, seed: int = 0) -> int:
        """Number of training images of ``dataset``."""
        return int(sum(len(s.centres(seed)) for s in self.specs(dataset, "sos")))

    def steps_for(self, dataset: str, seed: int = 0) -> int:
        """Training steps of ``dataset``: ``steps`` for 2D and 1D; for 2D+1D as many epochs as the 2D model."""
        if dataset != "2d+1d":
            return self.steps
        return max(self.steps, round(self.steps * self.images(dataset, seed) / self.images("2d", seed)))

    def train_config(self, dataset: str, seed: int, device: str):
        return self.bumps.train_config(None, seed, device, steps=self.steps_for(dataset, seed),
                                       checkpoints=CheckpointConfig(count=1, include_start=False))


def compose_scale(name: str) -> ComposeScale:
    """The ``tiny``, ``quick`` and ``full`` settings of ``probes/compose_interpolate.py`` (docs/probes.md)."""
    b = bump_scale(name)
    if name == "tiny":
        return ComposeScale(name, b, band=(3.0, 5.0), increment=1.0, steps=20, sample_steps=4, stripe_increment=2.0)
    if name == "quick":
        # a smaller U-Net than the torus probe's, so three data sets train in a few minutes of CPU
        small = replace(b, model=replace(b.model, channels=(8, 16, 16), groups=4),
                        optimizer=OptimConfig(lr=5e-3, weight_decay=0.0), batch_size=32)
        return ComposeScale(name, small, band=(5.0, 11.0), increment=0.5, steps=1200, sample_steps=30,
                            stripe_increment=2.0)
    if name == "full":
        return ComposeScale(name, b, band=(13.0, 19.0), increment=0.1, steps=50000, sample_steps=1000)
    raise ValueError(f"unknown scale {name!r}; use tiny, quick or full")


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


#: the quantities the compose/interpolate criterion reads, per data set (see :func:`quantity_samples`)
QUANTITIES = ("train_joint", "composed", "interpolated", "held_joint", "held_crossing", "all_either")


def quantity_samples(ok: np.ndarray, blob: np.ndarray, masks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-sample 0/1 values of each judged quantity of one seed, from ``ok`` ``(K, 2)``, ``blob`` ``(K,)`` and
    :func:`section_masks` ``masks``:

    - ``train_joint``: joint correctness in the training section;
    - ``composed``: μy correct in the vertical section, then μx correct in the horizontal section (the seen
      coordinate; one array of 2·n values, so its mean is the mean of the two section accuracies when, as for a
      band centred on a square frame, both sections have n samples);
    - ``interpolated``: μx correct in the vertical section, then μy in the horizontal one (the held-out coordinate);
    - ``held_joint``: joint correctness in the held-out region (vertical + horizontal + intersection);
    - ``held_crossing``: joint correct and a single blob in the held-out region;
    - ``all_either``: at least one coordinate right, every sample.
    """
    ok = np.asarray(ok, dtype=bool)
    blob = np.asarray(blob, dtype=bool)
    if ok.ndim != 2 or ok.shape[1] != 2 or blob.shape != (ok.shape[0],):
        raise ValueError(f"ok must be (K, 2) and blob (K,), got {ok.shape} and {blob.shape}")
    v, h = masks["vertical"], masks["horizontal"]
    held = masks["vertical"] | masks["horizontal"] | masks["intersection"]
    joint = ok.all(axis=1)
    out = {"train_joint": joint[masks["train"]],
           "composed": np.concatenate([ok[v, 1], ok[h, 0]]),
           "interpolated": np.concatenate([ok[v, 0], ok[h, 1]]),
           "held_joint": joint[held], "held_crossing": (joint & blob)[held], "all_either": ok.any(axis=1)}
    return {k: a.astype(float) for k, a in out.items()}


def quantity_intervals(per_seed: dict[int, dict[str, np.ndarray]], *, rng: int = 0) -> dict[str, dict[str, Any]]:
    """Intervals of every quantity over seeds: ``per_seed`` maps seed -> :func:`quantity_samples`.

    Returns ``{quantity: {"pooled": Interval, "per_seed": {seed: Interval}, "spread": SeedSpread}}``: pooled =
    :func:`~hidcap.evaluation.accuracy_interval` of the (n_seeds, n) values (bootstrap over seeds and samples,
    2000 resamples; Wilson for one seed), per seed a Wilson interval, spread = the per-seed accuracies' mean, sd,
    min and max. Quantities without samples are left out.
    """
    if not per_seed:
        raise ValueError("per_seed holds no seed")
    seeds = list(per_seed)
    out: dict[str, dict[str, Any]] = {}
    for q in QUANTITIES:
        rows = [np.asarray(per_seed[s][q]) for s in seeds]
        if any(r.size == 0 for r in rows):
            continue
        if len({r.size for r in rows}) != 1:
            raise ValueError(f"quantity {q!r} has a different number of samples per seed: {[r.size for r in rows]}")
        stacked = np.stack(rows)
        out[q] = {"pooled": accuracy_interval(stacked, rng=rng),
                  "per_seed": {s: wilson_interval(int(r.sum()), r.size) for s, r in zip(seeds, rows)},
                  "spread": seed_spread(stacked.mean(axis=1), seeds)}
    return out


def section_intervals(oks: list[np.ndarray], blobs: list[np.ndarray], masks: dict[str, np.ndarray], *,
                      rng: int = 0) -> dict[str, dict[str, Interval]]:
    """Per section (and ``held_out``), the interval of μx, μy, joint and crossing accuracy over seeds (lists of
    per-seed ``ok`` ``(K, 2)`` and ``blob`` ``(K,)``; see :func:`quantity_intervals` for the method); empty
    sections are left out. For the figures' error bars."""
    held = masks["vertical"] | masks["horizontal"] | masks["intersection"]
    out: dict[str, dict[str, Interval]] = {}
    for name, m in list(masks.items()) + [("held_out", held)]:
        if not m.any():
            continue
        ok = np.stack([np.asarray(o, dtype=bool)[m] for o in oks])  # (S, n, 2)
        bl = np.stack([np.asarray(b, dtype=bool)[m] for b in blobs])
        values = {"x": ok[..., 0], "y": ok[..., 1], "joint": ok.all(axis=-1), "crossing": ok.all(axis=-1) & bl}
        out[name] = {k: accuracy_interval(v.astype(float), rng=rng) for k, v in values.items()}
    return out


def at_least(interval: Interval, level: float) -> bool:
    """``True`` when ``interval`` lies at or above ``level`` (its low end ≥ level): "≥ level" decided beyond the
    interval; ``False`` means not decided, or below."""
    if not isinstance(interval, Interval):
        raise ValueError(f"interval must be an Interval, got {type(interval).__name__}")
    return bool(interval.low >= level)


def compose_verdict(q: dict[str, dict[str, Interval]], *, learned: float = 0.5, composed: float = 0.5,
                    margin: float = 0.3) -> tuple[bool | None, dict[str, Any]]:
    """The compose/interpolate criterion (docs/probes.md, "Criterion: compose_interpolate") on pooled intervals.

    q: ``{dataset: {quantity: Interval}}`` for the data sets run ('2d', '1d', '2d+1d'; quantities of
    :data:`QUANTITIES`). Every comparison is decided beyond the intervals (``at_least``, :func:`beats`); a part
    not decided fails. Parts: ``precondition_learned`` (2D and 2D+1D train joint ≥ ``learned``),
    ``i_2d_composes`` (composed ≥ ``composed``), ``ii_2d_no_interpolation`` (composed beats interpolated by
    ``margin``), ``iii_2d1d_beats_2d`` (2D+1D held-out joint beats 2D's by ``margin``). Part (iv) (1D does not
    compose) is reported in ``reported``, not judged (its definition was chosen after a first run).
    Returns ``(passed, parts)``: False if the precondition or an evaluated part fails; True if all evaluated parts
    pass; None only when no part can be evaluated (a data set left out with ``--datasets``).
    """
    unknown = set(q) - set(DATASETS)
    if unknown:
        raise ValueError(f"unknown data sets {sorted(unknown)}; use {DATASETS}")
    t2, t21, t1 = q.get("2d"), q.get("2d+1d"), q.get("1d")
    parts: dict[str, Any] = {}
    learned_parts = [at_least(t["train_joint"], learned) for t in (t2, t21) if t is not None]
    parts["precondition_learned"] = all(learned_parts) if learned_parts else None
    parts["i_2d_composes"] = None if t2 is None else at_least(t2["composed"], composed)
    parts["ii_2d_no_interpolation"] = None if t2 is None else beats(t2["composed"], t2["interpolated"], margin)
    parts["iii_2d1d_beats_2d"] = (None if t2 is None or t21 is None
                                  else beats(t21["held_joint"], t2["held_joint"], margin))
    evaluated = [k for k in ("i_2d_composes", "ii_2d_no_interpolation", "iii_2d1d_beats_2d") if parts[k] is not None]
    parts["evaluated"] = evaluated
    reported: dict[str, Any] = {}
    if t1 is not None and t21 is not None:
        reported = {"iv_stripes_learned_1d": at_least(t1["all_either"], learned),
                    "iv_1d_no_composition_crossing": beats(t21["held_crossing"], t1["held_crossing"], margin),
                    "iv_1d_no_composition_joint_original": beats(t21["held_joint"], t1["held_joint"], margin)}
    parts["reported_not_judged"] = reported
    if not evaluated:
        return None, parts
    if parts["precondition_learned"] is False or any(parts[k] is False for k in evaluated):
        return False, parts
    return True, parts


def compose_seed_margins(per_seed: dict[int, dict[str, dict[str, float]]], *, composed: float = 0.5,
                         margin: float = 0.3) -> dict[str, Any]:
    """Across-seed margins (reported, rule 6) from ``{seed: {dataset: {quantity: accuracy}}}``: composed − its
    threshold, composed − interpolated − margin, 2D+1D − 2D held-out joint − margin, 2D+1D − 1D held-out crossing −
    margin; each with per-seed values, spread and whether the spread decides it. Parts whose data sets are
    missing are ``None``."""
    seeds = list(per_seed)
    if not seeds:
        raise ValueError("per_seed holds no seed")

    def values(fn):
        try:
            return [fn(per_seed[s]) for s in seeds]
        except KeyError:
            return None

    out: dict[str, Any] = {}
    for name, fn, thr in (
        ("composed_2d", lambda d: d["2d"]["composed"], composed),
        ("composed_minus_interpolated_2d", lambda d: d["2d"]["composed"] - d["2d"]["interpolated"], margin),
        ("held_joint_2d1d_minus_2d", lambda d: d["2d+1d"]["held_joint"] - d["2d"]["held_joint"], margin),
        ("held_crossing_2d1d_minus_1d", lambda d: d["2d+1d"]["held_crossing"] - d["1d"]["held_crossing"], margin),
    ):
        v = values(fn)
        out[name] = None if v is None else seed_margin(v, thr, seeds).to_dict()
    return out


def plot_parts(path: Path, q: dict[str, dict[str, dict[str, Any]]], *, composed: float, margin: float) -> None:
    """The judged quantities with their 95 % intervals (pooled over seeds: bar + error bar) and per-seed values
    (dots): 2D composed vs interpolated, held-out joint of each data set, held-out crossing of 1D and 2D+1D."""
    items = []
    if "2d" in q:
        items += [("2D composed", q["2d"]["composed"]), ("2D interpolated", q["2d"]["interpolated"])]
    items += [(f"{d.upper()} held-out joint", q[d]["held_joint"]) for d in DATASETS if d in q]
    items += [(f"{d.upper()} held-out crossing", q[d]["held_crossing"]) for d in ("1d", "2d+1d") if d in q]
    fig = figure((max(6.0, 1.1 * len(items) + 1.5), 4.4))
    ax = fig.subplots()
    for i, (label, entry) in enumerate(items):
        iv = entry["pooled"]
        ax.bar(i, iv.estimate, 0.6, color="lightsteelblue")
        ax.errorbar(i, iv.estimate, yerr=[[iv.estimate - iv.low], [iv.high - iv.estimate]], color="k", capsize=4)
        vals = [p.estimate for p in entry["per_seed"].values()]
        ax.plot(np.full(len(vals), i) + np.linspace(-0.15, 0.15, len(vals)), vals, "o", color="tab:red", ms=4,
                label="per seed" if i == 0 else None)
    ax.axhline(composed, color="grey", ls=":", lw=1)
    ax.set_xticks(range(len(items)), [label for label, _ in items], rotation=30, ha="right", fontsize=8)
    ax.set(ylim=(0, 1.05), ylabel="accuracy (95 % interval)")
    ax.set_title(f"judged quantities, pooled over seeds (bootstrap over seeds and samples); parts (ii), (iii) need "
                 f"A.low − B.high > {margin}", fontsize=9)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


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


def plot_sections(path: Path, tables: dict[str, dict], kind: str,
                  intervals: dict[str, dict[str, dict[str, Interval]]] | None = None) -> None:
    """Bars per section (vertical, horizontal, intersection, train) of μx / μy / joint accuracy per data set;
    ``intervals`` (``{dataset: section_intervals(...)}``) adds 95 % error bars."""
    names = list(tables)
    colours = {"2d": "tab:green", "1d": "tab:blue", "2d+1d": "tab:orange"}
    fig = figure((14, 3.6))
    axes = fig.subplots(1, 4, sharey=True)
    width = 0.8 / max(1, len(names))
    for ax, section in zip(axes, ("vertical", "horizontal", "intersection", "train")):
        for i, name in enumerate(names):
            t = tables[name][section]
            vals = [t[k] if t.get(k) is not None else 0 for k in ("x", "y", "joint", "crossing")]
            xs = np.arange(4) + (i - (len(names) - 1) / 2) * width
            ax.bar(xs, vals, width, color=colours.get(name, "grey"), label=name.upper())
            ivs = (intervals or {}).get(name, {}).get(section)
            if ivs:
                lo = [max(0.0, v - ivs[k].low) for v, k in zip(vals, ("x", "y", "joint", "crossing"))]
                hi = [max(0.0, ivs[k].high - v) for v, k in zip(vals, ("x", "y", "joint", "crossing"))]
                ax.errorbar(xs, vals, yerr=[lo, hi], fmt="none", color="k", capsize=2, lw=0.8)
        ax.set_xticks(range(4), ["μx", "μy", "joint", "crossing"])
        ax.set_title(f"{section} (n={tables[names[0]][section]['n']})")
        ax.set_ylim(0, 1.05)
    axes[0].set_ylabel("accuracy (|error| < 1 px)")
    axes[0].legend(frameon=False, fontsize=8)
    fig.suptitle(f"per-section accuracy, 2D data = {kind} (paper 003 Fig. 4(c-e)); crossing = joint with a single "
                 "blob (a 2D image, not a lone stripe); error bars: 95 % intervals", fontsize=10)
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
