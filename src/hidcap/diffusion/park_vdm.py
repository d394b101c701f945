"""The variational diffusion model as Park et al. 2024 ran it (cfpark00/concept-learning, ``VDM`` with
``noise_schedule: learned_linear``), after Kingma et al. 2021.

Differences from hidcap's :class:`~hidcap.diffusion.vdm.VDM` (see docs/models.md):

- data stay in [0, 1] (no map to [-1, 1]); the reconstruction likelihood has std ``data_noise`` = 1e-3;
- γ(t) = b + |w|·t with trainable b, w (init b = −5, w = 15, so γ runs from −5 to 10);
- the model's time input is the normalised γ, (γ(t) − γ_min⁰)/(γ_max⁰ − γ_min⁰) with the INITIAL endpoints
  (constants), not t; gradients of the loss reach b and w through it as well;
- the loss is in bits per dimension: per image, the sums over pixels of the diffusion term ½·|w|·‖ε − ε̂‖²,
  the prior KL(q(z_1|x) ‖ N(0, I)) and a SAMPLED reconstruction term −log N(x; z_0/α_0, data_noise²),
  divided by D·ln 2, then averaged over the batch;
- the sampler adds noise at every step, the last included, and returns z_0 itself (not z_0/α_0).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from hidcap.diffusion.base import Diffusion
from hidcap.progress import progress_bar

__all__ = ["ParkVDMConfig", "ParkVDM"]


@dataclass(frozen=True)
class ParkVDMConfig:
    """kind: config discriminator (always ``"park-vdm"``). gamma_min / gamma_max: γ(0), γ(1) at init (−5, 10 as
    in the paper's runs; also the constants that normalise the model's time input). learn_schedule: train
    b and w. data_noise: std of the reconstruction likelihood. antithetic: stratified times
    t_i = (u + i)/B. cond_drop / null_value: classifier-free guidance training (0 in the paper's runs)."""

    #: the kind config_io records for this class (its "@kind"); the `kind` field repeats it so a file
    #: names its class even where a loader matches union options by field names
    config_kind: ClassVar[str] = "park-vdm"

    kind: str = "park-vdm"
    gamma_min: float = -5.0
    gamma_max: float = 10.0
    learn_schedule: bool = True
    data_noise: float = 1e-3
    antithetic: bool = True
    cond_drop: float = 0.0
    null_value: float = -1.0

    def __post_init__(self) -> None:
        if self.kind != self.config_kind:
            raise ValueError(f"ParkVDMConfig.kind must be {self.config_kind!r}, got {self.kind!r}")
        if not self.gamma_min < self.gamma_max:
            raise ValueError(f"need gamma_min < gamma_max, got {self.gamma_min}, {self.gamma_max}")
        if not self.data_noise > 0:
            raise ValueError(f"data_noise must be positive, got {self.data_noise}")
        if not 0.0 <= self.cond_drop <= 1.0:
            raise ValueError(f"cond_drop must be in [0, 1], got {self.cond_drop}")


class ParkVDM(Diffusion):
    """Park et al.'s VDM. Parameters ``b``, ``w`` (scalars; trainable when ``learn_schedule``) live in this
    module's state dict; ``gamma_min`` = γ(0) and ``gamma_max`` = γ(1) are their current values."""

    def __init__(self, config: ParkVDMConfig | None = None):
        super().__init__()
        self.config = config = config or ParkVDMConfig()
        if not isinstance(config, ParkVDMConfig):
            raise ValueError(f"config must be a ParkVDMConfig, got {type(config).__name__}")
        self.cond_drop, self.null_value = config.cond_drop, config.null_value
        self.b = nn.Parameter(torch.tensor(float(config.gamma_min)), requires_grad=config.learn_schedule)
        self.w = nn.Parameter(torch.tensor(float(config.gamma_max - config.gamma_min)),
                              requires_grad=config.learn_schedule)

    @property
    def gamma_min(self) -> Tensor:
        """γ(0) = b."""
        return self.b

    @property
    def gamma_max(self) -> Tensor:
        """γ(1) = b + |w|."""
        return self.b + self.w.abs()

    def gamma(self, t: Tensor) -> Tensor:
        """γ(t) = b + |w|·t for t (B,) in [0, 1]."""
        return self.b + self.w.abs() * t

    def log_values(self) -> dict[str, float]:
        """γ(0) and γ(1) now (the schedule is learned when ``learn_schedule``), logged by the training loop."""
        return {"gamma_min": float(self.gamma_min.detach()), "gamma_max": float(self.gamma_max.detach())}

    def time_input(self, gamma: Tensor) -> Tensor:
        """What the network sees: (γ − γ_min⁰)/(γ_max⁰ − γ_min⁰) with the config's (initial) endpoints."""
        c = self.config
        return (gamma - c.gamma_min) / (c.gamma_max - c.gamma_min)

    @staticmethod
    def alpha_sigma(gamma: Tensor) -> tuple[Tensor, Tensor]:
        """(α, σ) = (√sigmoid(−γ), √sigmoid(γ))."""
        return torch.sigmoid(-gamma).sqrt(), torch.sigmoid(gamma).sqrt()

    def loss_inputs(
        self, x0: Tensor, cond: Tensor | None, generator: torch.Generator
    ) -> tuple[tuple[Tensor | None, ...], dict[str, Tensor]]:
        """The model's arguments (z_t, time input (B,), cond) for x0 (B, C, H, W) in [0, 1], cond (B, D); times,
        ε and condition dropout come from ``generator``. See :meth:`Diffusion.loss`."""
        self._check_batch(x0, cond)
        x = x0.float()
        b = x.shape[0]
        if self.config.antithetic:
            u = torch.rand((), generator=generator, device=x.device) / b
            t = u + torch.arange(b, device=x.device) / b
        else:
            t = torch.rand(b, generator=generator, device=x.device)
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        if cond is not None:
            cond = self.drop_cond(cond, generator)
        g = self.gamma(t)
        alpha, sigma = self.alpha_sigma(g.view(-1, 1, 1, 1))
        return (alpha * x + sigma * noise, self.time_input(g), cond), {"x": x, "noise": noise}

    def terms_from_output(
        self, output: Tensor, saved: dict[str, Tensor], generator: torch.Generator
    ) -> dict[str, Tensor]:
        """The three terms of the bound in bits per dimension from the model's ε prediction ``output``
        (B, C, H, W), each averaged over the batch: ``diffusion``, ``prior`` and ``recon`` (see the module
        docstring); the reconstruction noise comes from ``generator``."""
        x, noise = saved["x"], saved["noise"]
        bpd = 1.0 / (x[0].numel() * math.log(2.0))
        # dγ/dt = |w| for the linear schedule (the original takes it by autograd; same value and gradient)
        diffusion = bpd * 0.5 * self.w.abs() * (output.float() - noise).pow(2).flatten(1).sum(1)
        s1_sq = torch.sigmoid(self.gamma_max)
        kl = 0.5 * (s1_sq + (1 - s1_sq) * x.pow(2) - torch.log(s1_sq.clamp(min=1e-15)) - 1.0)
        prior = bpd * kl.flatten(1).sum(1)
        a0, s0 = self.alpha_sigma(self.gamma_min)
        z0 = a0 * x + s0 * torch.randn(x.shape, generator=generator, device=x.device)
        dn = self.config.data_noise
        nll = 0.5 * ((x - z0 / a0) / dn).pow(2) + math.log(dn) + 0.5 * math.log(2 * math.pi)
        recon = bpd * nll.flatten(1).sum(1)
        return {"diffusion": diffusion.mean(), "prior": prior.mean(), "recon": recon.mean()}

    def loss_terms(
        self, model: nn.Module, x0: Tensor, cond: Tensor | None, generator: torch.Generator
    ) -> dict[str, Tensor]:
        """:meth:`terms_from_output` of one call of ``model`` on a batch x0 (B, C, H, W) in [0, 1], cond (B, D)."""
        args, saved = self.loss_inputs(x0, cond, generator)
        return self.terms_from_output(model(*args), saved, generator)

    def loss_from_output(self, output: Tensor, saved: dict[str, Tensor], generator: torch.Generator) -> Tensor:
        """The bound in bits/dim (scalar) = diffusion + prior + recon terms of :meth:`terms_from_output`."""
        terms = self.terms_from_output(output, saved, generator)
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
        """Ancestral sampling over t = 1, 1 − 1/S, …, 0 (S = ``steps`` model calls) -> (B, C, H, W): z_0 clamped
        to [0, 1] (the data space; no division by α_0).

        cond (B, D): one image per row. guidance: classifier-free guidance weight (1 = none; otherwise one
        model call on [cond; null] per step, ``null_cond`` default all ``null_value``). dtype: autocast dtype.
        n/shape: for unconditional models / models without ``.config``. return_states: also return
        z_1, …, z_0 unclamped, stacked (steps + 1, B, C, H, W). Noise comes from ``generator``.
        progress: a bar over the steps (None: only on a terminal).
        """
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        device, full_shape, cond, null = self._prepare(model, cond, n, guidance, null_cond, shape)
        bsz = full_shape[0]
        z = torch.randn(full_shape, generator=generator, device=device)
        states = [z] if return_states else None
        grid = torch.linspace(1.0, 0.0, steps + 1, device=device)
        with self.autocast(device, dtype):
            for i in progress_bar(range(steps), progress=progress, desc="sample", leave=False):
                g_t, g_s = self.gamma(grid[i]).float(), self.gamma(grid[i + 1]).float()
                eps = self._eps(model, z, self.time_input(g_t).expand(bsz), cond, null, guidance)
                c = -torch.expm1(g_s - g_t)
                a_t, s_t = self.alpha_sigma(g_t)
                a_s, s_s = self.alpha_sigma(g_s)
                z = (a_s / a_t) * (z - c * s_t * eps)
                z = z + s_s * c.sqrt() * torch.randn(full_shape, generator=generator, device=device)
                if states is not None:
                    states.append(z)
        images = z.float().clamp(0.0, 1.0)
        return (images, torch.stack(states)) if states is not None else images
