"""What DDPM and VDM share: image <-> model-space maps, condition dropout, guided ε, sampler plumbing."""
from __future__ import annotations

import math
from contextlib import nullcontext
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["Diffusion", "model_device", "to_model_space", "to_images"]


def to_model_space(images: Tensor) -> Tensor:
    """Images in [0, 1] -> diffusion space [-1, 1]."""
    return images * 2.0 - 1.0


def to_images(x: Tensor) -> Tensor:
    """Diffusion space -> images in [0, 1] (clamped)."""
    return ((x.float() + 1.0) / 2.0).clamp(0.0, 1.0)


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (or buffer); CPU for a model with neither."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


class Diffusion(nn.Module):
    """Base class: a diffusion process owning its noise schedule (subclasses: ``DDPM``, ``VDM``).

    Subclasses implement the training loss in two halves, :meth:`loss_inputs` (draw t, ε and condition dropout;
    the model's arguments) and :meth:`loss_from_output` (the loss from the model's output), which :meth:`loss`
    joins around one model call (:func:`hidcap.training.train_many` puts one batched call of K models between
    the halves), and ``sample(model, cond, generator, ...)``.
    ``cond_drop`` (probability of replacing a training condition by the null condition, for classifier-free
    guidance) and ``null_value`` (the null condition's value in every slot; -1 as in the paper) come from
    the config.
    """

    cond_drop: float
    null_value: float

    # ---- the training loss ----------------------------------------------------------------------
    def loss_inputs(
        self, x0: Tensor, cond: Tensor | None, generator: torch.Generator
    ) -> tuple[tuple[Tensor | None, ...], dict[str, Tensor]]:
        """First half of :meth:`loss`: x0 (B, C, H, W) in [0, 1], cond (B, D) or None; draws the times, ε and the
        condition dropout from ``generator``. Returns the model's arguments ``(x_t (B, C, H, W), time (B,),
        cond (B, D) or None)`` and what :meth:`loss_from_output` needs of this batch."""
        raise NotImplementedError

    def loss_from_output(self, output: Tensor, saved: dict[str, Tensor], generator: torch.Generator) -> Tensor:
        """Second half of :meth:`loss`: the scalar loss from the model's output (B, C, H, W) and ``saved`` (from
        :meth:`loss_inputs` on the same batch); draws any further noise from ``generator``."""
        raise NotImplementedError

    def loss(self, model: nn.Module, x0: Tensor, cond: Tensor | None, generator: torch.Generator) -> Tensor:
        """The training loss (scalar) of a batch x0 (B, C, H, W) in [0, 1], cond (B, D): :meth:`loss_inputs`,
        one call of ``model``, :meth:`loss_from_output`; all randomness comes from ``generator``."""
        args, saved = self.loss_inputs(x0, cond, generator)
        return self.loss_from_output(model(*args), saved, generator)

    # ---- training helpers -----------------------------------------------------------------------
    def log_values(self) -> dict[str, float]:
        """Scalars of this diffusion's own (learned) state that the training loop logs beside the loss in each
        ``metrics.jsonl`` row; ``{}`` when it has none (DDPM). VDMs: ``gamma_min``, ``gamma_max``."""
        return {}

    def drop_cond(self, cond: Tensor, generator: torch.Generator) -> Tensor:
        """Replace each row of cond (B, D) by the null vector with probability ``cond_drop``."""
        if self.cond_drop <= 0:
            return cond
        drop = torch.rand(cond.shape[0], generator=generator, device=cond.device) < self.cond_drop
        return torch.where(drop[:, None], torch.full_like(cond, self.null_value), cond)

    @staticmethod
    def _check_batch(x0: Tensor, cond: Tensor | None) -> None:
        if x0.ndim != 4:
            raise ValueError(f"x0 must be (B, C, H, W) images in [0, 1], got shape {tuple(x0.shape)}")
        if cond is not None and (cond.ndim != 2 or cond.shape[0] != x0.shape[0]):
            raise ValueError(f"cond must be (B, D) with B={x0.shape[0]}, got shape {tuple(cond.shape)}")

    # ---- sampling helpers -----------------------------------------------------------------------
    def _prepare(
        self, model: nn.Module, cond: Tensor | None, n: int | None, guidance: float, null_cond: Tensor | None,
        shape: tuple[int, int, int] | None,
    ) -> tuple[torch.device, tuple[int, ...], Tensor | None, Tensor | None]:
        device = model_device(model)
        if not math.isfinite(guidance):
            raise ValueError(f"guidance must be a finite number, got {guidance}")
        if cond is not None:
            if cond.ndim != 2:
                raise ValueError(f"cond must be (B, D), got shape {tuple(cond.shape)}")
            cond = cond.to(device=device, dtype=torch.float32)
            if not bool(torch.isfinite(cond).all()):
                rows = torch.nonzero(~torch.isfinite(cond).all(dim=1)).flatten().tolist()
                raise ValueError(f"cond has NaN/inf values in row(s) {rows[:10]}{' …' if len(rows) > 10 else ''}")
            if n is not None and n != cond.shape[0]:
                raise ValueError(f"n={n} does not match cond's batch size {cond.shape[0]}")
            n = cond.shape[0]
        if n is None or n <= 0:
            raise ValueError("pass cond (B, D) or a positive n for unconditional sampling")
        if shape is None:
            cfg = getattr(model, "config", None)
            if cfg is None:
                raise ValueError("shape=(C, H, W) is needed for a model without a .config")
            shape = (cfg.in_channels, cfg.image_size, cfg.image_size)
        null = None
        if guidance != 1.0:
            if cond is None:
                raise ValueError("classifier-free guidance (guidance != 1) needs cond")
            if null_cond is None:
                null = torch.full_like(cond, self.null_value)
            else:
                null = torch.as_tensor(null_cond, device=device, dtype=torch.float32)
                if null.ndim == 1:
                    null = null.expand_as(cond)
                if null.shape != cond.shape:
                    raise ValueError(f"null_cond must be (D,) or (B, D)={tuple(cond.shape)}, got {tuple(null.shape)}")
                if not bool(torch.isfinite(null).all()):
                    raise ValueError("null_cond has NaN/inf values")
        return device, (n, *shape), cond, null

    @staticmethod
    def _eps(model: nn.Module, x: Tensor, t: Tensor, cond: Tensor | None, null: Tensor | None, guidance: float) -> Tensor:
        """ε̂ with one model call: with guidance the batch is [cond rows; null rows] (2B) and
        ε̂ = ε_null + guidance · (ε_cond − ε_null)."""
        if null is None:
            return model(x, t, cond).float()
        out = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([cond, null])).float()
        e_cond, e_null = out.chunk(2)
        return e_null + guidance * (e_cond - e_null)

    @staticmethod
    def autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
        """A ``torch.autocast`` context for ``dtype`` on ``device``'s type (a no-op for None or float32)."""
        if dtype is None or dtype == torch.float32:
            return nullcontext()
        return torch.autocast(device_type=device.type, dtype=dtype)
