"""The DDPM as Okawa et al. 2023 ran it (phys-ai/concept_graphs, ``train.py``), after Ho et al. 2020.

Differences from hidcap's :class:`~hidcap.diffusion.ddpm.DDPM` (see docs/models.md):

- T + 1 betas, β_t = β_1 + (β_2 − β_1)·t/T for t = 0, …, T (β_0 = β_1 included in ᾱ); training draws
  t ∈ {1, …, T} and the model's time input is t/T;
- data stay in [0, 1] (no map to [-1, 1]);
- the sampler visits every t = T, …, 1 with x ← (x − ε̂·β_t/√(1 − ᾱ_t))/√α_t + √β_t·z (z = 0 at t = 1): the
  variance is β_t, and x̂_0 is never clipped.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hidcap.diffusion.base import Diffusion
from hidcap.progress import progress_bar

__all__ = ["OkawaDDPMConfig", "OkawaDDPM"]


@dataclass(frozen=True)
class OkawaDDPMConfig:
    """kind: config discriminator (always ``"okawa-ddpm"``). timesteps: T (500 in the paper); β from
    ``beta_start`` to ``beta_end`` over T + 1 points. cond_drop / null_value: classifier-free guidance
    training (0: train.py draws a 10 % context mask, but its ContextUnet ignores the mask)."""

    #: the kind config_io records for this class (its "@kind"); the `kind` field repeats it so a file
    #: names its class even where a loader matches union options by field names
    config_kind: ClassVar[str] = "okawa-ddpm"

    kind: str = "okawa-ddpm"
    timesteps: int = 500
    beta_start: float = 1e-4
    beta_end: float = 0.02
    cond_drop: float = 0.0
    null_value: float = -1.0

    def __post_init__(self) -> None:
        if self.kind != self.config_kind:
            raise ValueError(f"OkawaDDPMConfig.kind must be {self.config_kind!r}, got {self.kind!r}")
        if self.timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, got {self.timesteps}")
        if not 0.0 < self.beta_start < self.beta_end < 1.0:
            raise ValueError(f"need 0 < beta_start < beta_end < 1, got {self.beta_start}, {self.beta_end}")
        if not 0.0 <= self.cond_drop <= 1.0:
            raise ValueError(f"cond_drop must be in [0, 1], got {self.cond_drop}")


class OkawaDDPM(Diffusion):
    """Okawa et al.'s DDPM. Buffers ``betas``, ``alphas_cumprod`` (T + 1,), index t = 0, …, T."""

    def __init__(self, config: OkawaDDPMConfig | None = None):
        super().__init__()
        self.config = config = config or OkawaDDPMConfig()
        if not isinstance(config, OkawaDDPMConfig):
            raise ValueError(f"config must be an OkawaDDPMConfig, got {type(config).__name__}")
        self.cond_drop, self.null_value = config.cond_drop, config.null_value
        t = torch.arange(config.timesteps + 1, dtype=torch.float32)
        betas = (config.beta_end - config.beta_start) * t / config.timesteps + config.beta_start
        self.register_buffer("betas", betas)
        self.register_buffer("alphas_cumprod", torch.cumsum(torch.log1p(-betas), 0).exp())

    @property
    def timesteps(self) -> int:
        return self.config.timesteps

    def q_sample(self, x: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """x (B, C, H, W) in [0, 1], t (B,) int in 1..T -> √ᾱ_t x + √(1 − ᾱ_t) ε."""
        ab = self.alphas_cumprod.to(x.device)[t].view(-1, 1, 1, 1)
        return ab.sqrt() * x + (1.0 - ab).sqrt() * noise

    def loss_inputs(
        self, x0: Tensor, cond: Tensor | None, generator: torch.Generator
    ) -> tuple[tuple[Tensor | None, ...], dict[str, Tensor]]:
        """The model's arguments (x_t, t/T (B,), cond) for x0 (B, C, H, W) in [0, 1], cond (B, D); t ∈ {1, …, T},
        ε and condition dropout come from ``generator``. See :meth:`Diffusion.loss`."""
        self._check_batch(x0, cond)
        x = x0.float()
        t = torch.randint(1, self.timesteps + 1, (x.shape[0],), generator=generator, device=x.device)
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        if cond is not None:
            cond = self.drop_cond(cond, generator)
        return (self.q_sample(x, t, noise), t.float() / self.timesteps, cond), {"noise": noise}

    def loss_from_output(self, output: Tensor, saved: dict[str, Tensor], generator: torch.Generator) -> Tensor:
        """Mean squared ε error (scalar) of the model's ε prediction ``output`` (B, C, H, W)."""
        return F.mse_loss(output.float(), saved["noise"])

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
        n: int | None = None,
        shape: tuple[int, int, int] | None = None,
        dtype: torch.dtype | None = None,
        return_states: bool = False,
        progress: bool | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """The original ancestral sampler over t = T, …, 1 -> (B, C, H, W): x_0 clamped to [0, 1].

        steps: must be None or T (the original visits every step). guidance: classifier-free guidance weight
        (1 = none). dtype: autocast dtype. n/shape: for unconditional models / models without ``.config``.
        return_states: also return the unclamped states x_T, …, x_0 stacked (T + 1, B, C, H, W).
        progress: a bar over the steps (None: only on a terminal).
        """
        if steps is not None and steps != self.timesteps:
            raise ValueError(f"this sampler visits every step: steps must be None or T={self.timesteps}, got {steps}")
        device, full_shape, cond, null = self._prepare(model, cond, n, guidance, null_cond, shape)
        bsz = full_shape[0]
        betas, abar = self.betas.to(device), self.alphas_cumprod.to(device)
        x = torch.randn(full_shape, generator=generator, device=device)
        states = [x] if return_states else None
        with self.autocast(device, dtype):
            for i in progress_bar(range(self.timesteps, 0, -1), progress=progress, desc="sample", leave=False):
                t_in = torch.full((bsz,), i / self.timesteps, device=device)
                eps = self._eps(model, x, t_in, cond, null, guidance)
                x = (x - eps * betas[i] / (1 - abar[i]).sqrt()) / (1 - betas[i]).sqrt()
                if i > 1:
                    x = x + betas[i].sqrt() * torch.randn(full_shape, generator=generator, device=device)
                if states is not None:
                    states.append(x)
        images = x.float().clamp(0.0, 1.0)
        return (images, torch.stack(states)) if states is not None else images
