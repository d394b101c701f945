"""Does a diffusion model trained on periodic Gaussian bumps learn a factorised (Clifford) torus?

Trains a conditional DDPM on Gaussian bumps with periodic boundaries (their latent space is a torus;
conditioning = fixed sinusoidal encodings of t, x, y, as in paper 003), then at several checkpoints samples
one image per (x, y) on the lattice while a Tracer records one U-Net layer at the final sampling step, and
measures: sample accuracy, participation ratio, PCA eigenspectrum, persistent homology (Betti numbers) and
the torus orthogonality/parallelism tests against ideal Clifford and standard tori.

    python examples/clifford_torus.py                         # CPU default (2 cores: see docs/results.md)
    python examples/clifford_torus.py --device cuda --full    # the paper's scale (32x32, d=0.1, T=1000)
    python examples/clifford_torus.py --tiny                  # seconds; what the test suite runs

Writes PNG figures and summary.json to --out and prints a table. Same seed -> same summary on one device
(everything but the "timing" entry). Re-running with the same --out reuses the finished training run.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from hidcap import Tracer  # noqa: E402
from hidcap.runs import CheckpointSeries  # noqa: E402
from hidcap.config_io import config_to_dict  # noqa: E402
from hidcap.data import BumpDataSpec  # noqa: E402
from hidcap.diffusion import DDPMConfig  # noqa: E402
from hidcap.evaluation.bumps import bump_accuracy  # noqa: E402
from hidcap import geometry  # noqa: E402
from hidcap.models import presets  # noqa: E402
from hidcap.progress import progress_bar  # noqa: E402
from hidcap.rng import torch_generator  # noqa: E402
from hidcap.training import CheckpointConfig, OptimConfig, TrainConfig, train  # noqa: E402


@dataclass(frozen=True)
class Scale:
    """One size of the experiment: training config plus how to measure it."""

    train: TrainConfig
    layer: str  # module whose output is the representation (our reading of the paper's "layer 4")
    sample_steps: int  # sampler steps (an evenly spaced subsequence of the T training steps)
    measure_every: int  # measure every k-th checkpoint (the last one always)
    landmarks: int | None  # greedy landmarks for persistent homology (None: all grid points)
    maxdim: int  # highest homology dimension


def scale(name: str, device: str, seed: int) -> Scale:
    """The ``tiny`` (tests), ``cpu`` (default) and ``full`` (paper) configurations."""
    if name == "tiny":
        cfg = TrainConfig(
            model=presets.tiny_bumps(image_size=8, channels=(8, 16), attention_resolutions=()),
            diffusion=DDPMConfig.scaled(20),
            data=BumpDataSpec(image_size=8, increment=1.0, periodic=True),
            batch_size=16, steps=20, checkpoints=CheckpointConfig(count=1), log_every=10,
        )
        s = Scale(cfg, "ups.0.resample", sample_steps=4, measure_every=1, landmarks=None, maxdim=1)
    elif name == "cpu":
        cfg = TrainConfig(
            model=presets.tiny_bumps(channels=(16, 32, 32), time_dim=32, cond_pe_dim=32, groups=8),
            diffusion=DDPMConfig.scaled(200),
            data=BumpDataSpec(image_size=16, increment=0.5, periodic=True),
            optimizer=OptimConfig(lr=2e-3, weight_decay=0.0),
            batch_size=64, steps=2000, checkpoints=CheckpointConfig(count=6), log_every=50,
        )
        s = Scale(cfg, "ups.0.resample", sample_steps=50, measure_every=1, landmarks=160, maxdim=2)
    elif name == "full":
        cfg = TrainConfig(
            model=presets.gaussian_bumps(), diffusion=DDPMConfig(timesteps=1000),
            data=BumpDataSpec(image_size=32, increment=0.1, periodic=True),
            optimizer=OptimConfig(lr=3e-4, weight_decay=0.0),
            batch_size=128, steps=50000, checkpoints=CheckpointConfig(count=40), log_every=100,
        )
        s = Scale(cfg, "ups.0.resample", sample_steps=1000, measure_every=4, landmarks=400, maxdim=2)
    else:
        raise ValueError(f"unknown scale {name!r}; use tiny, cpu or full")
    return replace(s, train=replace(s.train, device=device, seed=seed))


def record(series: CheckpointSeries, step: int, labels: torch.Tensor, s: Scale, seed: int):
    """Sample one image per label (K, 2) and record ``s.layer`` at the final sampling step.

    Returns images (K, 1, N, N) and activations (K, D) (the layer output flattened).
    """
    model = series.load(step).eval()
    diffusion = series.diffusion(step)
    device = next(model.parameters()).device
    gen = torch_generator(seed, device)
    with Tracer(model, [s.layer], calls=-1) as tr:
        images = diffusion.sample(model, labels.to(device), gen, steps=s.sample_steps)
    return images.cpu(), tr[s.layer].flatten(1).float().cpu()


def measure(series: CheckpointSeries, s: Scale, seed: int, progress: bool | None) -> tuple[list[dict], dict]:
    """Per-checkpoint accuracy/PR/spectrum rows, plus the final checkpoint's data for the figures."""
    spec: BumpDataSpec = series.config.data
    n = spec.image_size
    labels = torch.tensor(geometry.grid_labels(n), dtype=torch.float32)  # one sample per integer (x, y)
    steps = series.steps[:: s.measure_every]
    if steps[-1] != series.steps[-1]:
        steps.append(series.steps[-1])
    rows, final = [], {}
    for step in progress_bar(steps, progress=progress, desc="measure"):
        images, acts = record(series, step, labels, s, seed)
        acc = bump_accuracy(images, labels, periodic=True)
        spectrum = geometry.pca_spectrum(acts)
        rows.append({
            "step": step, "accuracy": acc.joint, "accuracy_x": acc.x, "accuracy_y": acc.y,
            "participation_ratio": spectrum.participation_ratio,
            "top4_explained": spectrum.explained_variance(4),
            "eigenvalues": spectrum.eigenvalues[:15].tolist(),
        })
        final = {"step": step, "images": images, "acts": acts, "labels": labels.numpy(), "spectrum": spectrum}
    return rows, final


