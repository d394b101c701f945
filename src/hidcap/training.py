"""Training runs: a frozen :class:`TrainConfig` -> a run directory with a checkpoint series.

``train(config, run_dir)`` writes ``config.json``, ``metrics.jsonl`` and
``checkpoints/step_XXXXXXX.safetensors`` (plus ``checkpoints/resume.safetensors`` with optimizer and RNG
state), shows a tqdm bar, resumes after an interruption with bit-identical results on CPU, extends a run given
more steps, and stops with :class:`NonFiniteLossError` on a NaN/inf loss, keeping the last good checkpoint.
``train_many(configs,
run_dirs)`` trains K runs that differ only in seeds, data or optimizer settings as one batched model
(``torch.func.vmap``), each run dir written as ``train`` writes it (docs/models.md, "K runs at once").
"""
from __future__ import annotations

import json
import time
import warnings
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from hidcap.checkpoints import (
    CHECKPOINT_DIR,
    RESUME_FILE,
    TrainingState,
    checkpoint_path,
    checkpoint_steps_in,
    load_training_state,
    save_checkpoint,
    save_training_state,
)
from hidcap.config_io import config_from_dict, config_to_dict, load_config, load_config_extras, save_config
from hidcap.data import LabelledImages
from hidcap.diffusion import Diffusion, build_diffusion
from hidcap.models import build_model
from hidcap.run_presets import RUN_PRESETS
from hidcap.progress import progress_bar
from hidcap.rng import torch_generator
from hidcap.runlock import locks_run_dir, run_lock
from hidcap.run_config import (
    DTYPES, EXTENSIONS_KEY, CheckpointConfig, OptimConfig, TrainConfig, checkpoint_schedule, checkpoint_steps,
)
from hidcap.runs import CheckpointSeries

