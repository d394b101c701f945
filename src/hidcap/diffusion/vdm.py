"""Continuous-time variational diffusion model (Kingma et al. 2021) with a learned linear γ(t) schedule.

z_t = α_t x + σ_t ε with α_t² = sigmoid(−γ(t)), σ_t² = sigmoid(γ(t)), γ(t) = γ_min + (γ_max − γ_min)·t,
t ∈ [0, 1]. The model sees the continuous t (use a U-Net with ``time_scale=1000``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from hidcap.progress import progress_bar
from hidcap.diffusion.base import Diffusion, to_images, to_model_space

__all__ = ["VDMConfig", "VDM"]


@dataclass(frozen=True)
class VDMConfig:
    """gamma_min / gamma_max: γ(0) and γ(1) at initialisation (−5 and 10 as in the paper); learn_schedule:
    train both endpoints with the variational bound; recon_sigma: std of the Gaussian reconstruction
    likelihood p(x | z_0) (1e-3 as in the paper); cond_drop / null_value: classifier-free guidance training."""

    gamma_min: float = -5.0
    gamma_max: float = 10.0
    learn_schedule: bool = True
    recon_sigma: float = 1e-3
    cond_drop: float = 0.0
    null_value: float = -1.0

    def __post_init__(self) -> None:
        if not self.gamma_min < self.gamma_max:
            raise ValueError(f"need gamma_min < gamma_max, got {self.gamma_min}, {self.gamma_max}")
        if not self.recon_sigma > 0:
            raise ValueError(f"recon_sigma must be positive, got {self.recon_sigma}")
        if not 0.0 <= self.cond_drop <= 1.0:
            raise ValueError(f"cond_drop must be in [0, 1], got {self.cond_drop}")


class VDM(Diffusion):
    """VDM with ε-prediction. Parameters ``gamma_min``, ``gamma_max`` (scalars; trainable when
    ``learn_schedule``) are part of this module's state dict, so a training run checkpoints them too."""

    def __init__(self, config: VDMConfig | None = None):
        super().__init__()
        self.config = config = config or VDMConfig()
        if not isinstance(config, VDMConfig):
            raise ValueError(f"config must be a VDMConfig, got {type(config).__name__}")
        self.cond_drop, self.null_value = config.cond_drop, config.null_value
        self.gamma_min = nn.Parameter(torch.tensor(float(config.gamma_min)), requires_grad=config.learn_schedule)
        self.gamma_max = nn.Parameter(torch.tensor(float(config.gamma_max)), requires_grad=config.learn_schedule)

    def gamma(self, t: Tensor) -> Tensor:
        """γ(t) = γ_min + (γ_max − γ_min)·t for t (B,) in [0, 1]."""
        return self.gamma_min + (self.gamma_max - self.gamma_min) * t

    def log_values(self) -> dict[str, float]:
        """γ(0) and γ(1) now (the schedule is learned when ``learn_schedule``), logged by the training loop."""
        return {"gamma_min": float(self.gamma_min.detach()), "gamma_max": float(self.gamma_max.detach())}

    @staticmethod
    def alpha_sigma(gamma: Tensor) -> tuple[Tensor, Tensor]:
        """(α, σ) = (√sigmoid(−γ), √sigmoid(γ))."""
        return torch.sigmoid(-gamma).sqrt(), torch.sigmoid(gamma).sqrt()

    def loss_inputs(
        self, x0: Tensor, cond: Tensor | None, generator: torch.Generator
    ) -> tuple[tuple[Tensor | None, ...], dict[str, Tensor]]:
        """The model's arguments (z_t, t (B,), cond) for x0 (B, C, H, W) in [0, 1], cond (B, D); t
        (antithetic-uniform), ε and condition dropout come from ``generator``. See :meth:`Diffusion.loss`."""
        self._check_batch(x0, cond)
        x = to_model_space(x0.float())
        b = x.shape[0]
        u = torch.rand((), generator=generator, device=x.device)
        t = torch.remainder(u + torch.arange(b, device=x.device) / b, 1.0)  # low-variance stratified times
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        if cond is not None:
            cond = self.drop_cond(cond, generator)
        g = self.gamma(t)
        alpha, sigma = self.alpha_sigma(g.view(-1, 1, 1, 1))
        return (alpha * x + sigma * noise, t, cond), {"x": x, "noise": noise}

    def terms_from_output(self, output: Tensor, saved: dict[str, Tensor]) -> dict[str, Tensor]:
        """The three terms of the variational bound from the model's ε prediction ``output`` (B, C, H, W), each
        in nats per dimension averaged over the batch: ``diffusion`` (continuous-time ½·γ'·‖ε − ε̂‖²),
        ``prior`` (KL(q(z_1|x) ‖ N(0, I))) and ``recon`` (−log N(x; z_0/α_0, recon_sigma²) in closed form)."""
        x, noise = saved["x"], saved["noise"]
        diffusion = 0.5 * (self.gamma_max - self.gamma_min) * (output.float() - noise).pow(2).mean()
        a1, s1 = self.alpha_sigma(self.gamma_max)
        prior = 0.5 * (s1**2 + a1**2 * x.pow(2) - torch.log(s1**2) - 1.0).mean()
        rs2 = self.config.recon_sigma**2
        recon = 0.5 * math.log(2 * math.pi * rs2) + torch.exp(self.gamma_min) / (2 * rs2)
        return {"diffusion": diffusion, "prior": prior, "recon": recon}

    def loss_terms(
        self, model: nn.Module, x0: Tensor, cond: Tensor | None, generator: torch.Generator
    ) -> dict[str, Tensor]:
        """:meth:`terms_from_output` of one call of ``model`` on a batch x0 (B, C, H, W) in [0, 1], cond (B, D)."""
        args, saved = self.loss_inputs(x0, cond, generator)
        return self.terms_from_output(model(*args), saved)

    def loss_from_output(self, output: Tensor, saved: dict[str, Tensor], generator: torch.Generator) -> Tensor:
        """Variational bound (nats/dim, scalar) = diffusion + prior + recon terms of :meth:`terms_from_output`."""
        terms = self.terms_from_output(output, saved)
        return terms["diffusion"] + terms["prior"] + terms["recon"]

    @torch.no_grad()
    def sample(
        self,
        model: nn.Module,
        cond: Tensor | None,
        generator: torch.Generator,
        *,
        steps: int = 50,
        guidance: float = 1.0,
        null_cond: Tensor | None = None,
        n: int | None = None,
        shape: tuple[int, int, int] | None = None,
        dtype: torch.dtype | None = None,
        return_states: bool = False,
        progress: bool | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Ancestral sampling with ``steps`` model calls (t = 1, 1−1/S, …, 1/S) -> (B, C, H, W) in [0, 1].

        cond (B, D): one image per row. guidance: classifier-free guidance weight w (ε̂ = ε(null) +
        w·(ε(cond) − ε(null)); 1 = none); with w≠1 each step is ONE model call on a 2B batch [cond; null]
        (``null_cond`` (D,) or (B, D), default all ``null_value``). dtype: autocast dtype. n/shape: for
        unconditional models / models without ``.config``. return_states: also return z_1, z_{(S-1)/S}, …,
        z_0, stacked (steps + 1, B, C, H, W). progress: a tqdm bar over the steps (default ``None``: only when
        stderr is a terminal, as in training; ``False``: never; removed when sampling ends). guidance and every
        value of cond must be finite. Noise comes from ``generator`` (on the model's device).
        """
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
            raise ValueError(f"steps must be an int, got {steps!r}")
        steps = int(steps)
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        device, full_shape, cond, null = self._prepare(model, cond, n, guidance, null_cond, shape)
        b = full_shape[0]
        z = torch.randn(full_shape, generator=generator, device=device)
        states = [z] if return_states else None
        g_min, g_max = self.gamma_min.detach().to(device).float(), self.gamma_max.detach().to(device).float()
        with self.autocast(device, dtype):
            for i in progress_bar(range(steps, 0, -1), progress=progress, desc="sample", leave=False):
                t, s = torch.tensor(i / steps, device=device), torch.tensor((i - 1) / steps, device=device)
                g_t, g_s = g_min + (g_max - g_min) * t, g_min + (g_max - g_min) * s
                eps = self._eps(model, z, t.expand(b), cond, null, guidance)
                c = -torch.expm1(g_s - g_t)
                a_t, s_t = self.alpha_sigma(g_t)
                a_s, s_s = self.alpha_sigma(g_s)
                z = (a_s / a_t) * (z - c * s_t * eps)
                if i > 1:
                    z = z + s_s * c.sqrt() * torch.randn(full_shape, generator=generator, device=device)
                if states is not None:
                    states.append(z)
        a_0, _ = self.alpha_sigma(g_min)
        images = to_images(z / a_0)
        return (images, torch.stack(states)) if states is not None else images
