"""Probe: a diffusion model trained on periodic Gaussian bumps learns a factorised torus (paper 003, Sec. 3.1).

Claim (SEEDS.md C): with periodic boundaries the latent space of 2D bumps is a torus. Recording one U-Net layer
("layer 4", not the bottleneck) at the final sampling step for one sample per (x, y) of the N×N grid, paper 003
finds (Fig. 2, 3, 8): the effective dimension (participation ratio, PR) first rises, then falls during training
(to ~7 at the end); persistent homology of the final representation is a torus (Betti numbers H0, H1, H2 =
1, 2, 1); and the orthogonality / parallelism tests put x-on-y close to a Clifford torus (x and y in orthogonal
subspaces), while x-on-x and y-on-y match neither ideal torus: rings at different x (or y) are far from parallel
("hyper-factorised", values coded almost like categories).

This is the full-scale version of ``examples/clifford_torus.py``: train (checkpoints across training), then at the
measured checkpoints sample one image per integer (x, y) while a Tracer records ``ups.0.resample``, and measure
sample accuracy, PCA spectrum and PR; at the last checkpoint persistent homology (ripser on greedy landmarks after
PCA to 10 dims) and the torus tests against ideal Clifford and standard tori sampled on the same grid.

Criterion (per seed; ``passed`` needs every seed to pass every part):
- the model learns the task: final sample accuracy ≥ 0.5 (otherwise the geometry says nothing: undetermined);
- PR rises then falls: over the trained checkpoints (step > 0; the random initialisation is no learned
  representation) the peak PR lies strictly inside the run (neither the first nor the last measured checkpoint)
  and the final PR is at most 90 % of the peak;
- topology: Betti numbers of the final representation are exactly (1, 2, 1);
- torus tests: x_on_y is closer to the Clifford than to the standard torus (sum of the Wasserstein distances of
  both statistics), and x_on_x and y_on_y rings are far from parallel (median parallelism residual ≥ 0.25; an
  ideal Clifford torus gives 0).

Scales: ``--tiny`` (seconds; 8×8, 20 steps: the test suite's), ``--quick`` (CPU, ~6.5 min of one core: 16×16
bumps, d = 0.5, the example's CPU U-Net for 1500 steps, 9 checkpoints, 30 sampling steps), full (GPU: 32×32,
d = 0.1 (102,400 images), paper 003's U-Net, T = 1000, 50k steps, 40 checkpoints of which every 4th is measured
with the full 1000-step sampler).

    python probes/torus_geometry.py --quick
    python probes/torus_geometry.py --device cuda --seeds 0 1 2
    python probes/torus_geometry.py --tiny --out /tmp/torus        # what the tests run
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bump_runs  # noqa: E402
from common import parse_args, write_verdict  # noqa: E402

from hidcap import geometry  # noqa: E402
from hidcap.data import BumpDataSpec  # noqa: E402
from hidcap.evaluation import bump_accuracy  # noqa: E402
from hidcap.training import CheckpointConfig, TrainConfig  # noqa: E402

NAME = "torus_geometry"
CLAIM = ("A DDPM trained on periodic 2D Gaussian bumps learns a torus whose effective dimension rises then falls, "
         "with Betti numbers (1, 2, 1), x and y in orthogonal (Clifford-like) subspaces and non-parallel rings "
         "within each variable (hyper-factorisation)")
PAPER = "Liang et al. 2024 (003), Sec. 3.1, Fig. 2, 3 and 8, App. B"
MIN_ACCURACY = 0.5
PR_DROP = 0.9  # final PR must be at most this fraction of the peak
TORUS_BETTI = (1, 2, 1)
MIN_RESIDUAL = 0.25  # median x_on_x / y_on_y parallelism residual of a hyper-factorised code
CRITERION = (
    f"Per seed, all of: final sample accuracy ≥ {MIN_ACCURACY} (else undetermined); over trained checkpoints "
    f"(step > 0) the peak participation ratio lies strictly inside the run and the final PR ≤ {PR_DROP} × peak; "
    f"Betti numbers of the final representation = {TORUS_BETTI}; x_on_y closer to the Clifford than to the "
    f"standard torus (summed Wasserstein distance of orthogonality and parallelism statistics); median parallelism "
    f"residual of x_on_x and of y_on_y ≥ {MIN_RESIDUAL} (rings within one variable not parallel). Pass = every seed."
)


@dataclass(frozen=True)
class TorusScale:
    """Training run and measurement settings at one scale."""

    name: str
    bumps: bump_runs.BumpScale
    data: BumpDataSpec
    steps: int
    checkpoints: CheckpointConfig
    sample_steps: int
    measure_every: int  # measure every k-th checkpoint (the last one always)
    landmarks: int | None  # greedy landmarks for persistent homology (None: every grid point)
    maxdim: int = 2

    batch_size: int | None = None  # None: the bump scale's (batch 32 at quick scale learned clearly less: 0.50
    # accuracy after 1500 steps instead of 0.88)

    def train_config(self, seed: int, device: str) -> TrainConfig:
        return self.bumps.train_config(self.data, seed, device, steps=self.steps, checkpoints=self.checkpoints,
                                       batch_size=self.batch_size or self.bumps.batch_size)


def torus_scale(name: str) -> TorusScale:
    """The ``tiny``, ``quick`` and ``full`` configurations (see the module docstring)."""
    b = bump_runs.bump_scale(name)
    if name == "tiny":
        return TorusScale(name, b, BumpDataSpec(image_size=8, increment=1.0, periodic=True), steps=20,
                          checkpoints=CheckpointConfig(count=3), sample_steps=4, measure_every=1, landmarks=None)
    if name == "quick":
        return TorusScale(name, b, BumpDataSpec(image_size=16, increment=0.5, periodic=True), steps=1500,
                          checkpoints=CheckpointConfig(count=8), sample_steps=30, measure_every=1, landmarks=160)
    if name == "full":
        return TorusScale(name, b, BumpDataSpec(image_size=32, increment=0.1, periodic=True), steps=50000,
                          checkpoints=CheckpointConfig(count=40), sample_steps=1000, measure_every=4, landmarks=400)
    raise ValueError(f"unknown scale {name!r}; use tiny, quick or full")


# ------------------------------------------------------------------------------------------ pure helpers
def rise_then_fall(steps, prs, drop: float = PR_DROP) -> dict:
    """PR rise-then-fall over the trained checkpoints (step > 0).

    Returns ``{"peak_step", "peak_pr", "final_pr", "final_over_peak", "interior_peak", "passed"}``;
    ``passed``: the peak is neither the first nor the last trained checkpoint and final ≤ ``drop`` × peak
    (``None`` with fewer than three trained checkpoints).
    """
    s = np.asarray(steps, dtype=float)
    p = np.asarray(prs, dtype=float)
    if s.shape != p.shape or s.ndim != 1:
        raise ValueError(f"steps and prs must be 1-D of equal length, got {s.shape} and {p.shape}")
    if not 0 < drop <= 1:
        raise ValueError(f"drop must be in (0, 1], got {drop}")
    keep = s > 0
    s, p = s[keep], p[keep]
    if s.size == 0:
        raise ValueError("no trained checkpoint (step > 0) to judge")
    i = int(np.argmax(p))
    out = {"peak_step": int(s[i]), "peak_pr": float(p[i]), "final_pr": float(p[-1]),
           "final_over_peak": float(p[-1] / p[i]) if p[i] > 0 else None,
           "interior_peak": bool(0 < i < s.size - 1)}
    if s.size < 3:
        out["passed"] = None
    else:
        out["passed"] = bool(out["interior_peak"] and p[-1] <= drop * p[i])
    return out


def torus_test_summary(verdict: geometry.TorusVerdict) -> dict:
    """The numbers the criterion reads from a :class:`~hidcap.geometry.TorusVerdict`."""
    med = {t: float(np.median(verdict.model.values[t]["parallelism"])) for t in geometry.TESTS}
    return {
        "closer": dict(verdict.closer),
        "distances": verdict.distances,
        "median_parallelism_residual": med,
        "median_orthogonality_cosine": {t: float(np.median(verdict.model.values[t]["orthogonality"]))
                                        for t in geometry.TESTS},
        "x_on_y_clifford": verdict.closer["x_on_y"] == "clifford",
        "within_variable_not_parallel": bool(med["x_on_x"] >= MIN_RESIDUAL and med["y_on_y"] >= MIN_RESIDUAL),
    }


def seed_verdict(final_accuracy: float, rise: dict, betti, torus: dict) -> tuple[bool | None, dict]:
    """Pass/fail of one seed and the part results (see CRITERION)."""
    parts = {
        "learned": bool(final_accuracy >= MIN_ACCURACY),
        "rise_then_fall": rise["passed"],
        "betti_121": tuple(int(b) for b in betti) == TORUS_BETTI,
        "x_on_y_clifford": bool(torus["x_on_y_clifford"]),
        "within_variable_not_parallel": bool(torus["within_variable_not_parallel"]),
    }
    if not parts["learned"]:
        return None, parts
    checks = [parts["rise_then_fall"], parts["betti_121"], parts["x_on_y_clifford"],
              parts["within_variable_not_parallel"]]
    if any(c is False for c in checks):
        return False, parts
    if any(c is None for c in checks):
        return None, parts
    return True, parts


def combine(verdicts) -> bool | None:
    """Every seed must pass: any False -> False, else any None -> None, else True."""
    verdicts = list(verdicts)
    if not verdicts:
        raise ValueError("no seed verdicts to combine")
    if any(v is False for v in verdicts):
        return False
    if any(v is None for v in verdicts):
        return None
    return True


# ------------------------------------------------------------------------------------------ measurement
def measure(series, scale: TorusScale, seed: int, progress: bool | None) -> tuple[list[dict], dict]:
    """Per-checkpoint accuracy / PR / spectrum rows, and the last checkpoint's samples and activations."""
    from hidcap.progress import progress_bar

    n = scale.data.image_size
    labels = geometry.grid_labels(n)  # one sample per integer (x, y)
    steps = series.steps[:: scale.measure_every]
    if steps[-1] != series.steps[-1]:
        steps.append(series.steps[-1])
    rows, final = [], {}
    for step in progress_bar(steps, progress=progress, desc="measure"):
        images, acts = bump_runs.sample_labels(series, step, labels, sample_steps=scale.sample_steps, seed=seed,
                                               layer=scale.bumps.layer, batch=scale.bumps.sample_batch)
        acc = bump_accuracy(images, labels, periodic=True)
        spectrum = geometry.pca_spectrum(acts)
        rows.append({"step": step, "accuracy": acc.joint, "accuracy_x": acc.x, "accuracy_y": acc.y,
                     "participation_ratio": spectrum.participation_ratio,
                     "top4_explained": spectrum.explained_variance(4),
                     "eigenvalues": spectrum.eigenvalues[:15].tolist()})
        final = {"step": step, "images": images, "acts": acts.numpy(), "labels": labels, "spectrum": spectrum}
    return rows, final


