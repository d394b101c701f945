"""Gaussian bumps, sums of stripes and single stripes on an N×N canvas (Liang et al. 2024).

Pixel ``(row j, column i)`` sits at latent coordinate ``(x, y) = (i + offset, j + offset)``: x runs along
columns, y along rows, pixel 0 at coordinate 0 (``offset`` is 0 unless the latent space is extended).
Values are the paper's divided by 255, dark shapes on a white background:

- bump: ``v = 1 - exp(-(x-μx)²/4σx² - (y-μy)²/4σy²)``
- sum of stripes (SOS): ``v = 1 - ½[exp(-(x-μx)²/4σx²) + exp(-(y-μy)²/4σy²)]``

With ``periodic`` the distances wrap around (``x - μx`` taken modulo N into [-N/2, N/2)), so the latent
space is a torus. Single stripes come from an SOS in an extended latent space (44×44 for N = 32, i.e.
``offset = 6``) cropped to the N×N frame: with μy off the frame only the vertical stripe at μx is seen.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from hidcap.data.dataset import LabelledImages, concat
from hidcap.progress import progress_bar
from hidcap.rng import torch_generator

KINDS: tuple[str, ...] = ("bump", "sos", "stripe_x", "stripe_y")
REGIONS: tuple[str, ...] = ("none", "band", "band_x", "band_y", "interior", "exterior")
#: Extra latent pixels on each side for stripe data (44 = 32 + 2·6 in paper 003).
STRIPE_PAD = 6


def _axis_profile(coords: torch.Tensor, mu: torch.Tensor, sigma: float, period: float | None) -> torch.Tensor:
    """exp(-(c-μ)²/4σ²) for coords (P,) and μ (B,) -> (B, P), wrapped when ``period`` is given."""
    delta = coords[None, :] - mu[:, None]
    if period is not None:
        delta = torch.remainder(delta + period / 2, period) - period / 2
    return torch.exp(-(delta * delta) / (4 * sigma * sigma))


def render_bumps(
    centres: torch.Tensor,
    *,
    kind: str = "bump",
    image_size: int = 32,
    sigma: float | tuple[float, float] = 1.0,
    periodic: bool = False,
    offset: float = 0.0,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Render bumps (``kind='bump'``) or sums of stripes (``'sos'``) at explicit centres.

    centres: (B, 2) float ``(μx, μy)`` in latent pixel units; pixel i is at latent coordinate ``i + offset``.
    sigma: σ or ``(σx, σy)``. periodic: wrap distances with period ``image_size`` (needs ``offset == 0``).
    Returns float32 (B, 1, image_size, image_size) in [0, 1] (written into ``out`` when given).
    The two axes are separable, so the cost is one outer product per image.
    """
    if kind not in ("bump", "sos"):
        raise ValueError(f"kind must be 'bump' or 'sos' for render_bumps, got {kind!r}")
    sx, sy = (sigma, sigma) if isinstance(sigma, (int, float)) else tuple(sigma)
    if not (sx > 0 and sy > 0):
        raise ValueError(f"sigma must be positive, got {(sx, sy)}")
    if image_size <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    if centres.ndim != 2 or centres.shape[1] != 2:
        raise ValueError(f"centres must be (B, 2), got shape {tuple(centres.shape)}")
    if periodic and offset != 0:
        raise ValueError("periodic rendering needs offset == 0 (no extended latent space)")
    centres = centres.float()
    coords = torch.arange(image_size, device=centres.device, dtype=torch.float32) + offset
    period = float(image_size) if periodic else None
    ex = _axis_profile(coords, centres[:, 0], float(sx), period)  # (B, W) along columns
    ey = _axis_profile(coords, centres[:, 1], float(sy), period)  # (B, H) along rows
    if out is None:
        out = torch.empty(centres.shape[0], 1, image_size, image_size, device=centres.device)
    target = out[:, 0]
    if kind == "bump":
        torch.mul(ey[:, :, None], ex[:, None, :], out=target)
        target.neg_().add_(1.0)
    else:
        torch.add(ey[:, :, None], ex[:, None, :], out=target)
        target.mul_(-0.5).add_(1.0)
    return out


