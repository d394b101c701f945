"""Sample and train diffusers models with a diffusers scheduler through hidcap's sampler interface.

:class:`DiffusersSampler` wraps a diffusers scheduler (``DDPMScheduler``, ``DDIMScheduler``, or any scheduler with
``set_timesteps`` / ``step`` / ``add_noise``) and a conditioning mode, and offers what hidcap's own ``DDPM`` and
``VDM`` offer: ``sample(model, cond, generator, *, steps, ...) -> images in [0, 1]`` and ``loss(model, x0, cond,
generator)``. Every hidcap measurement that takes a sampler or a series (``concept_space``, ``capability``,
``record_samples``, ``measure_torus``) therefore runs on a diffusers ``UNet2DModel``, ``UNet2DConditionModel`` or DiT
transformer. The module never imports diffusers: the scheduler and model are used through their public methods.
"""
from __future__ import annotations

import copy
import inspect
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hidcap.diffusion.base import Diffusion, model_device, to_images, to_model_space
from hidcap.progress import progress_bar

__all__ = ["CONDITIONING", "DiffusersSampler"]

#: how hidcap's conditioning (B, D) reaches the model's forward: integer ``class_labels`` (B,), a float
#: conditioning embedding passed as ``class_labels`` (B, E) (``class_embed_type="identity"`` / ``"projection"``),
#: ``encoder_hidden_states`` (B, L, E) (cross-attention), or no conditioning (``None``)
CONDITIONING = ("class_labels", "embedding", "encoder_hidden_states", None)


def _sample_shape(model: nn.Module) -> tuple[int, int, int]:
    cfg = getattr(model, "config", None)
    size = getattr(cfg, "sample_size", None) if cfg is not None else None
    channels = getattr(cfg, "in_channels", None) if cfg is not None else None
    if size is None or channels is None:
        raise ValueError("shape=(C, H, W) is needed for a model whose config has no sample_size / in_channels")
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    return int(channels), int(h), int(w)


