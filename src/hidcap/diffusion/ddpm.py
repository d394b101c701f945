"""Discrete-time DDPM (Ho et al. 2020): linear β schedule, ε-prediction; ancestral and DDIM samplers."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hidcap.progress import progress_bar
from hidcap.diffusion.base import Diffusion, to_images, to_model_space

__all__ = ["DDPMConfig", "DDPM"]

SAMPLERS = ("ancestral", "ddim")


@dataclass(frozen=True)
class DDPMConfig:
    """timesteps T; β linear from ``beta_start`` to ``beta_end``; ``cond_drop``: probability of training on the
    null condition (all ``null_value``) for classifier-free guidance."""

    timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    cond_drop: float = 0.0
    null_value: float = -1.0

    def __post_init__(self) -> None:
        if self.timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, got {self.timesteps}")
        if not 0.0 < self.beta_start <= self.beta_end < 1.0:
            raise ValueError(f"need 0 < beta_start <= beta_end < 1, got {self.beta_start}, {self.beta_end}")
        if not 0.0 <= self.cond_drop <= 1.0:
            raise ValueError(f"cond_drop must be in [0, 1], got {self.cond_drop}")

    @classmethod
    def scaled(cls, timesteps: int, **kwargs: float) -> DDPMConfig:
        """The T=1000 schedule (β 1e-4 -> 0.02) rescaled by 1000/T so that ᾱ_T stays ≈ e^-10 for small T
        (Nichol & Dhariwal 2021); with the plain 1e-4 -> 0.02 betas a short chain never reaches noise."""
        scale = 1000.0 / timesteps
        return cls(timesteps=timesteps, beta_start=1e-4 * scale, beta_end=min(0.02 * scale, 0.999), **kwargs)


class DDPM(Diffusion):
    """DDPM with integer time t ∈ {0, …, T−1} passed to the model (use a U-Net with ``time_scale=1``).

    Images are in [0, 1]; they are mapped to [-1, 1] here. Buffers: ``betas``, ``alphas_cumprod`` (T,).
    """

    def __init__(self, config: DDPMConfig | None = None):
        super().__init__()
        self.config = config = config or DDPMConfig()
        if not isinstance(config, DDPMConfig):
            raise ValueError(f"config must be a DDPMConfig, got {type(config).__name__}")
        self.cond_drop, self.null_value = config.cond_drop, config.null_value
        betas = torch.linspace(config.beta_start, config.beta_end, config.timesteps, dtype=torch.float64)
        self.register_buffer("betas", betas.float())
        self.register_buffer("alphas_cumprod", torch.cumprod(1.0 - betas, 0).float())

    @property
    def timesteps(self) -> int:
        return self.config.timesteps

    def q_sample(self, x: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """Forward process: x (B, C, H, W) in [-1, 1], t (B,) int -> x_t = √ᾱ_t x + √(1−ᾱ_t) ε."""
        ab = self.alphas_cumprod.to(x.device)[t].view(-1, 1, 1, 1)
        return ab.sqrt() * x + (1.0 - ab).sqrt() * noise

    def loss_inputs(
        self, x0: Tensor, cond: Tensor | None, generator: torch.Generator
    ) -> tuple[tuple[Tensor | None, ...], dict[str, Tensor]]:
        """The model's arguments (x_t, integer t (B,), cond) for a batch x0 (B, C, H, W) in [0, 1], cond (B, D);
        t, ε and condition dropout are drawn from ``generator`` (on x0's device). See :meth:`Diffusion.loss`."""
        self._check_batch(x0, cond)
        x = to_model_space(x0.float())
        b = x.shape[0]
        t = torch.randint(0, self.timesteps, (b,), generator=generator, device=x.device)
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        if cond is not None:
            cond = self.drop_cond(cond, generator)
        return (self.q_sample(x, t, noise), t, cond), {"noise": noise}

    def loss_from_output(self, output: Tensor, saved: dict[str, Tensor], generator: torch.Generator) -> Tensor:
        """Mean squared ε error (scalar) of the model's ε prediction ``output`` (B, C, H, W)."""
        return F.mse_loss(output.float(), saved["noise"])

    def timestep_schedule(self, steps: int) -> list[int]:
        """The ``steps`` model times (descending) a sampler visits: evenly spaced in [0, T−1], ending at 0."""
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
            raise ValueError(f"steps must be an int, got {steps!r}")
        steps = int(steps)
        if not 1 <= steps <= self.timesteps:
            raise ValueError(f"steps must be in [1, T={self.timesteps}], got {steps}")
        ts = torch.linspace(self.timesteps - 1, 0, steps).round().long()
        return ts.tolist()

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
        sampler: str = "ancestral",
        eta: float | None = None,
        clip: bool = True,
        n: int | None = None,
        shape: tuple[int, int, int] | None = None,
        dtype: torch.dtype | None = None,
        return_states: bool = False,
        progress: bool | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Generate one image per row of cond (B, D) -> (B, C, H, W) in [0, 1].

        steps: number of model calls (default T); fewer steps use an evenly spaced subsequence.
        sampler: ``'ancestral'`` (stochastic; DDIM with η=1, which for ``steps=T`` is the DDPM posterior
            step) or ``'ddim'`` (deterministic by default, η=0); ``eta`` overrides η.
        guidance: classifier-free guidance weight w, ε̂ = ε(null) + w·(ε(cond) − ε(null)); w=1 is plain
            conditional sampling. With w≠1 every step makes ONE model call on a 2B batch [cond; null]
            (``null_cond`` (D,) or (B, D), default all ``null_value``).
        clip: clamp the predicted x̂_0 to [-1, 1] at every step. dtype: autocast dtype (e.g. torch.bfloat16).
        n: batch size for unconditional models (cond=None). shape: (C, H, W), default from ``model.config``.
        return_states: also return the states x_t before each step and the final x_0,
            (steps + 1, B, C, H, W) in model space [-1, 1].
        progress: a tqdm bar over the steps (default ``None``: only when stderr is a terminal, as in
            training; ``False``: never). The bar is removed when sampling ends.
        guidance, eta and every value of cond must be finite (NaN/inf raise ``ValueError``).
        The initial noise and every step's noise come from ``generator`` (on the model's device).
        """
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        eta = (1.0 if sampler == "ancestral" else 0.0) if eta is None else float(eta)
        if not (math.isfinite(eta) and eta >= 0):
            raise ValueError(f"eta must be a finite number >= 0, got {eta}")
        device, full_shape, cond, null = self._prepare(model, cond, n, guidance, null_cond, shape)
        ts = self.timestep_schedule(self.timesteps if steps is None else steps)
        ab_all = self.alphas_cumprod.to(device)
        x = torch.randn(full_shape, generator=generator, device=device)
        states = [x] if return_states else None
        with self.autocast(device, dtype):
            for i, t in enumerate(progress_bar(ts, progress=progress, desc="sample", leave=False)):
                ab = ab_all[t]
                ab_prev = ab_all[ts[i + 1]] if i + 1 < len(ts) else torch.ones((), device=device)
                t_batch = torch.full((full_shape[0],), t, device=device, dtype=torch.long)
                eps = self._eps(model, x, t_batch, cond, null, guidance)
                x0 = (x - (1 - ab).sqrt() * eps) / ab.sqrt()
                if clip:
                    x0 = x0.clamp(-1.0, 1.0)
                    eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()
                sigma = eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).clamp(min=0).sqrt()
                x = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma**2).clamp(min=0).sqrt() * eps
                if i + 1 < len(ts) and eta > 0:
                    x = x + sigma * torch.randn(full_shape, generator=generator, device=device)
                if states is not None:
                    states.append(x)
        images = to_images(x)
        return (images, torch.stack(states)) if states is not None else images