@dataclass(frozen=True)
class HeldOutRegion:
    """Centres left out of training, in frame pixel coordinates (latent minus offset).

    kind: ``'none'``; ``'band'`` (μx or μy in [low, high], the paper's cross, default [13, 19]);
    ``'band_x'`` / ``'band_y'`` (only μx / only μy in [low, high]); ``'interior'`` (a width×width square
    centred on the frame: both coordinates in [N/2 - width/2, N/2 + width/2)); ``'exterior'`` (a
    width×width square at the corner: both coordinates in [0, width)).
    """

    kind: str = "none"
    low: float = 13.0
    high: float = 19.0
    width: float = 6.0

    def __post_init__(self) -> None:
        if self.kind not in REGIONS:
            raise ValueError(f"held_out.kind must be one of {REGIONS}, got {self.kind!r}")
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"held_out.low and held_out.high must be finite, got {self.low}, {self.high}")
        if self.low > self.high:
            raise ValueError(f"held_out.low must be <= held_out.high, got {self.low} > {self.high}")
        if not (math.isfinite(self.width) and self.width >= 0):
            raise ValueError(f"held_out.width must be >= 0, got {self.width}")

    def contains(self, centres: torch.Tensor, image_size: int = 32) -> torch.Tensor:
        """(B,) bool: which frame-coordinate centres (B, 2) lie in the region."""
        x, y = centres[:, 0], centres[:, 1]
        in_x = (x >= self.low) & (x <= self.high)
        in_y = (y >= self.low) & (y <= self.high)
        if self.kind == "none":
            return torch.zeros_like(x, dtype=torch.bool)
        if self.kind == "band":
            return in_x | in_y
        if self.kind == "band_x":
            return in_x
        if self.kind == "band_y":
            return in_y
        if self.kind == "interior":
            lo, hi = image_size / 2 - self.width / 2, image_size / 2 + self.width / 2
            return (x >= lo) & (x < hi) & (y >= lo) & (y < hi)
        return (x >= 0) & (x < self.width) & (y >= 0) & (y < self.width)  # exterior


def _lattice_axis(start: float, stop: float, step: float) -> torch.Tensor:
    """Values start + k·step in [start, stop), computed in float64 from integers (no drift)."""
    n = math.ceil((stop - start) / step - 1e-9)
    return start + step * torch.arange(max(n, 0), dtype=torch.float64)