class DiffusersSampler:
    """hidcap's sampler interface over a diffusers scheduler.

    scheduler: a diffusers scheduler (copied for every call, so its ``set_timesteps`` state never leaks between
    calls). conditioning: one of :data:`CONDITIONING`: how a hidcap condition ``cond`` (B, D) is passed to the model:

    - ``"class_labels"``: ``embed(cond)`` (default: ``cond`` itself) must be integer-valued (B,) or (B, 1); passed as
      ``class_labels`` (B,) long (``UNet2DModel(num_class_embeds=K)``, DiT).
    - ``"embedding"``: ``embed(cond)`` (B, E) float passed as ``class_labels`` (a ``class_embed_type="identity"`` or
      ``"projection"`` model); ``embed`` is typically a fixed encoding such as
      :class:`hidcap.models.embeddings.SinusoidalEncoding`.
    - ``"encoder_hidden_states"``: ``embed(cond)`` (B, E) is passed as one token (B, 1, E), or (B, L, E) as is
      (``UNet2DConditionModel`` cross-attention).
    - ``None``: an unconditional model; ``cond`` must be ``None`` and ``n`` gives the batch size.

    embed: optional ``embed(cond (B, D)) -> Tensor``, applied before the mode's checks (an ``nn.Module`` is moved to
    the model's device). The model is called as ``model(x, t, <kwarg>=..., return_dict=False)[0]``; an output with
    twice the input channels (a learned-variance DiT) keeps its ε half unless the scheduler's ``variance_type`` is
    ``"learned"`` / ``"learned_range"``.
    """

    def __init__(self, scheduler: Any, conditioning: str | None = "class_labels", embed: Any = None):
        missing = [m for m in ("set_timesteps", "step", "add_noise") if not callable(getattr(scheduler, m, None))]
        if missing or getattr(scheduler, "config", None) is None:
            raise ValueError(f"scheduler must be a diffusers scheduler (with config, set_timesteps, step, add_noise); "
                             f"{type(scheduler).__name__} lacks {missing or ['config']}")
        if conditioning not in CONDITIONING:
            raise ValueError(f"conditioning must be one of {CONDITIONING}, got {conditioning!r}")
        if embed is not None and not callable(embed):
            raise ValueError(f"embed must be callable, got {type(embed).__name__}")
        if conditioning is None and embed is not None:
            raise ValueError("embed makes no sense for an unconditional sampler (conditioning=None)")
        self.scheduler = scheduler
        self.conditioning = conditioning
        self.embed = embed

    # ------------------------------------------------------------------------------------------ plumbing
    @property
    def timesteps(self) -> int:
        """The scheduler's number of training timesteps T."""
        return int(self.scheduler.config.num_train_timesteps)

    def fresh_scheduler(self) -> Any:
        """A private copy of the scheduler (its timestep state is per call)."""
        return copy.deepcopy(self.scheduler)

    def model_kwargs(self, cond: Tensor | None, device: torch.device) -> dict[str, Tensor]:
        """The forward keyword argument that carries ``cond`` (B, D) for this conditioning mode."""
        if self.conditioning is None:
            if cond is not None:
                raise ValueError("this sampler is unconditional (conditioning=None) but cond was given")
            return {}
        if cond is None:
            raise ValueError(f"conditioning={self.conditioning!r} needs cond (B, D)")
        if isinstance(self.embed, nn.Module):
            self.embed.to(device)
        c = self.embed(cond) if self.embed is not None else cond
        if not isinstance(c, Tensor):
            raise ValueError(f"embed must return a Tensor, got {type(c).__name__}")
        c = c.to(device)
        if c.shape[0] != cond.shape[0]:
            raise ValueError(f"embed returned batch size {c.shape[0]} for {cond.shape[0]} conditions")
        if self.conditioning == "class_labels":
            if c.ndim == 2 and c.shape[1] == 1:
                c = c[:, 0]
            if c.ndim != 1:
                raise ValueError(f"class labels must be (B,) or (B, 1) integers, got shape {tuple(c.shape)}")
            if c.is_floating_point() and not (bool(torch.isfinite(c).all()) and bool((c == c.round()).all())):
                raise ValueError("class labels must be integer-valued; use conditioning='embedding' for "
                                 "continuous conditions or pass embed= to map them to class indices")
            return {"class_labels": c.long()}
        if not c.is_floating_point() or not bool(torch.isfinite(c).all()):
            raise ValueError(f"a {self.conditioning} conditioning must be finite floats")
        if self.conditioning == "embedding":
            if c.ndim != 2:
                raise ValueError(f"a conditioning embedding must be (B, E), got shape {tuple(c.shape)}")
            return {"class_labels": c.float()}
        if c.ndim == 2:
            c = c[:, None, :]
        if c.ndim != 3:
            raise ValueError(f"encoder_hidden_states must be (B, E) or (B, L, E), got shape {tuple(c.shape)}")
        return {"encoder_hidden_states": c.float()}

    @staticmethod
    def _forward(model: nn.Module, x: Tensor, t: Tensor, kwargs: dict[str, Tensor]) -> Tensor:
        out = model(x, t, **kwargs, return_dict=False)
        return out[0] if isinstance(out, (tuple, list)) else out

    def _learned_variance(self, scheduler: Any) -> bool:
        return getattr(scheduler.config, "variance_type", None) in ("learned", "learned_range")

    # ------------------------------------------------------------------------------------------ training
    def loss(self, model: nn.Module, x0: Tensor, cond: Tensor | None, generator: torch.Generator) -> Tensor:
        """The diffusers training loss: x0 (B, C, H, W) images in [0, 1] -> mean squared error of the model's
        prediction (ε, v or x0, after the scheduler's ``prediction_type``) at t ~ U{0..T-1}. t and the noise are
        drawn from ``generator`` (on x0's device), in that order. Returns a scalar."""
        if x0.ndim != 4:
            raise ValueError(f"x0 must be (B, C, H, W) images in [0, 1], got shape {tuple(x0.shape)}")
        x = to_model_space(x0.float())
        t = torch.randint(0, self.timesteps, (x.shape[0],), generator=generator, device=x.device)
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        noisy = self.scheduler.add_noise(x, noise, t)
        pred = self._forward(model, noisy, t, self.model_kwargs(cond, x.device)).float()
        if pred.shape[1] == 2 * x.shape[1]:
            pred = pred[:, : x.shape[1]]
        kind = getattr(self.scheduler.config, "prediction_type", "epsilon")
        if kind == "epsilon":
            target = noise
        elif kind == "v_prediction":
            target = self.scheduler.get_velocity(x, noise, t)
        elif kind == "sample":
            target = x
        else:
            raise ValueError(f"unsupported prediction_type {kind!r}")
        return F.mse_loss(pred, target)

    # ------------------------------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample(
        self,
        model: nn.Module,
        cond: Tensor | None,
        generator: torch.Generator,
        *,
        steps: int | None = None,
        guidance: float = 1.0,
        null_cond: Tensor | None = None,
        eta: float = 0.0,
        n: int | None = None,
        shape: tuple[int, int, int] | None = None,
        dtype: torch.dtype | None = None,
        progress: bool | None = None,
    ) -> Tensor:
        """Generate one image per row of cond (B, D) (or ``n`` for an unconditional model) -> (B, C, H, W) in [0, 1].

        steps: number of model calls (``scheduler.set_timesteps(steps)``; default T). guidance: classifier-free
        guidance weight w, ε̂ = ε(null) + w·(ε(cond) − ε(null)) in one model call on a 2B batch; w ≠ 1 needs
        ``null_cond`` (D,) or (B, D) in hidcap's conditioning space. eta: DDIM's η (only for schedulers whose
        ``step`` takes it). shape: (C, H, W), default from ``model.config``. dtype: autocast dtype for the model calls
        (e.g. torch.bfloat16; None / float32: none). progress: a tqdm bar over the steps (``None``: only on a
        terminal).

        Seeding, as hidcap's samplers: the initial noise is drawn first, then every step's noise, all from
        ``generator`` (on the model's device, noise scaled by the scheduler's ``init_noise_sigma``); the same
        generator state gives the same images on the same device.
        """
        if not math.isfinite(guidance):
            raise ValueError(f"guidance must be a finite number, got {guidance}")
        if not (math.isfinite(eta) and eta >= 0):
            raise ValueError(f"eta must be a finite number >= 0, got {eta}")
        device = model_device(model)
        if cond is not None:
            if cond.ndim != 2:
                raise ValueError(f"cond must be (B, D), got shape {tuple(cond.shape)}")
            if n is not None and n != cond.shape[0]:
                raise ValueError(f"n={n} does not match cond's batch size {cond.shape[0]}")
            cond = cond.to(device)
            n = cond.shape[0]
        if n is None or n <= 0:
            raise ValueError("pass cond (B, D) or a positive n for unconditional sampling")
        kwargs = self.model_kwargs(cond, device)
        if guidance != 1.0:
            if cond is None or null_cond is None:
                raise ValueError("classifier-free guidance (guidance != 1) needs cond and null_cond")
            null = torch.as_tensor(null_cond, device=device, dtype=cond.dtype)
            null = null.expand_as(cond) if null.ndim == 1 else null
            if null.shape != cond.shape:
                raise ValueError(f"null_cond must be (D,) or (B, D)={tuple(cond.shape)}, got {tuple(null.shape)}")
            kwargs = {k: torch.cat([v, self.model_kwargs(null, device)[k]]) for k, v in kwargs.items()}
        steps = self.timesteps if steps is None else steps
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= self.timesteps:
            raise ValueError(f"steps must be an int in [1, T={self.timesteps}], got {steps!r}")
        steps = int(steps)
        full = (n, *(shape if shape is not None else _sample_shape(model)))

        scheduler = self.fresh_scheduler()
        scheduler.set_timesteps(steps, device=device)
        step_kwargs: dict[str, Any] = {"generator": generator}
        if eta and "eta" in inspect.signature(scheduler.step).parameters:
            step_kwargs["eta"] = eta
        elif eta:
            raise ValueError(f"{type(scheduler).__name__}.step takes no eta")
        learned = self._learned_variance(scheduler)
        x = torch.randn(full, generator=generator, device=device) * scheduler.init_noise_sigma
        for t in progress_bar(scheduler.timesteps, progress=progress, desc="sample", leave=False):
            x_in = scheduler.scale_model_input(x, t)
            t_batch = torch.full((n,), int(t), device=device, dtype=torch.long)
            with Diffusion.autocast(device, dtype):
                if guidance != 1.0:
                    out = self._forward(model, torch.cat([x_in, x_in]), torch.cat([t_batch, t_batch]), kwargs).float()
                else:
                    out = self._forward(model, x_in, t_batch, kwargs).float()
            if guidance != 1.0:
                out_cond, out_null = out.chunk(2)
                eps = out_null[:, : full[1]] + guidance * (out_cond[:, : full[1]] - out_null[:, : full[1]])
                out = torch.cat([eps, out_cond[:, full[1]:]], dim=1)
            if out.shape[1] == 2 * full[1] and not learned:
                out = out[:, : full[1]]
            x = scheduler.step(out, t, x, **step_kwargs, return_dict=False)[0]
        return to_images(x)

    def to(self, device: str | torch.device) -> DiffusersSampler:
        """Move ``embed`` (when it is a module) to ``device``; returns self, like ``nn.Module.to``."""
        if isinstance(self.embed, nn.Module):
            self.embed.to(device)
        return self

    def __repr__(self) -> str:
        return (f"DiffusersSampler({type(self.scheduler).__name__}(T={self.timesteps}), "
                f"conditioning={self.conditioning!r}, embed={self.embed!r})")
