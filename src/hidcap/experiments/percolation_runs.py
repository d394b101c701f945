"""Percolation experiments (Liang et al. 2024, Sec. 3.3, Fig. 6): the simulation over σ, models trained on
subsampled lattices, pixel overlaps of neighbouring bumps, the mean of trained-model rows, and the figures of
mass-ratio curves and overlaps; the probe's scales (:func:`percolation_scale`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hidcap.data import BumpDataSpec
from hidcap.data import render_bumps
from hidcap.evaluation import bump_accuracy
from hidcap.evaluation.curves import rise_width, stay_crossing
from hidcap.evaluation.intervals import N_BOOT, accuracy_interval, check_level, resampled_means, wilson_interval
from hidcap.data import frame_grid
from hidcap.experiments.recording import record_samples
from hidcap.scales import BumpScale
from hidcap.experiments.probe_runs import train_all
from hidcap.evaluation.seeds import seed_spread
from hidcap.percolation import PercolationConfig, PercolationCurve, lattice_edges, overlap_radius, percolation_curve
from hidcap.percolation import image_overlap
from hidcap.plotting import figure
from hidcap.training import CheckpointConfig


@dataclass(frozen=True)
class PercolationScale:
    """Simulation lattice and λ grid, and the trained-model grid (model_sigmas × model_lambdas) at one scale."""

    name: str
    shape: tuple[int, int]
    sigmas: tuple[float, ...]
    lambdas: tuple[float, ...]
    repeats: int
    train_models: bool
    model_sigmas: tuple[float, ...]
    model_lambdas: tuple[float, ...]
    model_steps: int
    model_increment: float = 1.0


def percolation_scale(name: str) -> PercolationScale:
    """The ``tiny``, ``quick`` and ``full`` settings of ``probes/percolation.py`` (docs/probes.md)."""
    if name == "tiny":
        return PercolationScale(name, (16, 16), (0.1, 0.3, 1.0), tuple(np.round(np.linspace(0.05, 1.0, 20), 4)),
                                repeats=2, train_models=True, model_sigmas=(0.3, 1.0), model_lambdas=(0.5, 1.0),
                                model_steps=20)
    fine = tuple(np.round(np.linspace(0.01, 1.0, 100), 4))
    sigmas = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
    if name == "quick":
        return PercolationScale(name, (32, 32), sigmas, fine, repeats=5, train_models=False,
                                model_sigmas=(0.3, 0.5, 1.0), model_lambdas=(0.2, 0.4, 0.6, 0.8, 1.0), model_steps=1500)
    if name == "full":
        return PercolationScale(name, (32, 32), sigmas, fine, repeats=5, train_models=True,
                                model_sigmas=(0.1, 0.3, 0.5, 1.0),
                                model_lambdas=tuple(np.round(np.arange(1, 11) / 10, 4)), model_steps=20000)
    raise ValueError(f"unknown scale {name!r}; use tiny, quick or full")


def pixel_overlaps(sigmas, increments, image_size: int = 32) -> np.ndarray:
    """Overlap ``‖a∘b‖₂/‖a‖₂`` of rendered inverted bump images whose centres are ``d`` apart along x:
    ``(len(sigmas), len(increments))`` (the pixelated counterpart of the analytic curve, Fig. 6(b))."""
    inc = np.asarray(increments, dtype=float)
    c = image_size / 2
    out = []
    for s in sigmas:
        a = 1 - render_bumps(torch.tensor([[c, c]]), image_size=image_size, sigma=float(s))[0, 0]
        shifted = torch.tensor([[c + d, c] for d in inc], dtype=torch.float32)
        b = 1 - render_bumps(shifted, image_size=image_size, sigma=float(s))[:, 0]
        out.append(image_overlap(a.expand_as(b), b))
    return np.stack(out)


def mean_model_rows(rows: list[dict]) -> list[dict]:
    """Accuracy averaged over seeds per (σ, λ), with its 95 % interval (``accuracy_low``, ``accuracy_high``):
    from the rows' per-sample correctness ``correct`` (K,) when every row has it (bootstrap over seeds and samples;
    Wilson for one seed), else ``None``; ``accuracy_std``: across-seed standard deviation (ddof = 1; 0 for one)."""
    keys = sorted({(r["sigma"], r["lambda"]) for r in rows})
    out = []
    for s, lam in keys:
        sel = [r for r in rows if r["sigma"] == s and r["lambda"] == lam]
        accs = [r["accuracy"] for r in sel]
        row = {"sigma": s, "lambda": lam, "accuracy": float(np.mean(accs)),
               "accuracy_std": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0, "seeds": len(sel),
               "accuracy_low": None, "accuracy_high": None}
        if all("correct" in r for r in sel):
            iv = accuracy_interval(np.stack([np.asarray(r["correct"], dtype=float) for r in sel]))
            row.update(accuracy_low=iv.low, accuracy_high=iv.high, interval_method=iv.method)
        out.append(row)
    return out


def lambda_interval(lambdas, mass: np.ndarray, level: float, *, rise: tuple[float, float] | None = None,
                    ci: float = 0.95, n_boot: int = N_BOOT, rng: int | np.random.Generator = 0) -> dict[str, Any]:
    """Bootstrap interval of the threshold λ_c where the mean mass-ratio curve stays ≥ ``level``
    (:func:`~hidcap.evaluation.curves.stay_crossing`), and with ``rise = (low, high)`` of the rise width between
    staying above ``low`` and above ``high``.

    lambdas (m,): increasing; mass (R, m) mass ratios of R repeats, or (S, R, m) for S simulation seeds (then
    seeds and repeats are both resampled: two-level bootstrap). A resample whose mean curve never stays ≥ level has
    λ_c "never", ordered after every λ (and an infinite rise width); the interval is the ``(1 ∓ ci)/2`` quantiles,
    ``None`` for "never". Returns ``{"estimate", "low", "high", "never", "n", "n_boot", "method", "level"}`` (and
    ``"rise_width"``, the same for the rise width, when ``rise`` is given); estimate from the mean of all repeats.
    """
    ci = check_level(ci)
    lam = np.asarray(lambdas, dtype=float)
    m = np.asarray(mass, dtype=float)
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3 or m.shape[-1] != lam.size or m.shape[1] < 1:
        raise ValueError(f"mass must be (R, m) or (S, R, m) with m = {lam.size} λ values, got {np.shape(mass)}")
    curves = resampled_means(np.swapaxes(m, 1, 2), n_boot=n_boot, rng=rng)  # (B, m)
    mean = m.mean(axis=1).mean(axis=0)

    def summarise(fn) -> dict[str, Any]:
        est = fn(mean)
        vals = np.array([np.inf if (v := fn(c)) is None else v for c in curves])
        low = np.quantile(vals, 0.5 - ci / 2, method="lower")
        high = np.quantile(vals, 0.5 + ci / 2, method="higher")
        fin = lambda x: None if np.isinf(x) else float(x)  # noqa: E731
        return {"estimate": None if est is None else float(est), "low": fin(low), "high": fin(high), "never": float(np.mean(np.isinf(vals))), "n": int(m.shape[0] * m.shape[1]),
                "n_boot": int(n_boot), "level": float(ci),
                "method": "bootstrap:seeds+repeats" if m.shape[0] > 1 else "bootstrap:repeats"}

    out = summarise(lambda c: stay_crossing(lam, c, level))
    if rise is not None:
        out["rise_width"] = summarise(lambda c: rise_width(lam, c, *rise))
    return out


def falls(wide: dict[str, Any], narrow: dict[str, Any]) -> bool:
    """The wider σ's λ_c is below the narrower σ's beyond the intervals: ``wide["high"] < narrow["low"]``
    ("never" is after every λ, so an open-ended ``wide`` falls below nothing)."""
    if wide["high"] is None:
        return False
    return narrow["low"] is None or wide["high"] < narrow["low"]


def threshold_band(lambdas, low, high, level: float) -> dict[str, Any]:
    """Interval of the λ from which an accuracy curve stays ≥ ``level``, read off its interval band: the early
    end from the upper curve ``high``, the late end from the lower curve ``low`` (``None``: "never")."""
    return {"low": stay_crossing(lambdas, high, level), "high": stay_crossing(lambdas, low, level)}


def ordered_thresholds(sigmas, intervals) -> tuple[bool, str]:
    """Does the threshold move with σ, beyond the intervals? ``intervals``: per σ a dict with ``estimate``,
    ``low``, ``high`` (``None``: "never"; an estimate of ``None`` leaves that σ out).

    True when no wider σ's threshold lies above its narrower neighbour's beyond the intervals and the widest σ's
    lies below the narrowest's beyond them (:func:`falls`); False otherwise,
    including fewer than two σ's with a threshold. Returns ``(decided, reason)`` (reason empty when True).
    """
    pairs = sorted(((float(s), iv) for s, iv in zip(sigmas, intervals) if iv["estimate"] is not None),
                   key=lambda p: p[0])
    if len(pairs) < 2:
        return False, f"fewer than two σ's have a threshold ({len(pairs)}): whether it moves with σ is not shown"
    rising = [(a[0], b[0]) for a, b in zip(pairs, pairs[1:]) if falls(a[1], b[1])]  # the narrower below the wider
    if rising:
        return False, f"the threshold rises with σ beyond the intervals between σ pairs {rising}"
    if not falls(pairs[-1][1], pairs[0][1]):
        return False, (f"λ of the widest σ={pairs[-1][0]:g} {format_interval(pairs[-1][1])} is not below that of the "
                       f"narrowest σ={pairs[0][0]:g} {format_interval(pairs[0][1])} beyond the intervals")
    return True, ""


def format_interval(iv: dict) -> str:
    """``estimate [low, high]`` of an interval dict, "never" for None."""
    f = lambda x: "never" if x is None else f"{x:.3f}"  # noqa: E731
    return f"{f(iv['estimate'])} [{f(iv['low'])}, {f(iv['high'])}]"


def connects_neighbours(sigma: float, spacing: float = 1.0, threshold: float = 0.005) -> bool:
    """Whether bumps of width σ one lattice ``spacing`` apart overlap above ``threshold`` (nearest neighbours
    connect)."""
    return overlap_radius(threshold) * sigma >= spacing


def simulation_rows(scale: PercolationScale, by_seed: dict[int, list[PercolationCurve]], threshold: float,
                    mass_level: float, rise: tuple[float, float]) -> tuple[list[PercolationCurve], list[dict]]:
    """Per σ of ``scale``: the seed-pooled curve and a row with λ_c's pooled interval (over seeds and repeats),
    each seed's interval (over its repeats), their spread, whether neighbours connect and the mean mass ratio at a
    few λ. by_seed: seed -> :func:`simulate`'s curves (one per σ). Returns ``(pooled curves, rows)``."""
    seeds = list(by_seed)
    curves, sim_rows = [], []
    for i, sigma in enumerate(scale.sigmas):
        per = [by_seed[seed][i] for seed in seeds]
        mass = np.stack([c.mass_ratio for c in per])  # (S, R, m)
        pooled = PercolationCurve(per[0].lambdas, per[0].occupied, np.concatenate([c.largest for c in per]),
                                  mass.reshape(-1, mass.shape[-1]), None, per[0].config, None)
        curves.append(pooled)
        s = float(sigma)
        iv = lambda_interval(scale.lambdas, mass, mass_level, rise=rise, rng=i)
        per_seed = {str(seed): lambda_interval(scale.lambdas, c.mass_ratio, mass_level, rise=rise, rng=i)
                    for seed, c in zip(seeds, per)}
        estimates = [v["estimate"] for v in per_seed.values()]
        sim_rows.append({
            "sigma": s, "connects": connects_neighbours(s, 1.0, threshold),
            "radius": overlap_radius(threshold) * s,
            "lambda_c": iv["estimate"], "rise_width": iv["rise_width"]["estimate"], "lambda_c_interval": iv,
            "per_seed": per_seed,
            "dispersion": (seed_spread(estimates, seeds).to_dict() if all(e is not None for e in estimates)
                           else {"values": estimates, "seeds": list(seeds), "percolating_seeds":
                                 sum(e is not None for e in estimates)}),
            "mass_at": {f"{lam:g}": float(np.interp(lam, pooled.lambdas, pooled.mean))
                        for lam in (0.1, 0.25, 0.5, 0.75, 1.0)},
        })
    return curves, sim_rows