def run_seed(args, scale: TorusScale, seed: int) -> dict:
    series = bump_runs.train_run(scale.train_config(seed, args.device), args.run_dir("torus", seed),
                                 progress=args.progress)
    rows, final = measure(series, scale, seed, args.progress)
    ph = geometry.persistence_diagrams(final["acts"], maxdim=scale.maxdim, n_landmarks=scale.landmarks,
                                       pca_dim=10, seed=seed)
    betti = geometry.betti_numbers(ph)
    tv = geometry.torus_tests(final["acts"], final["labels"], period=float(scale.data.image_size))
    rise = rise_then_fall([r["step"] for r in rows], [r["participation_ratio"] for r in rows])
    torus = torus_test_summary(tv)
    passed, parts = seed_verdict(rows[-1]["accuracy"], rise, betti.betti, torus)
    return {"seed": seed, "series": series, "rows": rows, "final": final, "ph": ph, "betti": betti, "tv": tv,
            "rise": rise, "torus": torus, "passed": passed, "parts": parts}


# ------------------------------------------------------------------------------------------ figures
def figures(out: Path, results: list[dict], layer: str) -> list[str]:
    names = []
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for res in results:
        metrics = res["series"].metrics()
        axes[0].plot([m["step"] for m in metrics], [m["loss"] for m in metrics], label=f"seed {res['seed']}")
        steps = [r["step"] for r in res["rows"]]
        axes[1].plot(steps, [r["accuracy"] for r in res["rows"]], "o-", ms=4, label=f"seed {res['seed']}")
        axes[2].plot(steps, [r["participation_ratio"] for r in res["rows"]], "o-", ms=4, label=f"seed {res['seed']}")
        axes[2].plot(res["rise"]["peak_step"], res["rise"]["peak_pr"], "*", ms=14, color="tab:red")
    axes[0].set(xlabel="training step", ylabel="loss", yscale="log", title="training loss\n")
    axes[1].axhline(MIN_ACCURACY, color="grey", ls=":", lw=1)
    axes[1].set(xlabel="training step", ylabel="sample accuracy (joint)", ylim=(-0.02, 1.02),
                title="sample accuracy, one prompt per\ninteger (x, y) of the N×N grid")
    axes[2].axhline(4, color="grey", ls=":", label="ideal Clifford torus (4)")
    axes[2].set(xlabel="training step", ylabel="participation ratio", yscale="log",
                title=f"participation ratio of {layer}\n(★ = peak over steps > 0)")
    for ax in axes:
        ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "training.png", dpi=120)
    plt.close(fig)
    names.append("training.png")

    res = results[0]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    cmap = plt.get_cmap("viridis")
    for i, r in enumerate(res["rows"]):
        ev = np.asarray(r["eigenvalues"])
        ax.plot(np.arange(1, len(ev) + 1), ev / ev.sum(), "o-", ms=3, color=cmap(i / max(1, len(res["rows"]) - 1)),
                label=f"step {r['step']} (acc {r['accuracy']:.2f}, top-4 {r['top4_explained']:.2f})")
    ax.set(xlabel="principal component", ylabel="explained variance ratio (of top 15)", yscale="log",
           title=f"PCA eigenspectrum, seed {res['seed']}")
    ax.legend(frameon=False, fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "spectrum.png", dpi=120)
    plt.close(fig)
    names.append("spectrum.png")

    ax = geometry.plot_diagrams(res["ph"], title=f"final checkpoint, seed {res['seed']}\nBetti numbers "
                                                 f"{res['betti'].betti} (a torus: {TORUS_BETTI})")
    ax.figure.tight_layout()
    ax.figure.savefig(out / "persistence.png", dpi=120)
    plt.close(ax.figure)
    names.append("persistence.png")

    fig = geometry.plot_torus_tests(res["tv"], path=out / "torus_tests.png")
    plt.close(fig)
    names.append("torus_tests.png")

    final = res["final"]
    proj = final["spectrum"].project(final["acts"], 4)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4))
    for ax, (i, j), coord in zip(axes, [(0, 1), (2, 3), (0, 2), (1, 3)], ["x", "x", "y", "y"]):
        c = final["labels"][:, 0 if coord == "x" else 1]
        ax.scatter(proj[:, i], proj[:, j], c=c, cmap="twilight", s=8)
        ax.set(title=f"PC{i + 1} vs PC{j + 1}, colour = {coord}", xticks=[], yticks=[])
    fig.suptitle(f"final representation ({layer}), seed {res['seed']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "pca.png", dpi=120)
    plt.close(fig)
    names.append("pca.png")

    imgs = final["images"].numpy()
    n = int(round(imgs.shape[0] ** 0.5))
    stride = max(1, n // 8)
    pick = imgs.reshape(n, n, *imgs.shape[1:])[::stride, ::stride]  # [x index, y index]
    rows_, cols_ = pick.shape[:2]
    fig, axes = plt.subplots(cols_, rows_, figsize=(rows_ * 0.9, cols_ * 0.9 + 0.4), squeeze=False,
                             gridspec_kw={"wspace": 0.08, "hspace": 0.08, "left": 0.02, "right": 0.98,
                                          "bottom": 0.02, "top": 0.9})
    for xi in range(rows_):
        for yi in range(cols_):
            a = axes[yi, xi]
            a.imshow(pick[xi, yi, 0], cmap="gray", vmin=0, vmax=1)
            a.set_xticks([])
            a.set_yticks([])
    fig.suptitle(f"final samples, seed {res['seed']} (prompted x across, y down, every {stride} px)", fontsize=8)
    fig.savefig(out / "samples.png", dpi=120)
    plt.close(fig)
    names.append("samples.png")
    return names


# ------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> dict:
    args, _ = parse_args(NAME, __doc__.split("\n\n")[0], argv)
    scale = torus_scale(args.scale)
    results = [run_seed(args, scale, seed) for seed in args.seeds]
    names = figures(args.out, results, scale.bumps.layer)
    passed = combine(r["passed"] for r in results)

    per_seed = []
    for res in results:
        per_seed.append({
            "seed": res["seed"], "passed": res["passed"], "parts": res["parts"],
            "checkpoints": [{k: v for k, v in r.items() if k != "eigenvalues"} for r in res["rows"]],
            "final_accuracy": res["rows"][-1]["accuracy"],
            "final_participation_ratio": res["rows"][-1]["participation_ratio"],
            "final_top4_explained": res["rows"][-1]["top4_explained"],
            "rise_then_fall": res["rise"], "betti": list(res["betti"].betti), "torus_tests": res["torus"],
        })
        print(f"\ntorus geometry ({args.scale}), seed {res['seed']}, layer {scale.bumps.layer}, "
              f"{len(res['final']['labels'])} grid points")
        print(f"{'step':>7s} {'accuracy':>9s} {'PR':>7s} {'top-4 var':>9s}")
        for r in res["rows"]:
            print(f"{r['step']:7d} {r['accuracy']:9.3f} {r['participation_ratio']:7.2f} {r['top4_explained']:9.3f}")
        rise = res["rise"]
        print(f"PR peak {rise['peak_pr']:.2f} at step {rise['peak_step']} (interior: {rise['interior_peak']}), "
              f"final {rise['final_pr']:.2f} = {rise['final_over_peak']:.2f} x peak")
        print(f"Betti numbers (final): {res['betti'].betti}   (a torus: {TORUS_BETTI})")
        print(res["tv"].summary())
        med = res["torus"]["median_parallelism_residual"]
        print("median parallelism residual: " + ", ".join(f"{t} {v:.3f}" for t, v in med.items()))
        print(f"parts: {res['parts']} -> {res['passed']}")

    notes = []
    if args.tiny:
        notes.append("Tiny scale: smoke run only; the verdict means nothing.")
    if args.scale == "quick":
        notes.append("Quick scale is a 16x16 torus trained for a few thousand images' worth of steps on a CPU; "
                     "the paper's run is 32x32 with 102,400 images for hours on a GPU. Parts that fail here may "
                     "need the full scale.")
    measured = {"layer": scale.bumps.layer, "image_size": scale.data.image_size, "increment": scale.data.increment,
                "train_steps": scale.steps, "sample_steps": scale.sample_steps, "per_seed": per_seed}
    return write_verdict(args, claim=CLAIM, paper=PAPER, criterion=CRITERION, passed=passed, measured=measured,
                         figures=names, notes=" ".join(notes))


if __name__ == "__main__":
    main()
