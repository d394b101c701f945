"""Training runs: a frozen :class:`TrainConfig` -> a run directory with a checkpoint series.

``train(config, run_dir)`` writes ``config.json``, ``metrics.jsonl`` and
``checkpoints/step_XXXXXXX.safetensors`` (plus ``checkpoints/resume.safetensors`` with optimizer and RNG
state), shows a tqdm bar, resumes after an interruption with bit-identical results on CPU, and stops with
:class:`NonFiniteLossError` on a NaN/inf loss, keeping the last good checkpoint.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from hidcap.checkpoints import (
    CHECKPOINT_DIR,
    RESUME_FILE,
    SEP,
    CheckpointSeries,
    checkpoint_path,
    read_checkpoint,
    save_checkpoint,
)
from hidcap.config_io import load_config, save_config
from hidcap.data import BumpDataSpec, ConceptDataSpec, LabelledImages
from hidcap.diffusion import DDPMConfig, OkawaDDPMConfig, ParkVDMConfig, VDMConfig, build_diffusion
from hidcap.models import ContextUNetConfig, CUNetConfig, UNetConfig, build_model, presets
from hidcap.progress import progress_bar
from hidcap.rng import torch_generator
from hidcap.runlock import locks_run_dir

__all__ = [
    "CheckpointConfig",
    "NonFiniteLossError",
    "OptimConfig",
    "RUN_PRESETS",
    "TrainConfig",
    "checkpoint_steps",
    "run_preset",
    "train",
    "train_tensors",
]

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
SPACINGS = ("quadratic", "linear")


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the run directory keeps the last good checkpoint."""


@dataclass(frozen=True)
class OptimConfig:
    """AdamW settings; ``grad_clip``: max global grad norm of the model parameters, a finite number > 0
    (``None``: no clipping; 0 is rejected, it would zero every update). The diffusion schedule parameters
    (VDM γ) get no weight decay and no clipping."""

    lr: float = 1e-3
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = 1.0

    def __post_init__(self) -> None:
        if not (_finite(self.lr) and self.lr > 0):
            raise ValueError(f"optimizer.lr must be a finite number > 0, got {self.lr}")
        if not (_finite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"optimizer.weight_decay must be a finite number >= 0, got {self.weight_decay}")
        if len(self.betas) != 2 or not all(_finite(b) and 0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"optimizer.betas must be two numbers in [0, 1), got {self.betas}")
        if self.grad_clip is not None and not (_finite(self.grad_clip) and self.grad_clip > 0):
            raise ValueError(
                f"optimizer.grad_clip must be a finite number > 0, or None for no clipping; got {self.grad_clip}"
            )


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) and bool(np.isfinite(x))


def _check_int(owner: Any, name: str, minimum: int, optional: bool = False) -> None:
    """Field ``name`` of frozen dataclass ``owner`` must be an int >= minimum (numpy integers are stored as
    int, so the config stays JSON-able); the error names the field."""
    value = getattr(owner, name)
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    object.__setattr__(owner, name, int(value))


