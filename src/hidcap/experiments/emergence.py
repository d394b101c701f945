"""Multiplicative emergence on the concept cube (Okawa et al. 2023, Figs. 5-7): per-concept curves, the rows
table and its CSV / printout, and the figures (joint vs additive accuracy, the toy model fit).
"""
from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hidcap.data import ConceptDataSpec
from hidcap.evaluation.concept_scores import ConceptSpace
from hidcap.evaluation.intervals import accuracy_interval
from hidcap.experiments.probe_args import ProbeArgs
from hidcap.experiments.level_onsets import joint_correct
from hidcap.plotting import figure, plot_concept_space, plot_distance_curves
from hidcap.theory import critical_time, multiplicative_accuracy


#: The concept cube of Okawa et al. 2023: concepts and the paper's training / held-out split.
CONCEPTS = ("shape", "color", "size")
TRAIN_CLASSES = ("000", "100", "010", "001")
TEST_CLASSES = ("110", "101", "011", "111")


def concept_curves(cs: ConceptSpace, cls: str) -> tuple[np.ndarray, np.ndarray]:
    """``(steps (T,), accuracy (T, n_concepts))``: per-concept fraction of correct samples of ``cls``."""
    steps = np.array(cs.steps)
    return steps, np.stack([cs.correct[(int(s), cls)].mean(axis=0) for s in steps])


def mean_by_distance(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """distance -> mean learning time over learned (seed, class) pairs and how many were never learned."""
    out: dict[str, Any] = {}
    for d in sorted({r["distance"] for r in rows}):
        ts = [r["t_joint"] for r in rows if r["distance"] == d]
        got = [t for t in ts if t is not None]
        out[str(d)] = {"mean": float(np.mean(got)) if got else None, "learned": len(got), "never": len(ts) - len(got)}
    return out


def write_rows(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})


def _fmt(v: Any, width: int = 6, none: str = "-") -> str:
    if v is None:
        return f"{none:>{width}s}"
    if isinstance(v, float):
        return f"{v:{width}.2f}"
    return f"{v:>{width}}"


def print_table(rows: Sequence[Mapping[str, Any]], seeds: Sequence[int], fit: Mapping[str, Any],
                 fit_bits: Mapping[str, Any], votes: Mapping[str, int], order: Mapping[int, bool | None]) -> None:
    print(f"\n{'class':>5s} {'dist':>4s} " + " ".join(f"{'t* s' + str(s):>7s}" for s in seeds)
          + f" {'S_joint':>8s} {'S_add':>6s} {'final joint':>11s}")
    classes = list(dict.fromkeys(r["class"] for r in rows))
    for c in classes:
        rs = [r for r in rows if r["class"] == c]
        sj = [r["S_joint"] for r in rs if r["S_joint"] is not None]
        sa = [r["S_additive"] for r in rs if r["S_additive"] is not None]
        print(f"{c:>5s} {rs[0]['distance']:>4d} " + " ".join(_fmt(r["t_joint"], 7, "never") for r in rs)
              + f" {_fmt(float(np.mean(sj)) if sj else None, 8)} {_fmt(float(np.mean(sa)) if sa else None, 6)}"
              + f" {np.mean([r['final_joint'] for r in rs]):11.2f}")
    print(f"order d1 <= d2 per seed: {dict(order)}")
    print(f"suddenness votes: {dict(votes)}")
    held = [r for r in rows if r["distance"] > 0]
    print(f"held-out curves, rmse of joint accuracy vs product of per-concept accuracies: "
          f"{np.mean([r['rmse_joint_vs_product'] for r in held]):.3f}, vs additive accuracy: "
          f"{np.mean([r['rmse_joint_vs_additive'] for r in held]):.3f}")
    for label, f in (("n = distance", fit), ("n = 1-bits", fit_bits)):
        if f["p"] is None:
            print(f"toy fit ({label}): undetermined (learned n levels {f['n_levels']})")
        else:
            print(f"toy fit ({label}): p = {f['p']:.3g}, rmse = {f['rmse']:.1f} steps, n {f['n_levels']}: "
                  f"measured {np.round(f['measured_mean'], 1).tolist()} vs predicted {f['predicted']} "
                  f"(max rel. dev. {f['max_rel_dev']:.2f})")