@dataclass(frozen=True)
class BumpDataSpec:
    """Gaussian bump / SOS / stripe data set on a lattice of centres (paper 003).

    kind: ``'bump'`` or ``'sos'`` (2D data, centres on the N×N frame) or ``'stripe_x'`` / ``'stripe_y'``
        (1D data: an SOS in the extended latent space whose μy / μx lies off the frame, so only the
        vertical stripe at μx / horizontal stripe at μy is seen).
    image_size: N. sigma_x, sigma_y: σ of the Gaussians in pixels.
    increment, increment_y: lattice spacing d (d_y defaults to d). The default d = 0.1 on N = 32 gives
        320 × 320 = 102,400 images.
    periodic: wrap-around distances (torus latent); only for bump / sos.
    latent_size: side of the latent space (default N for bump/sos, N + 12 for stripes, 44 for N = 32).
        Centres (``cond``) are in latent units; frame coordinate = latent - ``offset``.
    rim: for stripes, drop centres whose off-frame coordinate is within ``rim`` pixels of the frame
        (``rim ≈ 3σ`` gives "1D stripes without 2D rim").
    held_out: :class:`HeldOutRegion` of centres removed from training (frame coordinates).
    subsample: fraction λ of lattice points kept; for a fixed seed the kept sets are nested in λ.
    """

    kind: str = "bump"
    image_size: int = 32
    sigma_x: float = 1.0
    sigma_y: float = 1.0
    increment: float = 0.1
    increment_y: float | None = None
    periodic: bool = False
    latent_size: int | None = None
    rim: float = 0.0
    held_out: HeldOutRegion = field(default_factory=HeldOutRegion)
    subsample: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.image_size <= 0:
            raise ValueError(f"image_size must be positive, got {self.image_size}")
        for name in ("sigma_x", "sigma_y"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.increment > 0:
            raise ValueError(f"increment must be positive, got {self.increment}")
        if self.increment_y is not None and not self.increment_y > 0:
            raise ValueError(f"increment_y must be positive, got {self.increment_y}")
        if self.latent_size is not None and self.latent_size < self.image_size:
            raise ValueError(f"latent_size must be >= image_size, got {self.latent_size} < {self.image_size}")
        if self.latent_size is not None and (self.latent_size - self.image_size) % 2:
            raise ValueError(f"latent_size - image_size must be even, got {self.latent_size} - {self.image_size}")
        if self.periodic and self.offset != 0:
            raise ValueError("periodic=True needs latent_size == image_size (a torus has no extended space)")
        if self.kind.startswith("stripe") and self.offset == 0:
            raise ValueError("stripe kinds need latent_size > image_size (the off-frame stripe lives there)")
        for name in ("sigma_x", "sigma_y", "increment", "rim"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite, got {getattr(self, name)}")
        if not self.rim >= 0:
            raise ValueError(f"rim must be >= 0, got {self.rim}")
        if not 0.0 < self.subsample <= 1.0:
            raise ValueError(f"subsample must be in (0, 1], got {self.subsample}")
        if not isinstance(self.held_out, HeldOutRegion):
            raise ValueError(f"held_out must be a HeldOutRegion, got {type(self.held_out).__name__}")

    @property
    def channels(self) -> int:
        return 1

    @property
    def cond_dim(self) -> int:
        return 2

    @property
    def latent(self) -> int:
        """Side of the latent space the centres live in."""
        if self.latent_size is not None:
            return self.latent_size
        return self.image_size + 2 * STRIPE_PAD if self.kind.startswith("stripe") else self.image_size

    @property
    def offset(self) -> int:
        """Latent coordinate of pixel 0 (0 unless the latent space is extended)."""
        return (self.latent - self.image_size) // 2

    @property
    def render_kind(self) -> str:
        return "bump" if self.kind == "bump" else "sos"

    def lattice(self) -> torch.Tensor:
        """(M, 2) float32 every lattice centre ``(μx, μy)`` in latent units, x varying slowest."""
        n, off, lat = self.image_size, self.offset, self.latent
        dx, dy = self.increment, self.increment_y or self.increment
        if self.kind in ("bump", "sos"):
            xs, ys = _lattice_axis(off, off + n, dx), _lattice_axis(off, off + n, dy)
        else:
            on_x, on_y = _lattice_axis(off, off + n, dx), _lattice_axis(off, off + n, dy)
            off_x, off_y = _lattice_axis(0, lat, dx), _lattice_axis(0, lat, dy)
            keep_x = (off_x < off - self.rim) | (off_x >= off + n + self.rim)
            keep_y = (off_y < off - self.rim) | (off_y >= off + n + self.rim)
            xs, ys = (on_x, off_y[keep_y]) if self.kind == "stripe_x" else (off_x[keep_x], on_y)
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="ij"), dim=-1).reshape(-1, 2)
        return grid.float()

    def _held_out_mask(self, centres: torch.Tensor) -> torch.Tensor:
        return self.held_out.contains(centres - self.offset, self.image_size)

    def centres(self, seed: int | torch.Generator) -> torch.Tensor:
        """(M', 2) training centres: the lattice, subsampled to λ (nested in λ for a fixed seed), minus
        the held-out region; in lattice order."""
        grid = self.lattice()
        if self.subsample < 1.0:
            order = torch.randperm(grid.shape[0], generator=torch_generator(seed))
            keep = order[: int(round(self.subsample * grid.shape[0]))].sort().values
            grid = grid[keep]
        return grid[~self._held_out_mask(grid)]

    def test_centres(self) -> torch.Tensor:
        """(K, 2) lattice centres inside the held-out region (all of them, no subsampling)."""
        grid = self.lattice()
        return grid[self._held_out_mask(grid)]

    def render(self, centres: torch.Tensor) -> torch.Tensor:
        """Images (B, 1, N, N) of this spec's kind at explicit latent centres (B, 2)."""
        return render_bumps(
            centres, kind=self.render_kind, image_size=self.image_size, sigma=(self.sigma_x, self.sigma_y),
            periodic=self.periodic, offset=float(self.offset),
        )

    def build(
        self,
        seed: int | torch.Generator,
        device: str | torch.device = "cpu",
        *,
        chunk: int = 16384,
        progress: bool | None = None,
    ) -> LabelledImages:
        """Training data: images (M, 1, N, N), cond = labels = centres (M, 2) in latent units.

        Rendered in chunks of ``chunk`` images into one preallocated tensor on ``device``.
        """
        if chunk <= 0:
            raise ValueError(f"chunk must be positive, got {chunk}")
        centres = self.centres(seed).to(device)
        m, n = centres.shape[0], self.image_size
        images = torch.empty(m, 1, n, n, device=device)
        starts = range(0, m, chunk)
        for start in progress_bar(starts, progress=progress, desc=f"{self.kind} data", leave=False):
            sl = slice(start, start + chunk)
            render_bumps(
                centres[sl], kind=self.render_kind, image_size=n, sigma=(self.sigma_x, self.sigma_y),
                periodic=self.periodic, offset=float(self.offset), out=images[sl],
            )
        return LabelledImages(images, centres.clone(), centres)


