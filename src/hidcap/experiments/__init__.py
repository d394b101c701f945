"""Experiments: the machinery between the measurement functions and a probe or example.

- :mod:`~hidcap.experiments.recording`: sample one image per label at a checkpoint while a layer is recorded;
- :mod:`~hidcap.experiments.probe_runs`: a probe's runs through the sweep machinery (:func:`train_all`), one
  run on several bump data sets;
- :mod:`~hidcap.experiments.concept_measurement`: the cached concept classifier and concept-space table of a run;
- :mod:`~hidcap.experiments.torus_measurement`: the Clifford-torus measurement and its figures;
- :mod:`~hidcap.experiments.cache`: :func:`cached`, the one "compute once, reuse while the key matches";
- :mod:`~hidcap.experiments.verdicts`: combining verdicts, the verdict's label (``"smoke"`` at ``--tiny``), readable
  JSON;
- :mod:`~hidcap.experiments.claims`: the claim protocol every probe follows (:class:`ClaimProbe`: claim, criterion,
  scales, ``measure`` and ``decide``) and its one driver :func:`run_claim` (``--decide OUT``);
- :mod:`~hidcap.experiments.probe_args`: the probes' shared command line.

Names are imported lazily on first access.
"""
from __future__ import annotations

from hidcap.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "cached": "hidcap.experiments.cache",
    "ProbeArgs": "hidcap.experiments.probe_args",
    "parse_probe_args": "hidcap.experiments.probe_args",
    "parse_sweep_args": "hidcap.experiments.probe_args",
    "concept_probe": "hidcap.experiments.concept_measurement",
    "measured_concept_space": "hidcap.experiments.concept_measurement",
    "measured_steps": "hidcap.experiments.recording",
    "record_samples": "hidcap.experiments.recording",
    "TorusMeasurement": "hidcap.experiments.torus_measurement",
    "measure_torus": "hidcap.experiments.torus_measurement",
    "measure_torus_scale": "hidcap.experiments.torus_measurement",
    "torus_figures": "hidcap.experiments.torus_measurement",
    "build_data": "hidcap.experiments.probe_runs",
    "train_all": "hidcap.experiments.probe_runs",
    "train_run": "hidcap.experiments.probe_runs",
    "combine_verdicts": "hidcap.experiments.verdicts",
    "verdict_label": "hidcap.experiments.verdicts",
    "write_json": "hidcap.experiments.verdicts",
    "ClaimProbe": "hidcap.experiments.claims",
    "Measurements": "hidcap.experiments.claims",
    "Verdict": "hidcap.experiments.claims",
    "run_claim": "hidcap.experiments.claims",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