__all__ = [
    "CheckpointConfig",
    "EXTENSIONS_KEY",
    "NonFiniteLossError",
    "OptimConfig",
    "RUN_PRESETS",
    "TrainConfig",
    "MANY_MAY_DIFFER",
    "check_many",
    "checkpoint_steps",
    "run_preset",
    "train",
    "train_many",
    "train_tensors",
]


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the run directory keeps the last good checkpoint."""




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
    # foreach: one multi-tensor update, bit-identical to the per-parameter loop (and faster on the CPU too)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), foreach=True)


def _save(run_dir: Path, step: int, parts: "_Parts", loss: float | None) -> None:
    """Checkpoint ``step`` (model + diffusion) and overwrite the resume file with the full training state."""
    model_state = parts.model.state_dict()
    save_checkpoint(checkpoint_path(run_dir, step), model_state, step=step,
                    sections={"diffusion": parts.diffusion.state_dict()}, metadata={"loss": loss})
    rng = {"torch": torch.get_rng_state(), "generator": parts.gen.get_state()}
    if parts.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(parts.device)
    save_training_state(run_dir / CHECKPOINT_DIR / RESUME_FILE, TrainingState(
        step=step, model=model_state, diffusion=parts.diffusion.state_dict(), optimizer=parts.opt.state_dict(),
        rng=rng, loss=loss))


def _restore(run_dir: Path, parts: "_Parts") -> int:
    """Load the resume file into ``parts`` (weights, optimizer, RNG); returns its step."""
    state = load_training_state(run_dir / CHECKPOINT_DIR / RESUME_FILE)
    parts.model.load_state_dict(state.model)
    parts.diffusion.load_state_dict(state.diffusion)
    parts.opt.load_state_dict(state.optimizer)
    torch.set_rng_state(state.rng["torch"])
    parts.gen.set_state(state.rng["generator"])
    if parts.device.type == "cuda" and "cuda" in state.rng:
        torch.cuda.set_rng_state(state.rng["cuda"], parts.device)
    return state.step


def _truncate_metrics(path: Path, step: int) -> None:
    if not path.is_file():
        return
    rows = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
    path.write_text("".join(r + "\n" for r in rows))


@dataclass
class _Parts:
    """What the loop trains: the model, its diffusion, the optimizer and the noise generator on ``device``."""

    model: nn.Module
    diffusion: Diffusion
    opt: torch.optim.Optimizer
    gen: torch.Generator
    device: torch.device


def _differences(a: Any, b: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """Every dotted path where the config dicts ``a`` and ``b`` differ, with the two values there."""
    if isinstance(a, dict) and isinstance(b, dict):
        found = []
        for key in list(a) + [k for k in b if k not in a]:
            found += _differences(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else key)
        return found
    return [] if a == b else [(prefix, a, b)]


def _prepare_run_dir(config: TrainConfig, run_dir: Path, resume: bool) -> tuple[list[int], dict[str, Any]]:
    """Check ``run_dir`` against ``config``; returns the steps already checkpointed there (``[]``: a new run)
    and the notes its config.json keeps (:data:`EXTENSIONS_KEY`, with this call's extension added when
    ``config`` asks for more steps than the run had). Any other difference raises ValueError naming each
    differing field with both values."""
    config_file, resume_file = run_dir / "config.json", run_dir / CHECKPOINT_DIR / RESUME_FILE
    if not config_file.is_file():
        return [], {}
    existing = checkpoint_steps_in(run_dir)
    stored, notes = load_config(TrainConfig, config_file), load_config_extras(config_file)
    if stored != config:  # compared as configs: old files lack "@kind"
        others = [d for d in _differences(config_to_dict(stored), config_to_dict(config)) if d[0] != "steps"]
        if others:
            listing = "; ".join(f"{field} is {a!r} there, {b!r} here" for field, a, b in others)
            raise ValueError(f"{run_dir} holds a run with a different config: {listing}. Only steps may differ "
                             "(more steps extend the run); use a new run_dir for another config")
        if config.steps < stored.steps:
            raise ValueError(f"{run_dir} holds a run of {stored.steps} steps: a run can be extended, not cut to "
                             f"{config.steps} steps; use a new run_dir")
        if existing and resume:
            _warn_if_schedule_changes(stored, config, run_dir, existing)
            notes[EXTENSIONS_KEY] = [*notes.get(EXTENSIONS_KEY, []), {
                "from_steps": stored.steps, "to_steps": config.steps, "at_step": existing[-1]}]
    if existing and not resume:
        raise FileExistsError(f"{run_dir} already holds checkpoints {existing}; pass resume=True or a new run_dir")
    if existing and not resume_file.is_file():
        raise FileNotFoundError(f"cannot resume {run_dir}: {resume_file} is missing")
    return existing, notes


def _warn_if_schedule_changes(stored: TrainConfig, config: TrainConfig, run_dir: Path, existing: list[int]) -> None:
    """Extending keeps the checkpoints written and follows ``config``'s schedule after the last one. The
    weights are those of a run trained to ``config.steps`` directly (nothing else in a run depends on its total
    steps: the learning rate is constant); its checkpoint steps are too unless the two schedules agree."""
    direct = list(checkpoint_schedule(config))
    extended = sorted(set(existing) | {s for s in direct if s > existing[-1]})
    if extended != direct:
        warnings.warn(
            f"extending {run_dir} from {stored.steps} to {config.steps} steps: the weights will be those of a run "
            f"trained to {config.steps} steps directly, but not all of its checkpoint steps, because the "
            f"checkpoint schedule spreads checkpoints.count over the total steps: this run keeps {existing} "
            f"and adds {[s for s in direct if s > existing[-1]]}; a direct run checkpoints at {direct} "
            "(explicit checkpoints.steps give the same schedule for both)", UserWarning, stacklevel=5)


def _build(config: TrainConfig, device: torch.device, noise_seed: int) -> _Parts:
    """Model (initialised from the current torch seed), diffusion, optimizer and noise generator."""
    model = build_model(config.model).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    diffusion = build_diffusion(config.diffusion).to(device)
    opt = _optimizer(model, diffusion, config.optimizer)
    return _Parts(model, diffusion, opt, torch_generator(noise_seed, device), device)


def _resume_or_start(run_dir: Path, parts: _Parts, existing: list[int], schedule: set[int]) -> int:
    """Restore the newest training state (``existing`` checkpoints) or start afresh (checkpoint 0 if scheduled);
    returns the step to continue from."""
    metrics_path = run_dir / "metrics.jsonl"
    if existing:
        start = _restore(run_dir, parts)
        _truncate_metrics(metrics_path, start)
        return start
    metrics_path.unlink(missing_ok=True)
    if 0 in schedule:
        _save(run_dir, 0, parts, None)
    return 0


class _RunSteps:
    """One run's per-step bookkeeping inside a loop: its batches (a pure function of (order seed, step), so a
    resumed run sees the same batches), gradient clipping, the running loss, ``metrics.jsonl`` rows and
    checkpoints. :func:`train` drives one, :func:`train_many` K of them in lockstep."""

    def __init__(self, config: TrainConfig, run_dir: Path, parts: _Parts, images: Tensor, cond: Tensor,
                 schedule: set[int], order_seed: int, log: Any):
        self.config, self.run_dir, self.parts, self.images, self.cond = config, run_dir, parts, images, cond
        self.schedule, self.log = schedule, log
        self.order = _BatchOrder(images.shape[0], config.batch_size, order_seed)
        self.bad_step = torch.zeros((), dtype=torch.long, device=parts.device)  # first non-finite step (0 = none)
        self.loss_sum = torch.zeros((), device=parts.device)
        self.n_sum, self.t0 = 0, time.perf_counter()

    def batch(self, step: int) -> tuple[Tensor, Tensor]:
        """The batch of ``step``: images (B, C, H, W) and cond (B, D) on the run's device."""
        idx = self.order.indices(step).to(self.parts.device)
        x0, c = self.images[idx], self.cond[idx]
        if self.config.channels_last:
            x0 = x0.contiguous(memory_format=torch.channels_last)
        return x0, c

    def clip(self) -> Tensor | None:
        """Clip the model's gradients (the schedule's are not); returns their norm before clipping."""
        clip = self.config.optimizer.grad_clip
        return torch.nn.utils.clip_grad_norm_(self.parts.model.parameters(), clip) if clip is not None else None

    def record(self, done: int, loss: Tensor, grad_norm: Tensor | None) -> dict[str, Any] | None:
        """Account the loss of step ``done``; on a log or checkpoint step write the row (and checkpoint),
        returning it. A non-finite loss since the last row raises :class:`NonFiniteLossError` before anything
        is saved."""
        finite = torch.isfinite(loss.detach())
        self.bad_step = torch.where((self.bad_step == 0) & ~finite, done, self.bad_step)  # no host sync
        self.loss_sum += loss.detach().float()
        self.n_sum += 1
        config, parts = self.config, self.parts
        if not (done % config.log_every == 0 or done in self.schedule or done == config.steps):
            return None
        if int(self.bad_step) != 0:
            last = checkpoint_steps_in(self.run_dir)
            raise NonFiniteLossError(
                f"loss became non-finite at step {int(self.bad_step)}; training stopped. The last good "
                f"checkpoint is step {last[-1] if last else None} in {self.run_dir / CHECKPOINT_DIR}"
            )
        row: dict[str, Any] = {"step": done, "loss": float(self.loss_sum) / self.n_sum,
                               "lr": parts.opt.param_groups[0]["lr"],
                               "seconds": round(time.perf_counter() - self.t0, 3)}
        if grad_norm is not None:
            row["grad_norm"] = float(grad_norm)
        row.update(parts.diffusion.log_values())  # e.g. VDM's learned γ(0), γ(1)
        self.log.write(json.dumps(row) + "\n")
        self.log.flush()
        self.loss_sum.zero_()
        self.n_sum = 0
        # -- checkpoint: weights in eval mode, plus the resume state
        if done in self.schedule:
            parts.model.eval()
            _save(self.run_dir, done, parts, row["loss"])
            parts.model.train()
        return row