@dataclass(frozen=True)
class CheckpointConfig:
    """Which steps get a checkpoint: ``count`` steps spaced ``'quadratic'`` (dense early, as in the paper) or
    ``'linear'`` over the run, always including the final step; ``include_start`` adds step 0 (the
    initialisation). ``steps`` (non-empty) overrides this with explicit steps."""

    count: int = 60
    spacing: str = "quadratic"
    include_start: bool = True
    steps: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        bad = [s for s in self.steps if isinstance(s, bool) or not isinstance(s, (int, np.integer))]
        if bad:
            raise ValueError(f"checkpoints.steps must be ints, got {bad}")
        object.__setattr__(self, "steps", tuple(int(s) for s in self.steps))  # numpy ints -> int (JSON-able)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (saved as ``run_dir/config.json``).

    data: the data spec (``build(seed)``); may be ``None`` when tensors are passed to :func:`train`.
    data_seed: seed for ``data.build`` (default: ``seed``). seed: model init, dropout, noise and batch order.
    dtype: ``'float32'`` or an autocast dtype (``'bfloat16'``); channels_last / compile: speed options.
    log_every: write a ``metrics.jsonl`` row every this many steps (and at every checkpoint).
    """

    model: UNetConfig | CUNetConfig | ContextUNetConfig = field(default_factory=presets.tiny)
    diffusion: DDPMConfig | VDMConfig | ParkVDMConfig | OkawaDDPMConfig = field(default_factory=VDMConfig)
    data: ConceptDataSpec | BumpDataSpec | None = None
    optimizer: OptimConfig = field(default_factory=OptimConfig)
    checkpoints: CheckpointConfig = field(default_factory=CheckpointConfig)
    batch_size: int = 64
    steps: int = 20000
    seed: int = 0
    data_seed: int | None = None
    device: str = "cpu"
    dtype: str = "float32"
    channels_last: bool = False
    compile: bool = False
    log_every: int = 50

    def __post_init__(self) -> None:
        for name, minimum in (("batch_size", 1), ("steps", 1), ("seed", 0), ("log_every", 1)):
            _check_int(self, name, minimum)
        _check_int(self, "data_seed", 0, optional=True)
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {self.dtype!r}")
        if self.checkpoints.spacing not in SPACINGS:
            raise ValueError(f"checkpoints.spacing must be one of {SPACINGS}, got {self.checkpoints.spacing!r}")
        if self.checkpoints.count < 1 and not self.checkpoints.steps:
            raise ValueError(f"checkpoints.count must be >= 1, got {self.checkpoints.count}")
        bad = [s for s in self.checkpoints.steps if not 0 <= s <= self.steps]
        if bad:
            raise ValueError(f"checkpoints.steps must lie in [0, steps={self.steps}], got {bad}")


def checkpoint_steps(total: int, count: int, spacing: str = "quadratic", include_start: bool = False) -> tuple[int, ...]:
    """Sorted checkpoint steps: ``count`` steps in (0, total] with step_i ≈ total·(i/count)² (quadratic) or
    total·i/count (linear), nudged to be strictly increasing (fewer if ``count > total``); the last is
    ``total``. ``include_start`` prepends 0. E.g. ``checkpoint_steps(100, 4)`` -> ``(6, 25, 56, 100)``."""
    if total < 1 or count < 1:
        raise ValueError(f"total and count must be >= 1, got total={total}, count={count}")
    if spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {SPACINGS}, got {spacing!r}")
    count = min(count, total)
    power = 2 if spacing == "quadratic" else 1
    raw = [round(total * (i / count) ** power) for i in range(1, count + 1)]
    steps: list[int] = []
    for s in raw:
        steps.append(max(s, steps[-1] + 1 if steps else 1))
    # nudging upwards can overshoot near the end; pull back so the last is `total` and steps stay distinct
    steps[-1] = total
    for i in range(len(steps) - 2, -1, -1):
        steps[i] = min(steps[i], steps[i + 1] - 1)
    return ((0,) if include_start else ()) + tuple(steps)


def _schedule(config: TrainConfig) -> tuple[int, ...]:
    c = config.checkpoints
    if c.steps:
        return tuple(sorted(set(c.steps) | {config.steps}))
    return checkpoint_steps(config.steps, c.count, c.spacing, c.include_start)


def _seeds(seed: int) -> tuple[int, int, int]:
    """Independent seeds for (model init + dropout, diffusion noise, batch order)."""
    a, b, c = (int(s.generate_state(1, np.uint64)[0] % (2**63)) for s in np.random.SeedSequence(seed).spawn(3))
    return a, b, c


def _dataset(config: TrainConfig, data: Any) -> tuple[Tensor, Tensor]:
    if data is None:
        if config.data is None:
            raise ValueError("config.data is None: set a data spec or pass data=(images, cond) / LabelledImages")
        data = config.data.build(config.seed if config.data_seed is None else config.data_seed)
    if isinstance(data, LabelledImages):
        images, cond = data.images, data.cond
    elif hasattr(data, "build"):
        built = data.build(config.seed if config.data_seed is None else config.data_seed)
        images, cond = built.images, built.cond
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        images, cond = data
    else:
        raise ValueError(f"data must be a LabelledImages, a spec with build(seed) or (images, cond), got {type(data).__name__}")
    m = config.model
    if images.ndim != 4 or images.shape[1:] != (m.in_channels, m.image_size, m.image_size):
        raise ValueError(
            f"images must be (N, {m.in_channels}, {m.image_size}, {m.image_size}) to fit config.model, "
            f"got {tuple(images.shape)}"
        )
    if cond.ndim != 2 or cond.shape[0] != images.shape[0]:
        raise ValueError(f"cond must be (N, D) with N={images.shape[0]}, got {tuple(cond.shape)}")
    if m.conditioning != "none" and cond.shape[1] != m.cond_dim:
        raise ValueError(f"cond has D={cond.shape[1]} but config.model.cond_dim={m.cond_dim}")
    lo, hi = float(images.min()), float(images.max())
    if lo < -1e-4 or hi > 1 + 1e-4:
        raise ValueError(f"images must lie in [0, 1] (the diffusion maps them to [-1, 1]), got range [{lo}, {hi}]")
    if images.shape[0] < config.batch_size:
        raise ValueError(f"batch_size={config.batch_size} exceeds the number of training images {images.shape[0]}")
    device = torch.device(config.device)
    return images.to(device, torch.float32), cond.to(device, torch.float32)


class _BatchOrder:
    """Epoch-wise shuffling that is a pure function of (seed, step): resuming needs no sampler state."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.b, self.seed = n, batch_size, seed
        self.per_epoch = n // batch_size
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def indices(self, step: int) -> Tensor:
        epoch, j = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._perm = torch.randperm(self.n, generator=torch_generator(self.seed + epoch))
        return self._perm[j * self.b : (j + 1) * self.b]


