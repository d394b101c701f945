"""Decode Gaussian-bump centres from generated images and score them (Liang et al. 2024, Eq. 1).

Images are dark bumps on a light background, values in [0, 1]. Centres are ``(x, y)`` in pixel units with
``x`` along the width (column) axis and ``y`` along the height (row) axis, the convention of
:mod:`hidcap.data.bumps`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage


def _as_numpy_images(images: torch.Tensor | np.ndarray) -> np.ndarray:
    arr = images.detach().float().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images, float)
    if arr.ndim == 4:
        if arr.shape[1] != 1:
            raise ValueError(f"images must be grayscale (B, 1, H, W) or (B, H, W), got shape {arr.shape}")
        arr = arr[:, 0]
    if arr.ndim != 3:
        raise ValueError(f"images must be (B, 1, H, W) or (B, H, W), got shape {arr.shape}")
    return arr


def _count_blobs(mask: np.ndarray, periodic: bool) -> int:
    labels, n = ndimage.label(mask)
    if periodic and n > 1:
        # merge components that touch across opposite borders (the canvas is a torus)
        parent = list(range(n + 1))

        def find(a: int) -> int:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        for a_edge, b_edge in ((labels[0], labels[-1]), (labels[:, 0], labels[:, -1])):
            for a, b in zip(a_edge, b_edge):
                if a and b:
                    parent[find(a)] = find(b)
        n = len({find(i) for i in range(1, n + 1)})
    return n


def _centroid(weights: np.ndarray, periodic: bool) -> tuple[float, float]:
    h, w = weights.shape
    total = weights.sum()
    if total <= 0:
        return (w - 1) / 2, (h - 1) / 2
    wx, wy = weights.sum(axis=0), weights.sum(axis=1)
    if not periodic:
        return float(wx @ np.arange(w) / total), float(wy @ np.arange(h) / total)
    # circular mean on each axis
    out = []
    for marginal, size in ((wx, w), (wy, h)):
        angle = 2 * np.pi * np.arange(size) / size
        mean = np.arctan2(marginal @ np.sin(angle), marginal @ np.cos(angle))
        out.append(float((mean % (2 * np.pi)) * size / (2 * np.pi)))
    return out[0], out[1]


def decode_centres(
    images: torch.Tensor | np.ndarray, *, periodic: bool = False, threshold: float = 0.5
) -> np.ndarray:
    """Estimate bump centres: the darkest pixel when exactly one dark blob is present, else the centroid.

    images: (B, 1, H, W) or (B, H, W), dark bumps on light background in [0, 1].
    A blob is a connected region darker than ``threshold``; with no blob or several, the centre falls back to
    the intensity-weighted centroid of the inverted image (as in paper 003). Returns (B, 2) float ``(x, y)``.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    arr = _as_numpy_images(images)
    centres = np.empty((arr.shape[0], 2))
    for i, img in enumerate(arr):
        if _count_blobs(img < threshold, periodic) == 1:
            row, col = np.unravel_index(np.argmin(img), img.shape)
            centres[i] = (col, row)
        else:
            centres[i] = _centroid(np.clip(1.0 - img, 0.0, None), periodic)
    return centres


def centre_errors(
    predicted: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor, *, size: int | None = None
) -> np.ndarray:
    """Absolute per-axis errors (B, 2); with ``size`` (the canvas side) distances wrap around a torus."""
    p = np.asarray(predicted.cpu() if isinstance(predicted, torch.Tensor) else predicted, dtype=float)
    t = np.asarray(target.cpu() if isinstance(target, torch.Tensor) else target, dtype=float)
    if p.shape != t.shape or p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"predicted and target must both be (B, 2); got {p.shape} and {t.shape}")
    err = np.abs(p - t)
    if size is not None:
        if size <= 0:
            raise ValueError(f"size must be positive, got {size}")
        err = np.minimum(err % size, size - err % size)
    return err


@dataclass(frozen=True)
class BumpAccuracy:
    """Fractions of samples whose decoded centre lies within ``tolerance`` pixels (joint, x only, y only)."""

    joint: float
    x: float
    y: float
    correct: np.ndarray  # (B,) bool, joint correctness per sample


def bump_accuracy(
    images: torch.Tensor | np.ndarray,
    centres: torch.Tensor | np.ndarray,
    *,
    periodic: bool = False,
    tolerance: float = 1.0,
) -> BumpAccuracy:
    """Accuracy of generated bumps against their conditioning centres (paper 003, Eq. 1).

    images: (B, 1, H, W) or (B, H, W); centres: (B, 2) target ``(x, y)`` in pixels. A sample is correct when
    ``|x̂ − x| < tolerance`` and ``|ŷ − y| < tolerance`` (distances wrap around when ``periodic``).
    """
    arr = _as_numpy_images(images)
    if tolerance <= 0:
        raise ValueError(f"tolerance must be positive, got {tolerance}")
    if arr.shape[1] != arr.shape[2] and periodic:
        raise ValueError(f"periodic accuracy needs square images, got {arr.shape[1:]}")
    err = centre_errors(decode_centres(arr, periodic=periodic), centres, size=arr.shape[-1] if periodic else None)
    ok = err < tolerance
    return BumpAccuracy(
        joint=float(ok.all(axis=1).mean()), x=float(ok[:, 0].mean()), y=float(ok[:, 1].mean()), correct=ok.all(axis=1)
    )