def _loop(config: TrainConfig, run_dir: Path, parts: _Parts, images: Tensor, cond: Tensor, start: int,
          schedule: set[int], order_seed: int, progress: bool | None) -> None:
    """Train from ``start`` to ``config.steps``, logging to ``metrics.jsonl`` and checkpointing on ``schedule``."""
    model, diffusion, opt, gen, device = parts.model, parts.diffusion, parts.opt, parts.gen, parts.device
    forward = torch.compile(model) if config.compile else model
    autocast_dtype = DTYPES[config.dtype]
    model.train()
    bar = progress_bar(range(start, config.steps), progress=progress, desc="train", initial=start, total=config.steps)
    with open(run_dir / "metrics.jsonl", "a") as log:
        run = _RunSteps(config, run_dir, parts, images, cond, schedule, order_seed, log)
        for step in bar:
            x0, c = run.batch(step)
            # -- forward: the diffusion loss, under autocast when config.dtype asks for it
            with diffusion.autocast(device, autocast_dtype):
                loss = diffusion.loss(forward, x0, c, gen)
            # -- backward and optimizer step (model gradients clipped; the schedule's are not)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = run.clip()
            opt.step()
            # -- log and checkpoint when due
            row = run.record(step + 1, loss, grad_norm)
            if row is not None:
                bar.set_postfix(loss=f"{row['loss']:.4f}")


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
    Extending: a config that differs from the run's only in more ``steps`` continues the run from its last
    checkpoint to the new end; the checkpoints written are kept, later ones follow the new schedule, and
    config.json records the extension (:data:`EXTENSIONS_KEY`). The weights are bit-identical (on a CPU) to a
    run trained to the new end directly; its checkpoint steps are too where the schedules agree (explicit
    ``checkpoints.steps``), else a UserWarning lists both. Any other difference raises ValueError naming each
    differing field with both values.
    Raises :class:`NonFiniteLossError` when the loss turns NaN/inf (checked at every log and checkpoint
    step, before anything is saved), so the saved checkpoints are all finite.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    run_dir = Path(run_dir)
    existing, notes = _prepare_run_dir(config, run_dir, resume)
    images, cond = _dataset(config, data)
    save_config(config, run_dir / "config.json", extra=notes)
    device = torch.device(config.device)
    init_seed, noise_seed, order_seed = _seeds(config.seed)
    schedule = set(checkpoint_schedule(config))
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(init_seed)
        parts = _build(config, device, noise_seed)
        start = _resume_or_start(run_dir, parts, existing, schedule)
        if start < config.steps:
            _loop(config, run_dir, parts, images, cond, start, schedule, order_seed, progress)
    return CheckpointSeries(run_dir, device=config.device)


