"""Experiments: the machinery between the measurement functions and a probe or example.

- :mod:`~hidcap.experiments.scales`: the registry of experiment scales (plain data);
- :mod:`~hidcap.experiments.recording`: sample one image per label at a checkpoint while a layer is recorded;
- :mod:`~hidcap.experiments.training`: a probe's runs through the sweep machinery (:func:`train_all`), one
  run on several bump data sets;
- :mod:`~hidcap.experiments.concepts`: the cached concept classifier and concept-space table of a run;
- :mod:`~hidcap.experiments.torus`: the Clifford-torus measurement and its figures;
- :mod:`~hidcap.experiments.cache`: :func:`cached`, the one "compute once, reuse while the key matches";
- :mod:`~hidcap.experiments.verdicts`: combining verdicts and writing ``verdict.json``;
- :mod:`~hidcap.experiments.cli`: the probes' shared command line.

Names are imported lazily on first access.
"""
from __future__ import annotations

from hidcap.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "cached": "hidcap.experiments.cache",
    "ProbeArgs": "hidcap.experiments.cli",
    "parse_args": "hidcap.experiments.cli",
    "concept_probe": "hidcap.experiments.concepts",
    "measured_concept_space": "hidcap.experiments.concepts",
    "frame_grid": "hidcap.experiments.recording",
    "measured_steps": "hidcap.experiments.recording",
    "record_samples": "hidcap.experiments.recording",
    "BUMP_SCALES": "hidcap.experiments.scales",
    "CONCEPT_SCALES": "hidcap.experiments.scales",
    "TORUS_SCALES": "hidcap.experiments.scales",
    "BumpScale": "hidcap.experiments.scales",
    "ConceptScale": "hidcap.experiments.scales",
    "TorusScale": "hidcap.experiments.scales",
    "bump_scale": "hidcap.experiments.scales",
    "concept_scale": "hidcap.experiments.scales",
    "torus_scale": "hidcap.experiments.scales",
    "TorusMeasurement": "hidcap.experiments.torus",
    "measure_torus": "hidcap.experiments.torus",
    "measure_torus_scale": "hidcap.experiments.torus",
    "torus_figures": "hidcap.experiments.torus",
    "build_data": "hidcap.experiments.training",
    "train_all": "hidcap.experiments.training",
    "train_run": "hidcap.experiments.training",
    "combine_verdicts": "hidcap.experiments.verdicts",
    "write_verdict": "hidcap.experiments.verdicts",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