def figures(args: ProbeArgs, spaces: Mapping[int, ConceptSpace], spec: ConceptDataSpec, dist: Mapping[str, int],
             rows: Sequence[Mapping[str, Any]], fit: Mapping[str, Any], threshold: float,
             onsets: Mapping[str, Mapping[str, Any]] | None = None) -> list[Path]:
    """The probe's figures; ``onsets``: class -> seed-pooled onset interval dict, drawn on joint_vs_additive.png."""
    seeds = list(spaces)
    seed_label = f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
    mean_curves = {}
    for c in spec.all_classes:
        curves = [spaces[s].accuracy_curve(c, "joint") for s in seeds]
        mean_curves[c] = (curves[0][0], np.mean([v for _, v in curves], axis=0))
    figs = [plot_distance_curves(mean_curves, dist, args.out / "accuracy_by_distance.png",
                                 title=f"joint accuracy by concept distance (0 = trained; mean of {seed_label})")]
    figs.append(plot_joint_vs_additive(spaces, args.out / "joint_vs_additive.png", threshold, onsets))
    for s in seeds:
        # held-out classes only: the training classes go straight to their corners and clutter the cube
        figs.append(plot_concept_space(spaces[s], args.out / f"concept_space_seed{s}.png", classes=TEST_CLASSES,
                                       title=f"held-out classes in concept space, seed {s}\n"
                                             "(hollow: first checkpoint, filled: last)"))
    figs.append(plot_toy(spaces, dist, rows, fit, args.out / "toy_model.png", threshold))
    return figs


