"""Concept-space experiments: the cached concept classifier of a data spec, and a cached concept-space table of
a run (Park et al. 2024, Sec. 4; Okawa et al. 2023, Fig. 5)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hidcap.config_io import config_to_dict
from hidcap.data import ConceptDataSpec
from hidcap.evaluation.classifiers import ConceptProbe, load_probe, train_probe
from hidcap.evaluation.concept_scores import ConceptSpace, concept_space
from hidcap.experiments.cache import cached
from hidcap.scales import ConceptScale
from hidcap.runs import CheckpointSeries

__all__ = ["concept_probe", "measured_concept_space", "probe_key"]


def concept_probe(spec: ConceptDataSpec, scale: ConceptScale, folder: Path, device: str, seed: int = 0,
                  progress: bool | None = None) -> ConceptProbe:
    """The concept classifier for ``spec``'s concepts, trained with ``scale.probe`` once and cached in ``folder``.

    A cached probe is reused only when everything it depends on matches (:func:`probe_key`: the spec's concepts,
    separations, shapes, image size, position range, blur and noise, the training settings and the seed);
    otherwise it is retrained and the cache replaced.
    """
    return cached(folder, probe_key(spec, scale.probe, seed),
                  compute=lambda: train_probe(spec, seed=seed, device=device, progress=progress, **scale.probe),
                  save=lambda probe, f: probe.save(f), load=lambda f: load_probe(f, device), name="spec.json")


def probe_key(spec: ConceptDataSpec, settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """Everything a trained probe depends on, as JSON-able values."""
    data = {"concepts": list(spec.concepts), "color": spec.color_separation, "size": spec.size_separation,
            "background": spec.background_separation, "shapes": list(spec.shapes), "image_size": spec.image_size,
            "position_range": spec.position_range, "blur_px": spec.blur_px, "noise_std": spec.noise_std}
    return {"data": data, "settings": dict(settings), "seed": seed}


def measured_concept_space(series: CheckpointSeries, spec: ConceptDataSpec, probe: ConceptProbe, scale: ConceptScale,
                           seed: int, folder: Path, *, name: str = "concept_space", classes: Sequence[str] | None = None,
                           progress: bool | None = None) -> ConceptSpace:
    """:func:`~hidcap.evaluation.concept_scores` of ``series`` at every checkpoint (``scale.samples_per_class``
    samples per class with ``scale.sample_steps`` sampler steps), cached as ``folder/{name}.json`` under a key of
    the run's config, its checkpoints, the classes, the sampling settings, the seed and the probe's accuracy."""
    key = {"classes": None if classes is None else list(classes), "samples_per_class": scale.samples_per_class,
           "sample_steps": scale.sample_steps, "seed": seed, "checkpoints": series.steps,
           "config": config_to_dict(series.config), "probe_accuracy": probe.heldout_accuracy}
    extra = {} if classes is None else {"classes": classes}
    return cached(
        folder, key,
        compute=lambda: concept_space(series, spec, probe, samples_per_class=scale.samples_per_class, seed=seed,
                                      allow_inaccurate_probe=not scale.strict_probe, progress=progress,
                                      steps=scale.sample_steps, **extra),
        save=lambda table, f: table.to_json(f / f"{name}.json"),
        load=lambda f: ConceptSpace.from_json(f / f"{name}.json"), name=f"{name}.key.json")