# ---- K runs at once -----------------------------------------------------------------------------------------
#: TrainConfig fields that train_many lets differ between its runs (everything else fixes shapes or the loop)
MANY_MAY_DIFFER = ("seed", "data_seed", "data", "optimizer", "checkpoints", "steps", "log_every")


def check_many(configs: list[TrainConfig]) -> None:
    """Raise ValueError unless ``configs`` may train as one :func:`train_many` call: they may differ only in
    :data:`MANY_MAY_DIFFER`; the error names the first field that differs and the run."""
    for i, c in enumerate(configs):
        if not isinstance(c, TrainConfig):
            raise ValueError(f"configs[{i}] must be a TrainConfig, got {type(c).__name__}")
        if c.compile:
            raise ValueError(f"configs[{i}] has compile=True; train_many runs its models under torch.func.vmap "
                             "and does not compile them (use train for a compiled run)")
    ref = {k: v for k, v in config_to_dict(configs[0]).items() if k not in MANY_MAY_DIFFER}
    for i, c in enumerate(configs[1:], 1):
        found = _differences(ref, {k: v for k, v in config_to_dict(c).items() if k not in MANY_MAY_DIFFER})
        if found:
            field = found[0][0]
            raise ValueError(f"configs[{i}] differs from configs[0] in {field!r}; train_many trains runs that "
                             f"differ only in {MANY_MAY_DIFFER} (same model, diffusion, batch size, device, "
                             "dtype, channels_last)")


