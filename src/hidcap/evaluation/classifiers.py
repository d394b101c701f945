"""Concept probes: per-concept binary classifiers that map images to one probability per concept.

Two architectures (Park et al. 2024; Okawa et al. 2023):

- ``"conv"``: a small convolutional backbone (three 3×3 conv blocks, GroupNorm, GELU, two stride-2
  downsamplings) → global average pool → one logit per concept (paper A's classifier probe; a plain
  conv stack stands in for its small U-Net encoder);
- ``"linear"``: one linear classifier per concept on the flattened image (paper B).

A probe is trained on generator data of *every* class over its concepts (training and held-out
classes alike, 2**n classes) and reports its accuracy on a fresh held-out draw. Measurement code
refuses a probe whose held-out accuracy is below 0.99 (:func:`require_accurate`).

Probes are saved like checkpoints: ``probe.safetensors`` (weights) + ``probe.json`` (config and
held-out accuracy) in one directory; no pickle is ever loaded.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from hidcap.config_io import config_from_dict, config_to_dict
from hidcap.data.concepts import CONCEPTS
from hidcap.data.graph import all_classes
from hidcap.progress import progress_bar
from hidcap.rng import torch_generator

__all__ = [
    "KINDS",
    "MIN_PROBE_ACCURACY",
    "ConceptProbe",
    "ProbeConfig",
    "load_probe",
    "require_accurate",
    "train_probe",
]

KINDS = ("conv", "linear")
#: Held-out accuracy every concept of a probe needs before measurement code uses it.
MIN_PROBE_ACCURACY = 0.99
_FORMAT = "hidcap.probe/1"


@dataclass(frozen=True)
class ProbeConfig:
    """Architecture of a concept probe.

    kind: ``"conv"`` or ``"linear"``; concepts: concept names, one output (logit of value 1) each, in
    this order; channels / image_size: the images it reads; width: channels of the first conv block
    (``"conv"`` only).
    """

    concepts: tuple[str, ...]
    kind: str = "conv"
    channels: int = 3
    image_size: int = 32
    width: int = 16

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if not self.concepts:
            raise ValueError("concepts must name at least one concept")
        unknown = [c for c in self.concepts if c not in CONCEPTS]
        if unknown:
            raise ValueError(f"concepts: unknown concept(s) {unknown}; known concepts are {CONCEPTS}")
        if len(set(self.concepts)) != len(self.concepts):
            raise ValueError(f"concepts must not repeat, got {self.concepts}")
        if self.channels < 1 or self.image_size < 4 or self.width < 1:
            raise ValueError(
                f"channels >= 1, image_size >= 4 and width >= 1 required, got {self.channels}, "
                f"{self.image_size}, {self.width}"
            )


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.GroupNorm(min(8, cout), cout), nn.GELU())


class ConceptProbe(nn.Module):
    """Per-concept binary classifier. ``forward(images (N, C, H, W) in [0, 1]) -> logits (N, n_concepts)``.

    ``heldout_accuracy`` (concept -> fraction correct on held-out generator data) is set by
    :func:`train_probe` and saved with the probe; an untrained probe has an empty dict.
    """

    def __init__(self, config: ProbeConfig):
        super().__init__()
        self.config = config
        self.heldout_accuracy: dict[str, float] = {}
        n = len(config.concepts)
        if config.kind == "conv":
            w = config.width
            self.net = nn.Sequential(
                _block(config.channels, w, 1),
                _block(w, 2 * w, 2),
                _block(2 * w, 2 * w, 2),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
                nn.Linear(2 * w, n),
            )
        else:
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(config.channels * config.image_size**2, n))

    @property
    def concepts(self) -> tuple[str, ...]:
        return self.config.concepts

    def _check_images(self, images: Tensor) -> None:
        c, s = self.config.channels, self.config.image_size
        if not isinstance(images, Tensor) or images.ndim != 4 or tuple(images.shape[1:]) != (c, s, s):
            shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise ValueError(f"images must be (N, {c}, {s}, {s}) in [0, 1] for this probe, got {shape}")

    def forward(self, images: Tensor) -> Tensor:
        self._check_images(images)
        p = next(self.parameters())
        return self.net(images.to(device=p.device, dtype=p.dtype) - 0.5)

    @torch.no_grad()
    def probabilities(self, images: Tensor, batch_size: int = 1024) -> Tensor:
        """(N, n_concepts) probability of value 1 of each concept, columns in ``self.concepts`` order."""
        self._check_images(images)
        was_training = self.training
        self.eval()
        try:
            out = [torch.sigmoid(self(images[i : i + batch_size])) for i in range(0, images.shape[0], batch_size)]
        finally:
            self.train(was_training)
        p = next(self.parameters())
        return torch.cat(out) if out else torch.zeros(0, len(self.concepts), device=p.device)

    def predict_proba(self, images: Tensor, batch_size: int = 1024) -> dict[str, Tensor]:
        """concept -> (N,) probability that the concept has value 1 (images (N, C, H, W) in [0, 1])."""
        probs = self.probabilities(images, batch_size)
        return {c: probs[:, j] for j, c in enumerate(self.concepts)}

    def accuracy(self, images: Tensor, labels: dict[str, Tensor]) -> dict[str, float]:
        """concept -> fraction of ``images`` whose thresholded prediction equals ``labels[concept]`` (N,)."""
        missing = [c for c in self.concepts if c not in labels]
        if missing:
            raise KeyError(f"labels lack concept(s) {missing} that this probe predicts")
        probs = self.probabilities(images)
        return {
            c: float(((probs[:, j] > 0.5).long().cpu() == labels[c].long().cpu()).float().mean())
            for j, c in enumerate(self.concepts)
        }

    def save(self, directory: str | Path) -> Path:
        """Write ``probe.safetensors`` and ``probe.json`` into ``directory`` (created); returns it."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(directory / "probe.safetensors"))
        meta = {"format": _FORMAT, "config": config_to_dict(self.config), "heldout_accuracy": self.heldout_accuracy}
        (directory / "probe.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return directory

    def extra_repr(self) -> str:
        return f"kind={self.config.kind!r}, concepts={self.concepts}, heldout_accuracy={self.heldout_accuracy}"


def load_probe(directory: str | Path, device: str | torch.device = "cpu") -> ConceptProbe:
    """Load a probe written by :meth:`ConceptProbe.save` (safetensors + JSON; no pickle)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    meta_path, weights_path = directory / "probe.json", directory / "probe.safetensors"
    if not meta_path.is_file() or not weights_path.is_file():
        raise FileNotFoundError(f"{directory} does not hold probe.json and probe.safetensors")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != _FORMAT:
        raise ValueError(f"{meta_path}: unknown probe format {meta.get('format')!r}, expected {_FORMAT!r}")
    probe = ConceptProbe(config_from_dict(ProbeConfig, meta["config"]))
    probe.load_state_dict(load_file(str(weights_path)))
    probe.heldout_accuracy = {k: float(v) for k, v in meta.get("heldout_accuracy", {}).items()}
    return probe.to(device).eval()


def require_accurate(probe: ConceptProbe, concepts: tuple[str, ...] | None = None, min_accuracy: float = MIN_PROBE_ACCURACY) -> None:
    """Raise ``ValueError`` unless ``probe`` reached ``min_accuracy`` held-out accuracy on every concept
    of ``concepts`` (default: all of its concepts); ``KeyError`` if it lacks one of them."""
    concepts = probe.concepts if concepts is None else tuple(concepts)
    missing = [c for c in concepts if c not in probe.concepts]
    if missing:
        raise KeyError(f"probe has no head for concept(s) {missing}; it predicts {probe.concepts}")
    if not probe.heldout_accuracy:
        raise ValueError("probe has no held-out accuracy (untrained?); train it with train_probe")
    low = {c: probe.heldout_accuracy.get(c, 0.0) for c in concepts if probe.heldout_accuracy.get(c, 0.0) < min_accuracy}
    if low:
        raise ValueError(
            f"probe held-out accuracy below {min_accuracy} for {low}; train it longer or on more data "
            "(or pass allow_inaccurate_probe=True to use it anyway)"
        )


def train_probe(
    spec: Any,
    *,
    kind: str = "conv",
    width: int = 16,
    images_per_class: int = 512,
    heldout_per_class: int = 256,
    steps: int = 500,
    batch_size: int = 128,
    lr: float | None = None,
    seed: int | torch.Generator = 0,
    device: str | torch.device = "cpu",
    progress: bool | None = None,
) -> ConceptProbe:
    """Train a probe for ``spec.concepts`` on generator data of all 2**n classes; report held-out accuracy.

    spec: a :class:`~hidcap.data.concepts.ConceptDataSpec` (its separations, shapes and image size are
    used; its class split is not: every class is drawn, ``images_per_class`` each for training and a
    fresh ``heldout_per_class`` each for ``probe.heldout_accuracy``). Adam, ``steps`` minibatch updates
    of ``batch_size`` images; ``lr`` defaults to 3e-3 (conv) / 1e-2 (linear). Deterministic for a seed.
    Returns the probe in eval mode.
    """
    if steps < 1 or batch_size < 1 or images_per_class < 1 or heldout_per_class < 1:
        raise ValueError(
            "steps, batch_size, images_per_class and heldout_per_class must be >= 1, got "
            f"{steps}, {batch_size}, {images_per_class}, {heldout_per_class}"
        )
    gen = torch_generator(seed, device)
    classes = all_classes(len(spec.concepts))
    train = spec.sample(classes, images_per_class, gen, device=device)
    held = spec.sample(classes, heldout_per_class, gen, device=device)
    config = ProbeConfig(
        concepts=tuple(spec.concepts), kind=kind, channels=spec.channels, image_size=spec.image_size, width=width
    )
    init_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen, device=device))
    with torch.random.fork_rng(devices=[]):  # seeded weight init without touching the global RNG
        torch.manual_seed(init_seed)
        probe = ConceptProbe(config)
    probe = probe.to(device)
    targets = torch.stack([train.labels[c] for c in config.concepts], dim=1).float()
    opt = torch.optim.Adam(probe.parameters(), lr=lr if lr is not None else (3e-3 if kind == "conv" else 1e-2))
    n = len(train)
    probe.train()
    order = torch.randperm(n, generator=gen, device=device)
    pos = 0
    for _ in progress_bar(range(steps), progress=progress, desc="probe"):
        if pos + batch_size > n:
            order, pos = torch.randperm(n, generator=gen, device=device), 0
        idx = order[pos : pos + batch_size]
        pos += batch_size
        loss = nn.functional.binary_cross_entropy_with_logits(probe(train.images[idx]), targets[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    probe.eval()
    probe.heldout_accuracy = probe.accuracy(held.images, held.labels)
    return probe