@dataclass(frozen=True)
class ConcatSpec:
    """Several bump data sets trained on together (e.g. 2D bumps + 1D stripes, paper 003, Sec. 3.2), as one
    ``TrainConfig.data``: ``build(seed)`` builds every spec with ``seed`` and concatenates them along the
    sample axis (:func:`hidcap.data.concat`).

    specs: one or more :class:`BumpDataSpec` sharing ``image_size`` and the latent frame (``offset``), so that
    their conditioning coordinates mean the same thing (ValueError otherwise).
    """

    specs: tuple[BumpDataSpec, ...]

    def __post_init__(self) -> None:
        specs = tuple(self.specs) if isinstance(self.specs, (list, tuple)) else self.specs
        if not isinstance(specs, tuple) or not specs:
            raise ValueError(f"specs must hold at least one BumpDataSpec, got {self.specs!r}")
        bad = [type(s).__name__ for s in specs if not isinstance(s, BumpDataSpec)]
        if bad:
            raise ValueError(f"specs must all be BumpDataSpec, got {bad}")
        frames = sorted({(s.image_size, s.offset) for s in specs})
        if len(frames) != 1:
            raise ValueError(f"specs must share image_size and latent offset, got (image_size, offset) = {frames}")
        object.__setattr__(self, "specs", specs)

    @property
    def image_size(self) -> int:
        return self.specs[0].image_size

    @property
    def offset(self) -> int:
        """Latent coordinate of pixel 0, shared by every spec."""
        return self.specs[0].offset

    @property
    def cond_dim(self) -> int:
        return 2

    def build(self, seed: int, device: str | torch.device = "cpu") -> LabelledImages:
        """Every spec built with ``seed``, concatenated: images (M₁+…+M_k, 1, N, N), cond = labels (M, 2)."""
        return concat([s.build(seed, device) for s in self.specs])


def frame_grid(image_size: int, increment: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """Labels ``(K, 2)`` of every ``(x, y)`` on the frame's lattice ``0, d, 2d, ... < N`` (x slowest), shifted by
    ``offset`` into latent units."""
    if image_size <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    if not increment > 0:
        raise ValueError(f"increment must be positive, got {increment}")
    axis = increment * np.arange(int(np.ceil(image_size / increment - 1e-9)))
    xs, ys = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1) + offset