def figures(out: Path, series: CheckpointSeries, rows: list[dict], final: dict, ph, betti, verdict) -> None:
    metrics = series.metrics()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot([m["step"] for m in metrics], [m["loss"] for m in metrics])
    axes[0].set(xlabel="training step", ylabel="loss", yscale="log", title="training loss")
    steps = [r["step"] for r in rows]
    axes[1].plot(steps, [r["accuracy"] for r in rows], "o-", label="joint")
    axes[1].plot(steps, [r["accuracy_x"] for r in rows], ".--", label="x")
    axes[1].plot(steps, [r["accuracy_y"] for r in rows], ".--", label="y")
    axes[1].set(xlabel="training step", ylabel="sample accuracy", ylim=(-0.02, 1.02), title="accuracy")
    axes[1].legend(frameon=False)
    axes[2].plot(steps, [r["participation_ratio"] for r in rows], "o-", color="tab:green")
    axes[2].axhline(4, color="grey", ls=":", label="ideal Clifford torus")
    axes[2].set(xlabel="training step", ylabel="participation ratio", title="effective dimension")
    axes[2].legend(frameon=False)
    fig.tight_layout()
    fig.savefig(out / "training.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for r in rows:
        ev = np.asarray(r["eigenvalues"])
        ax.plot(np.arange(1, len(ev) + 1), ev / ev.sum(), "o-", ms=3, label=f"step {r['step']}")
    ax.set(xlabel="principal component", ylabel="explained variance ratio (of top 15)", yscale="log",
           title=f"PCA eigenspectrum of {final.get('layer', '')}")
    ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "spectrum.png", dpi=120)
    plt.close(fig)

    ax = geometry.plot_diagrams(ph, title=f"final checkpoint: Betti {betti.betti}")
    ax.figure.savefig(out / "persistence.png", dpi=120)
    plt.close(ax.figure)

    fig = geometry.plot_torus_tests(verdict, path=out / "torus_tests.png")
    plt.close(fig)

    proj = final["spectrum"].project(final["acts"], 4)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4))
    for ax, (i, j), coord in zip(axes, [(0, 1), (2, 3), (0, 1), (2, 3)], ["x", "x", "y", "y"]):
        c = final["labels"][:, 0 if coord == "x" else 1]
        ax.scatter(proj[:, i], proj[:, j], c=c, cmap="twilight", s=8)
        ax.set(title=f"PC{i + 1} vs PC{j + 1}, colour = {coord}", xticks=[], yticks=[])
    fig.tight_layout()
    fig.savefig(out / "pca.png", dpi=120)
    plt.close(fig)

    imgs = final["images"].numpy()
    n = int(round(imgs.shape[0] ** 0.5))
    pick = imgs.reshape(n, n, *imgs.shape[1:])[:: max(1, n // 8), :: max(1, n // 8)]
    rows_, cols_ = pick.shape[:2]
    fig, axes = plt.subplots(rows_, cols_, figsize=(cols_ * 0.9, rows_ * 0.9))
    for a, img in zip(np.ravel(axes), pick.reshape(-1, *imgs.shape[1:])):
        a.imshow(img[0], cmap="gray", vmin=0, vmax=1)
        a.axis("off")
    fig.suptitle("samples at the final checkpoint (x across, y down)", fontsize=9)
    fig.savefig(out / "samples.png", dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="the paper's scale (use with --device cuda)")
    size.add_argument("--tiny", action="store_true", help="seconds-long smoke run (used by the tests)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/clifford_torus"))
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device} requested but CUDA is not available")

    name = "full" if args.full else "tiny" if args.tiny else "cpu"
    s = scale(name, args.device, args.seed)
    progress = False if args.no_progress else None
    args.out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    series = train(s.train, args.out / "run", progress=progress)
    t_train = time.perf_counter() - t0
    rows, final = measure(series, s, args.seed, progress)
    final["layer"] = s.layer
    t_measure = time.perf_counter() - t0 - t_train

    acts, labels = final["acts"], final["labels"]
    ph = geometry.persistence_diagrams(acts, maxdim=s.maxdim, n_landmarks=s.landmarks, pca_dim=10, seed=args.seed)
    betti = geometry.betti_numbers(ph)
    verdict = geometry.torus_tests(acts, labels, period=float(s.train.data.image_size))
    figures(args.out, series, rows, final, ph, betti, verdict)
    t_total = time.perf_counter() - t0

    summary = {
        "scale": name, "seed": args.seed, "device": args.device, "layer": s.layer,
        "train_config": config_to_dict(s.train),
        "checkpoints": rows,
        "final": {
            "step": final["step"],
            "accuracy": rows[-1]["accuracy"],
            "participation_ratio": rows[-1]["participation_ratio"],
            "top4_explained": rows[-1]["top4_explained"],
            "betti": list(betti.betti),
            "torus_tests": {"distances": verdict.distances, "closer": verdict.closer},
        },
        "timing": {"train_s": round(t_train, 1), "measure_s": round(t_measure, 1), "total_s": round(t_total, 1)},
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    print(f"\nClifford torus ({name}, layer {s.layer}, {len(labels)} grid points) -> {args.out}")
    print(f"{'step':>7s} {'accuracy':>9s} {'PR':>6s} {'top-4 var':>9s}")
    for r in rows:
        print(f"{r['step']:7d} {r['accuracy']:9.3f} {r['participation_ratio']:6.2f} {r['top4_explained']:9.3f}")
    print(f"\nBetti numbers (final): {betti.betti}   (a torus: (1, 2, 1))")
    print(verdict.summary())
    print(f"\nwall time: train {t_train:.0f} s, measure {t_measure:.0f} s, total {t_total:.0f} s")
    return summary


if __name__ == "__main__":
    main()