def _colours(sigmas) -> dict[float, tuple]:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return {float(s): cmap(i / max(1, len(sigmas) - 1)) for i, s in enumerate(sigmas)}


def plot_curves(path: Path, curves, sim_rows, model_means, shape, threshold: float, seeds, *, mass_level: float,
                accuracy_level: float) -> None:
    """Mass ratio against λ per σ (simulation) and, beside it, λ_c per σ for simulation and trained models.

    mass_level: the mass-ratio level that defines λ_c; accuracy_level: the models' accuracy threshold."""
    sigmas = [float(c.config.sigma) for c in curves]
    colour = _colours(sigmas)
    fig = figure((12, 4.4))
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
    for c, r in zip(curves, sim_rows):
        col = colour[float(c.config.sigma)]
        lc = r["lambda_c"]
        ax.plot(c.lambdas, c.mean, color=col, label=f"σ={c.config.sigma:g}" + (f" (λc={lc:.2f})" if lc else " (none)"))
        ax.fill_between(c.lambdas, c.mean - c.std, c.mean + c.std, color=col, alpha=0.2)
        if lc is not None:
            ax.axvline(lc, color=col, ls=":", lw=1)
    ax.axhline(mass_level, color="grey", lw=0.8, ls="--")
    ax.set(xlabel="kept fraction λ", ylabel="largest-cluster mass ratio (simulation)", xlim=(0, 1), ylim=(-0.02, 1.02),
           title=f"{shape[0]}×{shape[1]} lattice, overlap > {threshold:g}, mean ± std of repeats")
    if model_means:
        tw = ax.twinx()
        for s in sorted({r["sigma"] for r in model_means}):
            rows = sorted((r for r in model_means if r["sigma"] == s), key=lambda r: r["lambda"])
            acc = np.array([r["accuracy"] for r in rows])
            if all(r.get("accuracy_low") is not None for r in rows):
                yerr = [acc - np.array([r["accuracy_low"] for r in rows]),
                        np.array([r["accuracy_high"] for r in rows]) - acc]
            else:
                yerr = [r["accuracy_std"] for r in rows]
            tw.errorbar([r["lambda"] for r in rows], acc, yerr=yerr, color=colour.get(s, "k"), marker="s", ms=5,
                        ls="--", lw=1.2, capsize=2, label=f"model σ={s:g}")
        tw.set(ylabel=f"trained-model accuracy, 95 % interval (squares, dashed; seeds {list(seeds)})",
               ylim=(-0.02, 1.02))
        tw.legend(frameon=False, fontsize=7, loc="center right")
    ax.legend(frameon=False, fontsize=8, loc="lower right")

    conn = [r for r in sim_rows if r["lambda_c"] is not None]
    for r in conn:
        iv = r.get("lambda_c_interval")
        if iv is not None:
            lo = iv["low"] if iv["low"] is not None else r["lambda_c"]
            hi = iv["high"] if iv["high"] is not None else 1.0
            ax2.errorbar([r["sigma"]], [r["lambda_c"]], yerr=[[r["lambda_c"] - lo], [hi - r["lambda_c"]]], fmt="none",
                         color="k", capsize=4)
        for k, v in enumerate((r.get("per_seed") or {}).values()):
            if v["estimate"] is not None:
                ax2.plot([r["sigma"] * (1 + 0.03 * (k - 1))], [v["estimate"]], ".", color="tab:blue", ms=5,
                         label="per seed" if (r is conn[0] and k == 0) else None)
    ax2.plot([r["sigma"] for r in conn], [r["lambda_c"] for r in conn], "o-", color="k",
             label="simulation λc (95 % bootstrap interval)")
    never = [r["sigma"] for r in sim_rows if r["lambda_c"] is None]
    if never:
        ax2.plot(never, [1.02] * len(never), "x", color="tab:red", ms=9, label="never percolates")
    if model_means:
        ms, mt = [], []
        for s in sorted({r["sigma"] for r in model_means}):
            rows = sorted((r for r in model_means if r["sigma"] == s), key=lambda r: r["lambda"])
            t = stay_crossing([r["lambda"] for r in rows], [r["accuracy"] for r in rows], accuracy_level)
            if t is not None:
                ms.append(s)
                mt.append(t)
        ax2.plot(ms, mt, "s--", color="tab:orange", label=f"model: accuracy ≥ {accuracy_level}")
    ax2.set(xlabel="bump width σ (lattice units)", ylabel="threshold λ", ylim=(0, 1.08),
            title="threshold location vs σ")
    ax2.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot_overlap(path: Path, sigmas, increments, analytic, pixel, threshold: float) -> None:
    colour = _colours(sigmas)
    fig = figure((7, 4.4))
    ax = fig.subplots()
    for i, s in enumerate(sigmas):
        ax.plot(increments, analytic[i], color=colour[float(s)], label=f"σ={s:g}")
        ax.plot(increments, pixel[i], color=colour[float(s)], ls="none", marker=".", ms=4)
    ax.axhline(threshold, color="tab:red", ls="--", lw=1, label=f"threshold {threshold:g}")
    ax.axvline(1.0, color="grey", ls=":", lw=1)
    ax.set(xlabel="centre distance d (pixels)", ylabel="overlap ‖a∘b‖₂ / ‖a‖₂", yscale="log", ylim=(1e-4, 1.5))
    ax.set_title("neighbour overlap (paper 003 Fig. 6b)\nlines: analytic (what the simulation uses); "
                 "dots: rendered 32×32 images", fontsize=10)
    ax.legend(frameon=False, fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def simulate(scale: Any, threshold: float, seed: int, progress: bool | None):
    """One percolation curve per σ (same random site orders for every σ: ``seed``)."""
    curves = []
    for sigma in scale.sigmas:
        cfg = PercolationConfig(shape=scale.shape, sigma=float(sigma), spacing=1.0, threshold=threshold)
        curves.append(percolation_curve(scale.lambdas, cfg, repeats=scale.repeats, seed=seed,
                                        edges=lattice_edges(cfg), progress=progress))
    return curves


def train_models(args, scale: Any, bscale: BumpScale) -> list[dict]:
    """Train one model per (seed, σ, λ) (all in one :func:`train_all` call, so ``--executor`` spreads them) and
    measure its terminal accuracy on every lattice point."""
    n = bscale.image_size
    grid = frame_grid(n, scale.model_increment)
    runs, images_of = {}, {}
    for seed in args.seeds:
        for sigma in scale.model_sigmas:
            for lam in scale.model_lambdas:
                spec = BumpDataSpec(kind="bump", image_size=n, sigma_x=float(sigma), sigma_y=float(sigma),
                                    increment=scale.model_increment, subsample=float(lam))
                key = (f"sigma{sigma:g}_lambda{lam:g}", seed)
                images_of[key] = n_images = len(spec.centres(seed))
                runs[key] = bscale.train_config(spec, seed, args.device, steps=scale.model_steps,
                                                batch_size=min(bscale.batch_size, n_images),
                                                checkpoints=CheckpointConfig(count=1, include_start=False))
    trained = train_all(args, runs)
    rows = []
    for seed in args.seeds:
        for sigma in scale.model_sigmas:
            for lam in scale.model_lambdas:
                key = (f"sigma{sigma:g}_lambda{lam:g}", seed)
                series, n_images = trained[key], images_of[key]
                images, _ = record_samples(series, -1, grid, sample_steps=bscale.sample_steps, seed=seed,
                                           batch=bscale.sample_batch)
                acc = bump_accuracy(images, grid)
                wil = wilson_interval(int(acc.correct.sum()), int(acc.correct.size))
                rows.append({"seed": seed, "sigma": float(sigma), "lambda": float(lam), "images": n_images,
                             "accuracy": acc.joint, "accuracy_low": wil.low, "accuracy_high": wil.high,
                             "accuracy_x": acc.x, "accuracy_y": acc.y, "correct": acc.correct,
                             "final_loss": series.metrics()[-1]["loss"]})
                print(f"  model σ={sigma:g} λ={lam:g} seed {seed}: {n_images} images, accuracy {acc.joint:.3f}")
    return rows