class _Stacked:
    """K same-shape models run as one. Each parameter and buffer is held once, stacked (K, ...), and every model's
    own tensors become views of their slice: the models' optimizers, ``state_dict`` (checkpoints) and
    ``load_state_dict`` (resume) keep working on them unchanged, while ``forward(calls)`` runs
    ``models[k](*calls[k])`` for all k as one ``torch.func.vmap`` over the stacks (vmap turns the K convolutions
    into one grouped convolution) with no per-step stacking. After backward, :meth:`share_grads` hands each
    model its slice of the stacked gradients."""

    def __init__(self, models: list[nn.Module]):
        self.models, self.base = models, models[0]
        self.own = [dict(m.named_parameters()) for m in models]  # name -> parameter, per model
        own_buffers = [dict(m.named_buffers()) for m in models]
        with torch.no_grad():
            self.params = {name: torch.stack([own[name] for own in self.own]).requires_grad_(p.requires_grad)
                           for name, p in self.own[0].items()}
            self.buffers = {name: torch.stack([own[name] for own in own_buffers]) for name in own_buffers[0]}
        for k in range(len(models)):  # each model's tensors now live in the stacks
            for name, p in self.own[k].items():
                p.data = self.params[name].detach()[k]
            for name, b in own_buffers[k].items():
                b.data = self.buffers[name][k]

    def _one(self, p: dict[str, Tensor], b: dict[str, Tensor], *a: Any) -> Tensor:
        return torch.func.functional_call(self.base, (p, b), a)

    def forward(self, calls: list[tuple[Any, ...]], live: list[int]) -> Tensor:
        """calls: one argument tuple per model in ``live`` (indices into ``models``), all of the same shapes ->
        (len(live), ...) outputs."""
        whole = len(live) == len(self.models)
        index = torch.tensor(live, device=next(iter(self.params.values())).device) if not whole else None
        params = self.params if whole else {n: p[index] for n, p in self.params.items()}
        buffers = self.buffers if whole else {n: b[index] for n, b in self.buffers.items()}
        args, in_dims = [], []
        for i in range(len(calls[0])):
            column = [c[i] for c in calls]
            stack = isinstance(column[0], Tensor)
            args.append(torch.stack(column) if stack else column[0])
            in_dims.append(0 if stack else None)
        out = torch.func.vmap(self._one, in_dims=(0, 0, *in_dims), randomness="different")(params, buffers, *args)
        if not whole:  # buffers updated in the forward (BatchNorm running stats) go back to the live models
            with torch.no_grad():
                for n, b in buffers.items():
                    self.buffers[n][index] = b
        return out

    def zero_grad(self) -> None:
        """Drop the stacked gradients (the models' own ``.grad`` views go with their optimizer's zero_grad)."""
        for p in self.params.values():
            p.grad = None

    def share_grads(self, live: list[int]) -> None:
        """Point each live model's ``.grad`` at its slice of the stacked gradients (models not in ``live`` keep
        ``None``, so their optimizers leave them alone)."""
        for name, stack in self.params.items():
            g = stack.grad
            for k in live:
                self.own[k][name].grad = None if g is None else g[k]


@dataclass
class _ManyRun:
    config: TrainConfig
    run_dir: Path
    parts: _Parts
    start: int
    steps: _RunSteps | None = None
    error: Exception | None = None


