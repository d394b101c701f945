"""A probe-free measure of (color, size) concept images, read straight off the pixels.

Useful when no concept probe is trained yet (quick looks, examples, tests): it only knows the two concepts
color (red/blue) and size (large/small) of :class:`hidcap.data.ConceptDataSpec`'s default renderer.
"""
from __future__ import annotations

import math

import torch


def pixel_concepts(images: torch.Tensor, class_bits: str = "11") -> dict[str, float]:
    """Probe-free score of (color, size) images (B, 3, H, W) in [0, 1] against ``class_bits`` ("11" = small blue).

    Background = per-channel median of the border pixels; object = pixels differing from it by > 0.3 in
    some channel. Returns the mean B − R of the object, its mean area-equivalent radius (half-frame
    units: large ≈ 0.6, small ≈ 0.3) and the fraction of images whose colour / size / both match.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (B, 3, H, W), got shape {tuple(images.shape)}")
    if len(class_bits) != 2 or set(class_bits) - {"0", "1"}:
        raise ValueError(f"class_bits must be two bits over (color, size), e.g. '11', got {class_bits!r}")
    border = torch.cat([images[..., 0, :], images[..., -1, :], images[..., 1:-1, 0], images[..., 1:-1, -1]], -1)
    mask = (images - border.median(-1).values[..., None, None]).abs().amax(1) > 0.3  # (B, H, W)
    radius = (4 * mask.float().mean((1, 2)) / math.pi).sqrt()  # circle of equal area on the [-1, 1]² frame
    rgb = (images * mask[:, None]).sum((2, 3)) / mask.sum((1, 2)).clamp_min(1)[:, None]  # (B, 3)
    blue_minus_red = rgb[:, 2] - rgb[:, 0]
    found = mask.any(dim=(1, 2))
    color_ok = found & ((blue_minus_red > 0) == (class_bits[0] == "1"))
    size_ok = found & ((radius < 0.45) == (class_bits[1] == "1"))
    return {
        "b_minus_r": float(blue_minus_red.mean()), "radius": float(radius.mean()),
        "color": float(color_ok.float().mean()), "size": float(size_ok.float().mean()),
        "joint": float((color_ok & size_ok).float().mean()),
    }
