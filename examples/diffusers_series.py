"""The Clifford-torus measurement on a diffusers model: train a UNet2DModel with a DDPMScheduler on periodic
Gaussian bumps, saving ``checkpoint-N/unet`` folders with ``save_pretrained`` as diffusers' training scripts do,
then point hidcap at that output folder and run the measurement of examples/clifford_torus.py on it: participation
ratio (PR) and sample accuracy over training, Betti numbers and the torus tests at the end, with figures.

    python examples/diffusers_series.py                  # CPU default (see docs/diffusers.md for its time)
    python examples/diffusers_series.py --device cuda
    python examples/diffusers_series.py --tiny           # seconds; what the test suite runs

The model is conditioned on the bump centre (x, y) as the main example's model is: a fixed sinusoidal encoding of
x and y (hidcap.models.embeddings.SinusoidalEncoding), passed to the UNet2DModel as its class embedding
(``class_embed_type="identity"``). The recorded layer is the output of the first decoder block's upsampler, our
counterpart of the main example's ``ups.0.resample``. Writes ``run/`` (the diffusers output), the figures and
summary.json to --out and prints a table; the verdict printed is what the measurement found, torus or not.
Same seed -> same summary on one device (everything but "timing"). Re-running with the same --out reuses the
finished checkpoints.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from hidcap.diffusers_sampling import DiffusersSampler
from hidcap.diffusers_series import DiffusersSeries, import_diffusers
from hidcap.scales import TorusScale, torus_scale
from hidcap.experiments.torus_measurement import measure_torus_scale, torus_figures
from hidcap.models.embeddings import SinusoidalEncoding
from hidcap.progress import progress_bar
from hidcap.rng import torch_generator
from hidcap.training import checkpoint_steps

LAYER = "up_blocks.0.upsamplers.0"


@dataclass(frozen=True)
class DiffusersRun:
    """The diffusers run of one size: the model's channels, the DDPM schedule (T, β range: the main example's
    ``DDPMConfig.scaled(T)``), AdamW's learning rate, batch size and steps; ``measure``: the scale whose data,
    checkpoints and measurement settings are used (hidcap.scales.TORUS_SCALES)."""

    measure: str
    channels: tuple[int, ...]
    timesteps: int
    lr: float
    batch_size: int
    steps: int
    groups: int
    sample_steps: int | None = None
    measure_every: int | None = None

    @property
    def scale(self) -> TorusScale:
        """The measurement scale with this run's layer, steps and (when set) sampler steps and measure_every."""
        s = torus_scale(self.measure)
        fields = {"sample_steps": self.sample_steps, "measure_every": self.measure_every}
        return replace(s, bumps=replace(s.bumps, layer=LAYER), steps=self.steps,
                       **{k: v for k, v in fields.items() if v is not None})


RUNS = {
    "tiny": DiffusersRun("example-tiny", channels=(8, 16), timesteps=20, lr=3e-3, batch_size=16, steps=20, groups=4),
    # the main example's CPU data and measurement lattice (1,024 centres, 300 landmarks), with fewer training steps,
    # 25 sampler steps and 3 measured checkpoints to fit 10 minutes on 2 CPU cores
    "cpu": DiffusersRun("example-cpu", channels=(16, 32, 32), timesteps=200, lr=2e-3, batch_size=64, steps=1200,
                        groups=8, sample_steps=25, measure_every=3),
}


def build_unet(run: DiffusersRun, image_size: int):
    """A UNet2DModel for ``image_size`` px one-channel images whose class embedding is the (x, y) encoding."""
    diffusers = import_diffusers()
    n = len(run.channels)
    return diffusers.UNet2DModel(
        sample_size=image_size, in_channels=1, out_channels=1, block_out_channels=run.channels, layers_per_block=1,
        down_block_types=("DownBlock2D",) * n, up_block_types=("UpBlock2D",) * n, norm_num_groups=run.groups,
        class_embed_type="identity")