def _many_loop(runs: list[_ManyRun], progress: bool | None) -> None:
    """Train ``runs`` in lockstep. Each step: each live run's diffusion draws its model inputs from the run's own
    generator (:meth:`~hidcap.diffusion.Diffusion.loss_inputs`); one vmapped forward over the stacked models
    computes all model outputs; each run's loss follows from its output
    (:meth:`~hidcap.diffusion.Diffusion.loss_from_output`); one backward of the summed losses; then per run what
    :func:`train` does: clip its gradients, step its own optimizer, log and checkpoint. A run whose loss turns
    non-finite stops; the others go on."""
    device = runs[0].parts.device
    autocast_dtype = DTYPES[runs[0].config.dtype]
    lo, hi = min(r.start for r in runs), max(r.config.steps for r in runs)
    for r in runs:
        r.parts.model.train()
    stacked = _Stacked([r.parts.model for r in runs])
    bar = progress_bar(range(lo, hi), progress=progress, desc=f"train x{len(runs)}", initial=lo, total=hi)
    for step in bar:
        live = [k for k, r in enumerate(runs) if r.error is None and r.start <= step < r.config.steps]
        if not live:
            continue
        # -- forward: each run's model inputs, all live models in one batched call, each run's loss
        with runs[live[0]].parts.diffusion.autocast(device, autocast_dtype):
            inputs = [runs[k].parts.diffusion.loss_inputs(*runs[k].steps.batch(step), runs[k].parts.gen)
                      for k in live]
            outs = stacked.forward([args for args, _ in inputs], live)
            losses = [runs[k].parts.diffusion.loss_from_output(out, saved, runs[k].parts.gen)
                      for k, out, (_, saved) in zip(live, outs, inputs)]
        # -- one backward (each run's gradient is its own loss's), then each run as train steps it
        for k in live:
            runs[k].parts.opt.zero_grad(set_to_none=True)
        stacked.zero_grad()
        torch.stack(losses).sum().backward()
        stacked.share_grads(live)
        for k, loss in zip(live, losses):
            run = runs[k]
            grad_norm = run.steps.clip()
            run.parts.opt.step()
            # -- log and checkpoint when due
            try:
                run.steps.record(step + 1, loss, grad_norm)
            except NonFiniteLossError as exc:
                run.error = exc