def _optimizer(model: nn.Module, diffusion: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    groups = [{"params": [p for p in model.parameters() if p.requires_grad], "weight_decay": cfg.weight_decay}]
    schedule = [p for p in diffusion.parameters() if p.requires_grad]
    if schedule:
        groups.append({"params": schedule, "weight_decay": 0.0})
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas))


def _save(run_dir: Path, step: int, model: nn.Module, diffusion: nn.Module, opt: torch.optim.Optimizer,
          gen: torch.Generator, device: torch.device, loss: float | None) -> None:
    meta = {"loss": loss}
    model_state = model.state_dict()
    save_checkpoint(checkpoint_path(run_dir, step), model_state, step=step,
                    sections={"diffusion": diffusion.state_dict()}, metadata=meta)
    opt_state = opt.state_dict()
    optim_tensors, optim_plain = {}, {}
    for idx, st in opt_state["state"].items():
        for key, value in st.items():
            if isinstance(value, Tensor):
                optim_tensors[f"{idx}{SEP}{key}"] = value
            else:
                optim_plain[f"{idx}{SEP}{key}"] = value
    rng = {"torch": torch.get_rng_state(), "generator": gen.get_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    meta = {"param_groups": opt_state["param_groups"], "optim_plain": optim_plain, "loss": loss}
    save_checkpoint(run_dir / CHECKPOINT_DIR / RESUME_FILE, model_state, step=step,
                    sections={"diffusion": diffusion.state_dict(), "optim": optim_tensors, "rng": rng}, metadata=meta)


def _restore(run_dir: Path, model: nn.Module, diffusion: nn.Module, opt: torch.optim.Optimizer,
             gen: torch.Generator, device: torch.device) -> int:
    tensors, meta = read_checkpoint(run_dir / CHECKPOINT_DIR / RESUME_FILE)
    sections: dict[str, dict[str, Tensor]] = {"": {}, "diffusion": {}, "optim": {}, "rng": {}}
    for key, value in tensors.items():
        section, name = key.split(SEP, 1) if SEP in key else ("", key)
        sections.setdefault(section, {})[name] = value
    model.load_state_dict(sections[""])
    diffusion.load_state_dict(sections["diffusion"])
    state: dict[int, dict[str, Any]] = {}
    for key, value in sections["optim"].items():
        idx, name = key.split(SEP)
        state.setdefault(int(idx), {})[name] = value
    for key, value in meta.get("optim_plain", {}).items():
        idx, name = key.split(SEP)
        state.setdefault(int(idx), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    rng = sections["rng"]
    torch.set_rng_state(rng["torch"])
    gen.set_state(rng["generator"])
    if device.type == "cuda" and "cuda" in rng:
        torch.cuda.set_rng_state(rng["cuda"], device)
    return int(meta["step"])


def _truncate_metrics(path: Path, step: int) -> None:
    if not path.is_file():
        return
    rows = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
    path.write_text("".join(r + "\n" for r in rows))


@locks_run_dir  # one trainer per run directory: a second one gets RunLockedError (hidcap.runlock)
def train(
    config: TrainConfig,
    run_dir: str | Path,
    *,
    data: Any = None,
    progress: bool | None = None,
    resume: bool = True,
) -> CheckpointSeries:
    """Train ``config.model`` with ``config.diffusion`` and write a run directory; returns its series, which
    loads checkpoints onto ``config.device`` (the device the run trained on).

    data: ``None`` (build ``config.data`` with ``data_seed``), a ``LabelledImages``, any object with
    ``build(seed)``, or a tuple ``(images (N, C, H, W) in [0, 1], cond (N, D))``.
    resume: continue from ``checkpoints/resume.safetensors`` when ``run_dir`` holds an earlier run of the
    same config (a finished run returns at once); ``resume=False`` refuses a non-empty run directory.
    Raises :class:`NonFiniteLossError` when the loss turns NaN/inf (checked at every log and checkpoint
    step, before anything is saved), so the saved checkpoints are all finite.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    run_dir = Path(run_dir)
    config_file, resume_file = run_dir / "config.json", run_dir / CHECKPOINT_DIR / RESUME_FILE
    existing = CheckpointSeries(run_dir).steps if config_file.is_file() else []
    if config_file.is_file():
        if load_config(TrainConfig, config_file) != config:  # compared as configs: old files lack "@kind"
            raise ValueError(f"{run_dir} holds a run with a different config; use a new run_dir")
        if existing and not resume:
            raise FileExistsError(f"{run_dir} already holds checkpoints {existing}; pass resume=True or a new run_dir")
        if existing and not resume_file.is_file():
            raise FileNotFoundError(f"cannot resume {run_dir}: {resume_file} is missing")
    images, cond = _dataset(config, data)
    save_config(config, config_file)
    device = torch.device(config.device)
    init_seed, noise_seed, order_seed = _seeds(config.seed)
    schedule = set(_schedule(config))
    metrics_path = run_dir / "metrics.jsonl"
    autocast_dtype = DTYPES[config.dtype]

    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(init_seed)
        model = build_model(config.model).to(device)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        diffusion = build_diffusion(config.diffusion).to(device)
        opt = _optimizer(model, diffusion, config.optimizer)
        gen = torch_generator(noise_seed, device)
        start = 0
        if existing:
            start = _restore(run_dir, model, diffusion, opt, gen, device)
            _truncate_metrics(metrics_path, start)
        elif 0 in schedule:
            metrics_path.unlink(missing_ok=True)
            _save(run_dir, 0, model, diffusion, opt, gen, device, None)
        else:
            metrics_path.unlink(missing_ok=True)
        if start >= config.steps:
            return CheckpointSeries(run_dir, device=config.device)

        forward = torch.compile(model) if config.compile else model
        order = _BatchOrder(images.shape[0], config.batch_size, order_seed)
        model.train()
        clip = config.optimizer.grad_clip
        bad_step = torch.zeros((), dtype=torch.long, device=device)  # first step with a non-finite loss (0 = none)
        loss_sum = torch.zeros((), device=device)
        n_sum, t0 = 0, time.perf_counter()
        bar = progress_bar(range(start, config.steps), progress=progress, desc="train", initial=start, total=config.steps)
        with open(metrics_path, "a") as log:
            for step in bar:
                idx = order.indices(step).to(device)
                x0, c = images[idx], cond[idx]
                if config.channels_last:
                    x0 = x0.contiguous(memory_format=torch.channels_last)
                with diffusion._autocast(device, autocast_dtype):
                    loss = diffusion.loss(forward, x0, c, gen)
                done = step + 1
                finite = torch.isfinite(loss.detach())
                bad_step = torch.where((bad_step == 0) & ~finite, done, bad_step)  # no host sync
                opt.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = (
                    torch.nn.utils.clip_grad_norm_(model.parameters(), clip) if clip is not None else None
                )
                opt.step()
                loss_sum += loss.detach().float()
                n_sum += 1
                if done % config.log_every == 0 or done in schedule or done == config.steps:
                    if int(bad_step) != 0:
                        last = CheckpointSeries(run_dir).steps
                        raise NonFiniteLossError(
                            f"loss became non-finite at step {int(bad_step)}; training stopped. The last good "
                            f"checkpoint is step {last[-1] if last else None} in {run_dir / CHECKPOINT_DIR}"
                        )
                    row: dict[str, Any] = {
                        "step": done,
                        "loss": float(loss_sum) / n_sum,
                        "lr": opt.param_groups[0]["lr"],
                        "seconds": round(time.perf_counter() - t0, 3),
                    }
                    if grad_norm is not None:
                        row["grad_norm"] = float(grad_norm)
                    if hasattr(diffusion, "gamma_min"):
                        row["gamma_min"] = float(diffusion.gamma_min.detach())
                        row["gamma_max"] = float(diffusion.gamma_max.detach())
                    log.write(json.dumps(row) + "\n")
                    log.flush()
                    bar.set_postfix(loss=f"{row['loss']:.4f}")
                    loss_sum.zero_()
                    n_sum = 0
                    if done in schedule:
                        model.eval()
                        _save(run_dir, done, model, diffusion, opt, gen, device, row["loss"])
                        model.train()
    return CheckpointSeries(run_dir, device=config.device)


def train_tensors(images: Tensor, cond: Tensor, config: TrainConfig, run_dir: str | Path, **kwargs: Any) -> CheckpointSeries:
    """:func:`train` on raw tensors: images (N, C, H, W) float in [0, 1], cond (N, D)."""
    return train(config, run_dir, data=(images, cond), **kwargs)


# ---- run presets (the CLI's --preset) -------------------------------------------------------------------
def _hidden_capabilities(**kw: Any) -> TrainConfig:
    """Park et al. 2024 as their code runs it (docs/models.md): CUNet + their VDM (bits/dim, learned linear γ,
    data in [0, 1]), AdamW lr 1e-3, wd 0.01, grad clip 0.01, batch 64, 20k steps, 60 quadratic checkpoints."""
    return TrainConfig(model=presets.cunet(), diffusion=ParkVDMConfig(), data=ConceptDataSpec(),
                       optimizer=OptimConfig(lr=1e-3, weight_decay=0.01, grad_clip=0.01), batch_size=64,
                       steps=20000, checkpoints=CheckpointConfig(count=60), **kw)


def _hidden_capabilities_cfg(**kw: Any) -> TrainConfig:
    return replace(_hidden_capabilities(**kw), diffusion=ParkVDMConfig(cond_drop=0.2))


def _hidden_capabilities_hidcap(**kw: Any) -> TrainConfig:
    """The same experiment on hidcap's own U-Net and VDM (15.2 M parameters; see docs/models.md)."""
    return TrainConfig(model=presets.hidden_capabilities(), diffusion=VDMConfig(), data=ConceptDataSpec(),
                       optimizer=OptimConfig(lr=1e-3, weight_decay=0.01), batch_size=64, steps=20000,
                       checkpoints=CheckpointConfig(count=60), **kw)


def _hidden_capabilities_hidcap_cfg(**kw: Any) -> TrainConfig:
    return replace(_hidden_capabilities_hidcap(**kw), diffusion=VDMConfig(cond_drop=0.2))


def _concept_cube(image_size: int, images_per_class: int) -> ConceptDataSpec:
    """Okawa et al. 2023's concept graph: (shape, color, size), trained on {000, 100, 010, 001}."""
    return ConceptDataSpec(concepts=("shape", "color", "size"), train_classes=("000", "100", "010", "001"),
                           test_classes=("110", "101", "011", "111"), image_size=image_size,
                           images_per_class=images_per_class)


def _concept_graphs(**kw: Any) -> TrainConfig:
    """Okawa et al. 2023 as their code runs it (docs/models.md): ContextUNet + their DDPM (T=500), Adam lr 1e-4
    (AdamW with no weight decay), no grad clip, batch 64, 5000 images of 28 px, 7800 steps (100 epochs)."""
    return TrainConfig(model=presets.context_unet(), diffusion=OkawaDDPMConfig(), data=_concept_cube(28, 1250),
                       optimizer=OptimConfig(lr=1e-4, weight_decay=0.0, grad_clip=None), batch_size=64, steps=7800,
                       checkpoints=CheckpointConfig(count=50), **kw)


def _gaussian_bumps(**kw: Any) -> TrainConfig:
    return TrainConfig(model=presets.gaussian_bumps(), diffusion=DDPMConfig(timesteps=1000),
                       data=BumpDataSpec(periodic=True), optimizer=OptimConfig(lr=3e-4, weight_decay=0.0),
                       batch_size=128, steps=50000, checkpoints=CheckpointConfig(count=40), **kw)


def _tiny(**kw: Any) -> TrainConfig:
    return TrainConfig(model=presets.tiny(), diffusion=VDMConfig(),
                       data=ConceptDataSpec(image_size=16, images_per_class=64), batch_size=32, steps=200,
                       checkpoints=CheckpointConfig(count=5), log_every=10, **kw)


def _tiny_ddpm(**kw: Any) -> TrainConfig:
    """:func:`_tiny` trained as a DDPM (T=100, scaled β) with lr 3e-3 for 400 steps: unlike the 200-step VDM
    preset, it learns the training classes in about a minute of CPU."""
    return replace(_tiny(), model=presets.tiny(time_scale=1.0), diffusion=DDPMConfig.scaled(100),
                   optimizer=OptimConfig(lr=3e-3), steps=400, **kw)


def _tiny_cunet(**kw: Any) -> TrainConfig:
    """CPU-sized :func:`_hidden_capabilities`: tiny CUNet, Park et al.'s VDM, 16 px."""
    return replace(_tiny(), model=presets.tiny_cunet(), diffusion=ParkVDMConfig(),
                   optimizer=OptimConfig(lr=1e-3, weight_decay=0.01, grad_clip=0.01), **kw)


def _tiny_concept_graphs(**kw: Any) -> TrainConfig:
    """CPU-sized :func:`_concept_graphs`: tiny ContextUNet, Okawa et al.'s DDPM with T=50, 8 px."""
    return TrainConfig(model=presets.tiny_context_unet(), diffusion=OkawaDDPMConfig(timesteps=50),
                       data=_concept_cube(8, 32), optimizer=OptimConfig(lr=1e-3, weight_decay=0.0, grad_clip=None),
                       batch_size=32, steps=200, checkpoints=CheckpointConfig(count=5), log_every=10, **kw)


def _tiny_bumps(**kw: Any) -> TrainConfig:
    return TrainConfig(model=presets.tiny_bumps(), diffusion=DDPMConfig.scaled(50),
                       data=BumpDataSpec(image_size=16, increment=1.0, periodic=True), batch_size=32, steps=200,
                       checkpoints=CheckpointConfig(count=5), log_every=10, **kw)


RUN_PRESETS = {
    "hidden-capabilities": _hidden_capabilities,
    "hidden-capabilities-cfg": _hidden_capabilities_cfg,
    "hidden-capabilities-hidcap": _hidden_capabilities_hidcap,
    "hidden-capabilities-hidcap-cfg": _hidden_capabilities_hidcap_cfg,
    "concept-graphs": _concept_graphs,
    "gaussian-bumps": _gaussian_bumps,
    "tiny": _tiny,
    "tiny-ddpm": _tiny_ddpm,
    "tiny-bumps": _tiny_bumps,
    "tiny-cunet": _tiny_cunet,
    "tiny-concept-graphs": _tiny_concept_graphs,
}


def run_preset(name: str, **overrides: Any) -> TrainConfig:
    """A :class:`TrainConfig` preset by name (see ``RUN_PRESETS``) with top-level fields overridden,
    e.g. ``run_preset("tiny", steps=50, seed=3)``."""
    try:
        fn = RUN_PRESETS[name.replace("_", "-")]
    except KeyError:
        raise KeyError(f"unknown run preset {name!r}; known: {sorted(RUN_PRESETS)}") from None
    return replace(fn(), **overrides)