def make_sampler(run: DiffusersRun) -> DiffusersSampler:
    """The DDPMScheduler (β of hidcap's ``DDPMConfig.scaled(T)``) and the (x, y) conditioning embedding."""
    diffusers = import_diffusers()
    scale = 1000.0 / run.timesteps
    scheduler = diffusers.DDPMScheduler(num_train_timesteps=run.timesteps, beta_start=1e-4 * scale,
                                        beta_end=min(0.02 * scale, 0.999), beta_schedule="linear")
    time_embed_dim = run.channels[0] * 4  # UNet2DModel's; the (x, y) encoding fills it: 2 columns x time_embed_dim / 2
    return DiffusersSampler(scheduler, "embedding", embed=SinusoidalEncoding(time_embed_dim // 2))


def train(run: DiffusersRun, out: Path, seed: int, device: str, progress: bool | None) -> list[int]:
    """Train as a diffusers training script does and save ``out/checkpoint-N/unet`` (``save_pretrained``) at the
    scale's checkpoint steps, the scheduler to ``out/scheduler`` and the loss to ``out/metrics.jsonl``. Returns the
    checkpoint steps; a finished output is reused."""
    s = run.scale
    ck = s.checkpoints
    saves = sorted(set(checkpoint_steps(run.steps, ck.count, ck.spacing, ck.include_start)))
    if all((out / f"checkpoint-{n}" / "unet" / "config.json").is_file() for n in saves):
        return saves
    torch.manual_seed(seed)
    data = s.data.build(seed)
    images, cond = data.images.to(device), data.cond.to(device)
    model = build_unet(run, s.data.image_size).to(device)
    sampler = make_sampler(run).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=run.lr, weight_decay=0.0)
    gen = torch_generator(seed, device)
    out.mkdir(parents=True, exist_ok=True)
    sampler.scheduler.save_pretrained(out / "scheduler")
    log_every = max(1, run.steps // 40)
    rows = []
    for step in progress_bar(range(run.steps + 1), progress=progress, desc="train"):
        if step in saves:
            model.eval().save_pretrained(out / f"checkpoint-{step}" / "unet")
        if step == run.steps:
            break
        model.train()
        idx = torch.randint(0, images.shape[0], (run.batch_size,), generator=gen, device=device)
        loss = sampler.loss(model, images[idx], cond[idx], gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % log_every == 0:
            rows.append({"step": step, "loss": loss.detach().item()})
    (out / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return saves


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="seconds-long smoke run (used by the tests)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/diffusers_series"))
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device} requested but CUDA is not available")
    name = "tiny" if args.tiny else "cpu"
    run, progress = RUNS[name], (False if args.no_progress else None)
    s = run.scale

    t0 = time.perf_counter()
    saves = train(run, args.out / "run", args.seed, args.device, progress)
    t_train = time.perf_counter() - t0
    # from here on hidcap sees only the diffusers output folder
    series = DiffusersSeries(args.out / "run", sampler=make_sampler(run), device=args.device)
    m = measure_torus_scale(series, s, args.seed, progress)
    t_measure = time.perf_counter() - t0 - t_train
    torus_figures(args.out, [m])
    t_total = time.perf_counter() - t0

    rows, betti, verdict = m.rows, m.betti, m.verdict
    topology = tuple(betti.betti[:3]) == (1, 2, 1)  # a torus's Betti numbers (needs maxdim >= 2)
    clifford = topology and verdict.overall == "clifford"
    summary = {
        "scale": name, "seed": args.seed, "device": args.device, "layer": LAYER, "checkpoint_steps": saves,
        "model": {"channels": list(run.channels), "timesteps": run.timesteps, "lr": run.lr,
                  "batch_size": run.batch_size, "steps": run.steps, "measure": run.measure},
        "checkpoints": rows,
        "final": {"step": m.step, "accuracy": rows[-1]["accuracy"],
                  "participation_ratio": rows[-1]["participation_ratio"],
                  "top4_explained": rows[-1]["top4_explained"], "betti": list(betti.betti),
                  "torus_tests": {"distances": verdict.distances, "closer": verdict.closer,
                                  "overall": verdict.overall},
                  "torus_topology": topology, "clifford_torus": clifford},
        "timing": {"train_s": round(t_train, 1), "measure_s": round(t_measure, 1), "total_s": round(t_total, 1)},
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    print(f"\ndiffusers UNet2DModel ({name}, layer {LAYER}, {len(m.labels)} grid points) -> {args.out}")
    print(f"{'step':>7s} {'accuracy':>9s} {'PR':>6s} {'top-4 var':>9s}")
    for r in rows:
        print(f"{r['step']:7d} {r['accuracy']:9.3f} {r['participation_ratio']:6.2f} {r['top4_explained']:9.3f}")
    print(f"\nBetti numbers (final): {betti.betti}   (a torus: (1, 2, 1))")
    print(verdict.summary())
    print(f"found: Betti numbers {tuple(betti.betti)}: {'those of a torus' if topology else 'not a torus'}; torus tests "
          f"overall {verdict.overall}: {'a Clifford torus' if clifford else 'not a Clifford torus'}")
    print(f"\nwall time: train {t_train:.0f} s, measure {t_measure:.0f} s, total {t_total:.0f} s")
    return summary


if __name__ == "__main__":
    main()
