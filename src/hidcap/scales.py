"""The registry of experiment scales: plain data, like nanoGPT's presets.

``CONCEPT_SCALES`` (concept-space runs of Park et al. 2024 and Okawa et al. 2023), ``BUMP_SCALES`` (Gaussian-bump
models of Liang et al. 2024) and ``TORUS_SCALES`` (the Clifford-torus measurement of Liang et al. 2024, Fig. 2, 3
and 8, shared by ``examples/clifford_torus.py`` and ``probes/torus_geometry.py``) map a scale name to a frozen
dataclass. The probes and examples reference these entries (``replace(...)`` for their own variants) instead of
copying numbers. Sizes: ``tiny`` (seconds; the test suite's, results mean nothing), ``quick`` (CPU, minutes),
``full`` (the papers' sizes, for a GPU).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from hidcap.config_io import config_to_dict
from hidcap.data import BumpDataSpec, ConcatSpec, ConceptDataSpec, frame_grid
from hidcap.diffusion import DDPMConfig, ParkVDMConfig, VDMConfig
from hidcap.models import CUNetConfig, UNetConfig, presets
from hidcap.run_config import CheckpointConfig, OptimConfig, TrainConfig

__all__ = [
    "SCHEDULES", "Schedule", "BUMP_SCALES", "CONCEPT_SCALES", "LAYER", "SCALES", "TORUS_SCALES", "BumpScale", "ConceptScale", "TorusScale",
    "bump_scale", "concept_scale", "torus_scale",
]

SCALES = ("tiny", "quick", "full")

#: The module whose output is "the representation" of a bump model (our reading of Liang et al. 2024's
#: "layer 4": the first decoder block after its upsampling, not the bottleneck).
LAYER = "ups.0.resample"


# ------------------------------------------------------------------------------------------ schedules
@dataclass(frozen=True)
class Schedule:
    """How a run is trained: optimiser, batch size, steps and checkpoint schedule. Each number lives here once;
    the run presets (:mod:`hidcap.run_presets`) and the scales below reference these entries."""

    optimizer: OptimConfig
    batch_size: int
    steps: int
    checkpoints: CheckpointConfig

    def fields(self) -> dict[str, Any]:
        """The schedule as TrainConfig fields, nested as ``config.json`` holds them."""
        return {"optimizer": config_to_dict(self.optimizer), "batch_size": self.batch_size, "steps": self.steps,
                "checkpoints": config_to_dict(self.checkpoints)}


SCHEDULES: dict[str, Schedule] = {
    # Park et al. 2024 as their code runs it (docs/models.md): AdamW lr 1e-3, wd 0.01, grad clip 0.01, batch 64,
    # 20k steps, 60 quadratic checkpoints
    "park-2024": Schedule(OptimConfig(lr=1e-3, weight_decay=0.01, grad_clip=0.01), 64, 20000,
                          CheckpointConfig(count=60)),
    # the same on hidcap's own U-Net and VDM: grad clip 1.0 (the default)
    "park-2024-hidcap": Schedule(OptimConfig(lr=1e-3, weight_decay=0.01), 64, 20000, CheckpointConfig(count=60)),
    # Okawa et al. 2023 as their code runs it (docs/models.md): Adam lr 1e-4 (AdamW, no weight decay), no grad
    # clip, batch 64, 7800 steps (100 epochs of 5000 images)
    "okawa-2023": Schedule(OptimConfig(lr=1e-4, weight_decay=0.0, grad_clip=None), 64, 7800,
                           CheckpointConfig(count=50)),
    # Okawa et al. 2023 as its appendix A states it (the multiplicative_emergence probe's full scale): Adam
    # betas (0.9, 0.99), lr 1e-3, wd 1e-5, batch 64, 10k steps, 50 linear checkpoints
    "okawa-2023-appendix": Schedule(OptimConfig(lr=1e-3, weight_decay=1e-5, betas=(0.9, 0.99)), 64, 10000,
                                    CheckpointConfig(count=50, spacing="linear")),
    # Liang et al. 2024, App. A: AdamW lr 3e-4, batch 128, 50k steps
    "liang-2024": Schedule(OptimConfig(lr=3e-4, weight_decay=0.0), 128, 50000, CheckpointConfig(count=40)),
    # the CLI's small presets: 200 steps (smoke: checks the code path, learns nothing), 400 steps at lr 3e-3
    # (tiny: learns the training classes in about a minute of CPU)
    "smoke": Schedule(OptimConfig(), 32, 200, CheckpointConfig(count=5)),
    "tiny": Schedule(OptimConfig(lr=3e-3), 32, 400, CheckpointConfig(count=5)),
}


# ------------------------------------------------------------------------------------------ concept space
@dataclass(frozen=True)
class ConceptScale:
    """How big a concept-space experiment is at one scale.

    model / diffusion / optimizer / batch_size / steps / checkpoints: the training run; image_size and
    images_per_class: the data; sample_steps and samples_per_class: generation per class and checkpoint;
    probe: keyword arguments of :func:`hidcap.evaluation.train_probe`; strict_probe: refuse a probe under
    99 % held-out accuracy (off only for ``tiny``, whose probe is trained for a few steps).
    """

    name: str
    model: UNetConfig | CUNetConfig
    diffusion: DDPMConfig | VDMConfig | ParkVDMConfig
    optimizer: OptimConfig
    batch_size: int
    steps: int
    checkpoints: CheckpointConfig
    image_size: int
    images_per_class: int
    sample_steps: int
    samples_per_class: int
    probe: dict[str, Any]
    strict_probe: bool = True

    def spec(self, **fields: Any) -> ConceptDataSpec:
        """A :class:`ConceptDataSpec` at this scale's image size and count, with ``fields`` overridden."""
        return ConceptDataSpec(**{"image_size": self.image_size, "images_per_class": self.images_per_class, **fields})

    def train_config(self, spec: ConceptDataSpec, seed: int, device: str, **overrides: Any) -> TrainConfig:
        """The run of ``spec`` at this scale (``overrides``: any TrainConfig field, e.g. ``steps``)."""
        if spec.image_size != self.model.image_size:
            raise ValueError(f"spec.image_size={spec.image_size} does not fit the {self.name} model "
                             f"({self.model.image_size} px)")
        cfg = TrainConfig(model=self.model, diffusion=self.diffusion, data=spec, optimizer=self.optimizer,
                          checkpoints=self.checkpoints, batch_size=self.batch_size, steps=self.steps,
                          seed=seed, device=device, log_every=max(1, min(50, self.steps // 10)))
        return replace(cfg, **overrides)


CONCEPT_SCALES: dict[str, ConceptScale] = {
    "tiny": ConceptScale(
        "tiny", presets.tiny(time_scale=1.0, image_size=8, channels=(8, 8)), DDPMConfig.scaled(20),
        OptimConfig(lr=3e-3), batch_size=16, steps=12, checkpoints=CheckpointConfig(count=3),
        image_size=8, images_per_class=16, sample_steps=3, samples_per_class=4,
        probe={"steps": 5, "batch_size": 16, "images_per_class": 16, "heldout_per_class": 8, "width": 4},
        strict_probe=False,
    ),
    # the tiny run preset: a 16x16 DDPM (T=100) that learns the training classes in minutes
    "quick": ConceptScale(
        "quick", presets.tiny(time_scale=1.0), DDPMConfig.scaled(100), OptimConfig(lr=3e-3),
        batch_size=32, steps=1200, checkpoints=CheckpointConfig(count=12), image_size=16,
        images_per_class=256, sample_steps=25, samples_per_class=32,
        probe={"steps": 200, "batch_size": 64, "images_per_class": 256, "heldout_per_class": 128, "width": 8},
    ),
    # the concept-space probes' CPU scale (measured to learn the held-out class 11 within a few CPU minutes):
    # 8 x 8 images, channels (16, 32), DDPM T = 100 with beta 1e-3 -> 0.1 (the 16 px "quick" model's beta 1e-3 -> 0.2
    # leaves off-colour blobs), AdamW lr 2e-3, 2,400 steps at batch 32, 16 linear checkpoints
    "quick-8px": ConceptScale(
        "quick-8px", presets.tiny(time_scale=1.0, image_size=8, channels=(16, 32)),
        DDPMConfig(timesteps=100, beta_start=1e-3, beta_end=0.1), OptimConfig(lr=2e-3),
        batch_size=32, steps=2400, checkpoints=CheckpointConfig(count=16, spacing="linear"), image_size=8,
        images_per_class=256, sample_steps=20, samples_per_class=32,
        probe={"steps": 400, "batch_size": 64, "images_per_class": 256, "heldout_per_class": 128, "width": 8},
    ),
    # Park et al. 2024, App. B: VDM, channels (64, 128, 256), 20k steps at batch 64, ~60 quadratic checkpoints
    "full": ConceptScale(
        "full", presets.hidden_capabilities(), VDMConfig(), SCHEDULES["park-2024-hidcap"].optimizer,
        batch_size=SCHEDULES["park-2024-hidcap"].batch_size, steps=SCHEDULES["park-2024-hidcap"].steps,
        checkpoints=SCHEDULES["park-2024-hidcap"].checkpoints, image_size=32,
        images_per_class=2048, sample_steps=50, samples_per_class=64,
        probe={"steps": 1500, "batch_size": 128, "images_per_class": 1024, "heldout_per_class": 256, "width": 16},
    ),
    # benchmarks/device_sprint.py: the faithful model of Park et al. 2024 as their code runs it (the
    # "hidden-capabilities" run preset: CUNet + their VDM, AdamW lr 1e-3, wd 0.01, grad clip 0.01, batch 64) at
    # 32 px, measured like "full", with 12 linear checkpoints (+ step 0); the sprint sets ``steps`` to what its
    # training budget allows on the device
    "cunet-sprint": ConceptScale(
        "cunet-sprint", presets.cunet(), ParkVDMConfig(), OptimConfig(lr=1e-3, weight_decay=0.01, grad_clip=0.01),
        batch_size=64, steps=6000, checkpoints=CheckpointConfig(count=12, spacing="linear"), image_size=32,
        images_per_class=2048, sample_steps=50, samples_per_class=64,
        probe={"steps": 1500, "batch_size": 128, "images_per_class": 1024, "heldout_per_class": 256, "width": 16},
    ),
    # device_sprint.py --smoke: the same code path on the CPU in seconds (a tiny CUNet at 8 px)
    "cunet-tiny": ConceptScale(
        "cunet-tiny", presets.tiny_cunet(image_size=8), ParkVDMConfig(),
        OptimConfig(lr=1e-3, weight_decay=0.01, grad_clip=0.01), batch_size=16, steps=12,
        checkpoints=CheckpointConfig(count=2, spacing="linear"), image_size=8, images_per_class=16, sample_steps=3,
        samples_per_class=4,
        probe={"steps": 5, "batch_size": 16, "images_per_class": 16, "heldout_per_class": 8, "width": 4},
        strict_probe=False,
    ),
}


# hidden_capabilities --quick: the concept-space probes' 8 px scale trained for 1,500 steps with 12 linear
# checkpoints. The shared 16 px quick scale still draws off-colour blobs after 1,200 steps on this data (its
# ε-prediction is not precise enough at the highest noise levels, ᾱ_T ≈ 5e-5, to place the light background);
# measured on one seed at colour separation 0.4: with 8 x 8 images, channels (16, 32), β 1e-3 -> 0.1 (ᾱ_T ≈ 6e-3)
# and lr 2e-3 the training classes are right by ~1000 steps and class 11 by ~1500.
CONCEPT_SCALES["hidden-capabilities-quick"] = replace(
    CONCEPT_SCALES["quick-8px"], name="hidden-capabilities-quick", steps=1500,
    checkpoints=CheckpointConfig(count=12, spacing="linear"), sample_steps=25)

# multiplicative_emergence (Okawa et al. 2023's concept cube): linear probe checkpoints at every scale
_LINEAR_PROBE = {"kind": "linear"}
CONCEPT_SCALES["emergence-tiny"] = replace(
    CONCEPT_SCALES["tiny"], name="emergence-tiny", checkpoints=CheckpointConfig(count=3, spacing="linear"),
    probe={**CONCEPT_SCALES["tiny"].probe, **_LINEAR_PROBE})
# 12 x 12 images, channels (16, 32), DDPM β 1e-3 -> 0.1 (as hidden-capabilities-quick), 6,000 steps. Measured (seed
# 0, one trial run each): at 8 px the blue triangle (110) and 111 were never learned in 8,000 steps; at 16 px with β
# up to 0.1, 111 reached only 0.38 by 4,000 steps; at 12 px every distance-1 class was learned by ~4,000 steps and 111
# at ~4,500
CONCEPT_SCALES["emergence-quick"] = replace(
    CONCEPT_SCALES["quick"], name="emergence-quick",
    model=presets.tiny(time_scale=1.0, image_size=12, channels=(16, 32), groups=8), image_size=12,
    diffusion=DDPMConfig(timesteps=100, beta_start=1e-3, beta_end=0.1), optimizer=OptimConfig(lr=2e-3),
    steps=6000, checkpoints=CheckpointConfig(count=20, spacing="linear"), images_per_class=256,
    sample_steps=20, samples_per_class=24,
    probe={"steps": 300, "batch_size": 64, "images_per_class": 256, "heldout_per_class": 128, **_LINEAR_PROBE})
# Okawa et al. 2023, appendix A: 28 px, 5000 images, DDPM T = 500 with β 1e-4 -> 0.02, SCHEDULES["okawa-2023-appendix"]
CONCEPT_SCALES["emergence-full"] = replace(
    CONCEPT_SCALES["full"], name="emergence-full", model=presets.hidden_capabilities(image_size=28, time_scale=1.0),
    diffusion=DDPMConfig(timesteps=500, beta_start=1e-4, beta_end=0.02),
    optimizer=SCHEDULES["okawa-2023-appendix"].optimizer, batch_size=SCHEDULES["okawa-2023-appendix"].batch_size,
    steps=SCHEDULES["okawa-2023-appendix"].steps, checkpoints=SCHEDULES["okawa-2023-appendix"].checkpoints,
    image_size=28, images_per_class=1250, sample_steps=100, samples_per_class=50,
    probe={"steps": 1500, "batch_size": 128, "images_per_class": 1024, "heldout_per_class": 256, **_LINEAR_PROBE})

# ------------------------------------------------------------------------------------------ Gaussian bumps
@dataclass(frozen=True)
class BumpScale:
    """Model, diffusion and optimiser of a bump experiment at one scale, plus how to sample from it.

    image_size: N of the model; steps / batch_size / checkpoints: the default run (probes override them);
    sample_steps: ancestral sampler steps (an evenly spaced subsequence of the T training steps);
    sample_batch: labels sampled at once (bounds memory at full scale).
    """

    name: str
    model: UNetConfig
    diffusion: DDPMConfig
    optimizer: OptimConfig
    batch_size: int
    steps: int
    checkpoints: CheckpointConfig
    image_size: int
    sample_steps: int
    sample_batch: int = 1024
    layer: str = LAYER

    def train_config(self, spec: BumpDataSpec | ConcatSpec | None, seed: int, device: str, **overrides: Any) -> TrainConfig:
        """The run of ``spec`` (None: the data is passed to :func:`train_run`) with ``overrides`` of any
        TrainConfig field (e.g. ``steps``, ``checkpoints``)."""
        if spec is not None and spec.image_size != self.image_size:
            raise ValueError(f"spec.image_size={spec.image_size} does not fit the {self.name} model "
                             f"({self.image_size} px)")
        steps = overrides.get("steps", self.steps)
        cfg = TrainConfig(model=self.model, diffusion=self.diffusion, data=spec, optimizer=self.optimizer,
                          checkpoints=self.checkpoints, batch_size=self.batch_size, steps=self.steps, seed=seed,
                          device=device, log_every=max(1, min(100, steps // 20)))
        return replace(cfg, **overrides)


BUMP_SCALES: dict[str, BumpScale] = {
    "tiny": BumpScale(
        "tiny", presets.tiny_bumps(image_size=8, channels=(8, 16), attention_resolutions=()),
        DDPMConfig.scaled(20), OptimConfig(lr=3e-3, weight_decay=0.0), batch_size=16, steps=20,
        checkpoints=CheckpointConfig(count=2), image_size=8, sample_steps=4, sample_batch=64,
    ),
    # learns 16x16 periodic bumps to ~0.97 accuracy in 2000 steps (examples/clifford_torus.py's default)
    "quick": BumpScale(
        "quick", presets.tiny_bumps(channels=(16, 32, 32), time_dim=32, cond_pe_dim=32, groups=8),
        DDPMConfig.scaled(200), OptimConfig(lr=2e-3, weight_decay=0.0), batch_size=64, steps=2000,
        checkpoints=CheckpointConfig(count=6), image_size=16, sample_steps=50, sample_batch=1024,
    ),
    # Liang et al. 2024: the DDPM U-Net of App. Fig. 7 on 32x32 images, T = 1000, AdamW
    "full": BumpScale(
        "full", presets.gaussian_bumps(), DDPMConfig(timesteps=1000), SCHEDULES["liang-2024"].optimizer,
        batch_size=SCHEDULES["liang-2024"].batch_size, steps=SCHEDULES["liang-2024"].steps,
        checkpoints=SCHEDULES["liang-2024"].checkpoints, image_size=32,
        sample_steps=1000, sample_batch=1024,
    ),
}


# ------------------------------------------------------------------------------------------ Clifford torus
@dataclass(frozen=True)
class TorusScale:
    """A torus-geometry run and its measurement (see :func:`hidcap.experiments.torus_measurement.measure_torus`).

    bumps: model, diffusion and optimiser; data: the periodic bump data; steps / checkpoints / batch_size /
    optimizer / log_every: the run (None: the bump scale's); sample_steps: sampler steps; measure_every: measure
    every k-th checkpoint (the last always); landmarks: greedy landmarks for persistent homology (None: every
    measured point); maxdim: highest homology dimension; grid_step: spacing of the measured (x, y) lattice in
    pixels (1: one sample per integer (x, y) of the N x N frame); coarse_grid_step: the lattice spacing at every
    measured checkpoint but the last, which alone feeds persistent homology and the torus tests (None:
    ``grid_step`` everywhere).
    """

    name: str
    bumps: BumpScale
    data: BumpDataSpec
    steps: int
    checkpoints: CheckpointConfig
    sample_steps: int
    measure_every: int
    landmarks: int | None
    maxdim: int = 2
    batch_size: int | None = None
    optimizer: OptimConfig | None = None
    log_every: int | None = None
    grid_step: float = 1.0
    coarse_grid_step: float | None = None

    def train_config(self, seed: int, device: str) -> TrainConfig:
        """The run of this scale with ``seed`` on ``device``."""
        extra: dict[str, Any] = {}
        if self.optimizer is not None:
            extra["optimizer"] = self.optimizer
        if self.log_every is not None:
            extra["log_every"] = self.log_every
        return self.bumps.train_config(self.data, seed, device, steps=self.steps, checkpoints=self.checkpoints,
                                       batch_size=self.batch_size or self.bumps.batch_size, **extra)

    def labels(self) -> np.ndarray:
        """The measured (x, y) centres ``(K, 2)``: the frame's lattice with spacing ``grid_step`` (x slowest)."""
        return frame_grid(self.data.image_size, self.grid_step)

    def coarse_labels(self) -> np.ndarray | None:
        """The centres ``(K', 2)`` measured before the last checkpoint (None: :meth:`labels`)."""
        if self.coarse_grid_step is None:
            return None
        return frame_grid(self.data.image_size, self.coarse_grid_step)


TORUS_SCALES: dict[str, TorusScale] = {
    "tiny": TorusScale("tiny", BUMP_SCALES["tiny"], BumpDataSpec(image_size=8, increment=1.0, periodic=True),
                       steps=20, checkpoints=CheckpointConfig(count=3), sample_steps=4, measure_every=1,
                       landmarks=None),
    # probes/torus_geometry.py --quick: measured like "example-cpu" (the whole 32 x 32 training lattice, 300
    # landmarks, the 50-step sampler), at five checkpoints dense early (the participation ratio collapses and peaks
    # within the first few hundred steps: peak at step 211 in the earlier 1500-step quick run) so that "rises then
    # falls" can be judged; no step 0. About 9 CPU minutes per seed (train ~220 s, ~60 s per measured checkpoint).
    # Batch 32 at this scale learned clearly less (0.50 accuracy after 1500 steps instead of 0.88).
    "quick": TorusScale("quick", BUMP_SCALES["quick"], BumpDataSpec(image_size=16, increment=0.5, periodic=True),
                        steps=1500, checkpoints=CheckpointConfig(steps=(50, 200, 500, 1000)), sample_steps=50,
                        measure_every=1, landmarks=300, log_every=50, grid_step=0.5),
    "full": TorusScale("full", BUMP_SCALES["full"], BumpDataSpec(image_size=32, increment=0.1, periodic=True),
                       steps=BUMP_SCALES["full"].steps, checkpoints=BUMP_SCALES["full"].checkpoints,
                       sample_steps=1000, measure_every=4,
                       landmarks=400),
    # examples/clifford_torus.py --tiny: one checkpoint, H0 and H1 only, the default optimiser; step 0 measured on
    # the 2 px lattice (the coarse path of the CPU default)
    "example-tiny": TorusScale("example-tiny", BUMP_SCALES["tiny"],
                               BumpDataSpec(image_size=8, increment=1.0, periodic=True), steps=20,
                               checkpoints=CheckpointConfig(count=1), sample_steps=4, measure_every=1,
                               landmarks=None, maxdim=1, optimizer=OptimConfig(), log_every=10,
                               coarse_grid_step=2.0),
    # examples/clifford_torus.py's CPU default (`make demo`): 1500 steps (the quick probe's run length: Betti
    # (1, 2, 1) in 3 of 3 seeds there; 2000 steps cost a third more for accuracy 0.99 instead of ~0.93), 6
    # checkpoints, the full 50-step sampler. The last checkpoint is measured on the whole 32 x 32 training lattice
    # (step 0.5 px, 1,024 points) with 300 landmarks, since a coarser grid hides the torus's loops
    # (docs/geometry.md, "Why a coarse grid hides the loops"); every second checkpoint before it only for
    # accuracy and participation ratio, on the 16 x 16 integer lattice (256 points: a quarter of the sampling)
    "example-cpu": TorusScale("example-cpu", BUMP_SCALES["quick"],
                              BumpDataSpec(image_size=16, increment=0.5, periodic=True), steps=1500,
                              checkpoints=CheckpointConfig(count=6), sample_steps=50, measure_every=2,
                              landmarks=300, log_every=50, grid_step=0.5, coarse_grid_step=1.0),
}


def _lookup(registry: dict[str, Any], name: str, what: str) -> Any:
    try:
        return registry[name]
    except KeyError:
        raise ValueError(f"unknown scale {name!r}; use one of {tuple(registry)} ({what} scales)") from None


def concept_scale(name: str) -> ConceptScale:
    """``CONCEPT_SCALES[name]`` (unknown name -> ``ValueError``)."""
    return _lookup(CONCEPT_SCALES, name, "concept")


def bump_scale(name: str) -> BumpScale:
    """``BUMP_SCALES[name]`` (unknown name -> ``ValueError``)."""
    return _lookup(BUMP_SCALES, name, "bump")


def torus_scale(name: str) -> TorusScale:
    """``TORUS_SCALES[name]`` (unknown name -> ``ValueError``)."""
    return _lookup(TORUS_SCALES, name, "torus")