def plot_joint_vs_additive(spaces: Mapping[int, ConceptSpace], path: Path, threshold: float,
                           onsets: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """Top row: joint (solid) vs additive (dashed) accuracy of every held-out class, mean over seeds (thin:
    single seeds) with the 95 % band of the seed-mean joint accuracy (bootstrap over seeds and samples; Wilson
    for one seed) and, if given, the seed-pooled onset interval (``onsets``: class -> ``OnsetInterval.to_dict``)
    as a bar at the threshold; bottom row: per-concept accuracies (mean over seeds)."""
    fig = figure((13.0, 6.0))
    axes = fig.subplots(2, len(TEST_CLASSES), sharex=True, sharey=True)
    colours = {"shape": "tab:blue", "color": "tab:orange", "size": "tab:green"}
    for k, c in enumerate(TEST_CLASSES):
        top, bottom = axes[0, k], axes[1, k]
        joint = [sp.accuracy_curve(c, "joint") for sp in spaces.values()]
        additive = [sp.accuracy_curve(c, "additive") for sp in spaces.values()]
        steps = joint[0][0]
        if len(spaces) > 1:
            for (_, j), (_, a) in zip(joint, additive):
                top.plot(steps, j, "-", color="tab:red", lw=0.6, alpha=0.35)
                top.plot(steps, a, "--", color="tab:gray", lw=0.6, alpha=0.35)
        top.plot(steps, np.mean([j for _, j in joint], axis=0), "-o", ms=3, color="tab:red", label="joint (product)")
        top.plot(steps, np.mean([a for _, a in additive], axis=0), "--s", ms=3, color="tab:gray",
                 label="additive (mean)")
        correct = np.stack([joint_correct(sp, c)[1] for sp in spaces.values()])  # (S, T, n)
        bands = [accuracy_interval(correct[:, t] if len(spaces) > 1 else correct[0, t], n_boot=500)
                 for t in range(correct.shape[1])]
        top.fill_between(steps, [b.low for b in bands], [b.high for b in bands], color="tab:red", alpha=0.15, lw=0)
        o = (onsets or {}).get(c)
        if o is not None and o["low"] is not None:  # pooled onset interval; an open end runs to the last step
            high = steps[-1] if o["high"] is None else o["high"]
            top.plot([o["low"], high], [threshold, threshold], "-", color="k", lw=3, alpha=0.6,
                     label="onset 95 % interval" if k == 0 else None)
        top.axhline(threshold, color="0.5", ls=":", lw=1)
        top.set_title(f"class {c} ({'distance 2' if c == '111' else 'distance 1'})", fontsize=10)
        per = np.mean([concept_curves(sp, c)[1] for sp in spaces.values()], axis=0)
        for j, name in enumerate(CONCEPTS):
            bottom.plot(steps, per[:, j], "-", color=colours[name], lw=1.5, label=name)
        bottom.axhline(0.5, color="0.7", ls=":", lw=1)
        bottom.set_xlabel("training step")
    axes[0, 0].set_ylabel("accuracy of the class")
    axes[1, 0].set_ylabel("per-concept accuracy")
    axes[0, 0].set_ylim(-0.03, 1.05)
    axes[0, 0].legend(fontsize=8, loc="upper left")
    axes[1, 0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"joint vs additive accuracy of the held-out classes (mean of {len(spaces)} seed(s), band: 95 %; "
                 f"dotted: P* = {threshold:g} / chance 0.5)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_toy(spaces: Mapping[int, ConceptSpace], dist: Mapping[str, int], rows: Sequence[Mapping[str, Any]],
              fit: Mapping[str, Any], path: Path, threshold: float) -> Path:
    """Left: toy curves P(t) = (1 − (1 − p)^t)^n with the fitted p beside the measured joint accuracy
    (mean over held-out classes of each distance and seeds). Right: t*(n) measured vs the toy model."""
    steps = np.array(next(iter(spaces.values())).steps, dtype=float)
    t_max = float(steps.max()) if steps.size else 1.0
    fitted = fit["p"] is not None
    # without a fit, an illustrative p puts t*(1) in the middle of the run
    p = fit["p"] if fitted else float(-np.expm1(np.log(1 - threshold) / max(t_max / 2, 1.0)))
    fig = figure((11.0, 4.2))
    left, right = fig.subplots(1, 2)
    t = np.linspace(0, t_max, 400)
    cmap = {1: "tab:purple", 2: "tab:red", 3: "tab:brown"}
    for n in (1, 2, 3):
        left.plot(t, multiplicative_accuracy(t, p, n), "-", color=cmap[n], lw=1.5, alpha=0.8, label=f"toy n = {n}")
    for d in (1, 2):
        classes = [c for c in TEST_CLASSES if dist[c] == d]
        curves = [sp.accuracy_curve(c, "joint")[1] for sp in spaces.values() for c in classes]
        left.plot(steps, np.mean(curves, axis=0), "o--", ms=4, color=cmap[d], lw=1,
                  label=f"measured, distance {d}")
    left.axhline(threshold, color="0.5", ls=":", lw=1)
    left.set_xlabel("training step (toy: one coin flip per step)")
    left.set_ylabel("joint accuracy / P(t)")
    left.set_ylim(-0.03, 1.05)
    left.set_title(f"toy model, {'fitted' if fitted else 'illustrative (no fit)'} p = {p:.3g}", fontsize=10)
    left.legend(fontsize=8)

    held = [r for r in rows if r["distance"] > 0]
    rng = np.random.default_rng(0)
    for r in held:
        if r["t_joint"] is None:
            continue
        right.scatter(r["distance"] + rng.uniform(-0.08, 0.08), r["t_joint"], s=18, color="0.55", alpha=0.7)
    never = sum(r["t_joint"] is None for r in held)
    if fitted:
        levels = np.array(fit["n_levels"])
        right.plot(levels, fit["measured_mean"], "s", ms=9, color="tab:red", label="measured mean t*")
        n_grid = np.arange(1, 5)
        right.plot(n_grid, critical_time(p, n_grid, threshold), "-^", color="tab:blue",
                   label=f"toy t*(n), p = {p:.3g}")
        right.set_title(f"t*(n): fit rmse {fit['rmse']:.0f} steps, max rel. dev. {fit['max_rel_dev']:.2f}",
                        fontsize=10)
    else:
        right.set_title("t*(n): fewer than two distances learned, no fit", fontsize=10)
    right.scatter([], [], s=18, color="0.55", label=f"(seed, class) t*; never learned: {never}")
    right.set_ylim(bottom=0, top=max(right.get_ylim()[1], 1.05 * t_max))
    right.set_xlabel("n = concept distance")
    right.set_ylabel(f"t* (first step staying above {threshold:g})")
    right.set_xticks([1, 2, 3, 4])
    right.set_xlim(0.5, 4.5)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return path