def train_many(
    configs: list[TrainConfig],
    run_dirs: list[str | Path],
    *,
    data: Any = None,
    progress: bool | None = None,
    resume: bool = True,
) -> list[CheckpointSeries]:
    """Train K runs at once in one process: as K :func:`train` calls would, but with one batched forward
    (``torch.func.stack_module_state``-style stacked parameters + ``functional_call`` + ``vmap``) per step.
    Sweeps use it only when asked (``group=K``): on a CPU it took 0.75-1.22x the time of K solo runs (its
    gain on a GPU is unmeasured) and its runs match solo runs to float tolerance only (docs/performance.md,
    "K runs at once").

    configs: K :class:`TrainConfig` that differ only in :data:`MANY_MAY_DIFFER` (seed, data_seed, data,
    optimizer, checkpoints, steps, log_every); anything else raises ValueError naming the field.
    run_dirs: K distinct directories, each written exactly as :func:`train` writes it (config.json,
    metrics.jsonl, the same checkpoint steps, the resume file) and locked while training; each is resumable
    by :func:`train` or :func:`train_many`. data: ``None`` (each config builds its own), one data object for
    all runs, or a list of K (see :func:`train`). Per-run model init, noise generator and batch order are
    those of the solo run, and each run clips and steps its own optimizer as :func:`train` does, so without
    dropout each run matches its solo :func:`train` to float tolerance (the grouped convolutions sum in another
    order); dropout draws
    come from vmap's own randomness, so runs with dropout match solo runs in distribution only. Returns the K series. Runs whose loss turns NaN/inf
    stop as in :func:`train` while the others finish; then :class:`NonFiniteLossError` is raised, with
    ``failures`` mapping each such run_dir to its error.
    """
    configs, run_dirs = list(configs), [Path(d) for d in run_dirs]
    if not configs or len(configs) != len(run_dirs):
        raise ValueError(f"need one run_dir per config and at least one, got {len(configs)} configs and "
                         f"{len(run_dirs)} run_dirs")
    seen: dict[Path, int] = {}
    for i, d in enumerate(run_dirs):
        key = d.resolve()
        if key in seen:
            raise ValueError(f"run_dirs[{i}] and run_dirs[{seen[key]}] are the same directory {d}")
        seen[key] = i
    check_many(configs)
    if isinstance(data, list):
        if len(data) != len(configs):
            raise ValueError(f"data is a list of {len(data)}, need one per config ({len(configs)})")
        datas = data
    else:
        datas = [data] * len(configs)
    with ExitStack() as locks:
        for d in run_dirs:
            locks.enter_context(run_lock(d))
        prepared = [_prepare_run_dir(c, d, resume) for c, d in zip(configs, run_dirs)]
        existing = [steps for steps, _ in prepared]
        tensors = [_dataset(c, x) for c, x in zip(configs, datas)]
        for c, d, (_, notes) in zip(configs, run_dirs, prepared):
            save_config(c, d / "config.json", extra=notes)
        device = torch.device(configs[0].device)
        runs, orders = [], []
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            for c, d, prior in zip(configs, run_dirs, existing):
                init_seed, noise_seed, order_seed = _seeds(c.seed)
                torch.manual_seed(init_seed)  # each model's init as in its solo run
                parts = _build(c, device, noise_seed)
                start = _resume_or_start(d, parts, prior, set(checkpoint_schedule(c)))
                runs.append(_ManyRun(c, d, parts, start))
                orders.append(order_seed)
            torch.manual_seed(_seeds(configs[0].seed)[0])  # dropout (vmap randomness) draws from here
            with ExitStack() as logs:
                for r, order_seed, (images, cond) in zip(runs, orders, tensors):
                    log = logs.enter_context(open(r.run_dir / "metrics.jsonl", "a"))
                    r.steps = _RunSteps(r.config, r.run_dir, r.parts, images, cond, set(checkpoint_schedule(r.config)),
                                        order_seed, log)
                if any(r.start < r.config.steps for r in runs):
                    _many_loop(runs, progress)
    failures = {r.run_dir: r.error for r in runs if r.error is not None}
    if failures:
        error = NonFiniteLossError("; ".join(f"{d}: {e}" for d, e in failures.items()))
        error.failures = failures  # type: ignore[attr-defined]
        raise error
    return [CheckpointSeries(d, device=c.device) for c, d in zip(configs, run_dirs)]


def train_tensors(images: Tensor, cond: Tensor, config: TrainConfig, run_dir: str | Path, **kwargs: Any) -> CheckpointSeries:
    """:func:`train` on raw tensors: images (N, C, H, W) float in [0, 1], cond (N, D)."""
    return train(config, run_dir, data=(images, cond), **kwargs)


def run_preset(name: str, **overrides: Any) -> TrainConfig:
    """A :class:`TrainConfig` from the plain-data preset ``name`` (see :data:`hidcap.run_presets.RUN_PRESETS`) with
    top-level fields overridden, e.g. ``run_preset("tiny", steps=50, seed=3)``."""
    try:
        preset = RUN_PRESETS[name.replace("_", "-")]
    except KeyError:
        raise KeyError(f"unknown run preset {name!r}; known: {sorted(RUN_PRESETS)}") from None
    fields = config_to_dict(TrainConfig())
    for key, value in preset.items():
        # a section written out whole (it carries "@kind") replaces the default; a partial one, such as
        # {"lr": 3e-3}, is laid over the default section's values
        partial = isinstance(value, dict) and "@kind" not in value and isinstance(fields.get(key), dict)
        fields[key] = {**fields[key], **value} if partial else value
    config = config_from_dict(TrainConfig, fields, source=f"run preset {name!r}")
    return replace(config, **overrides)
