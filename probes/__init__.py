"""Probes: one claim of a paper each, with a criterion written before the run, run as ``python -m probes.NAME``.

Each module holds its claim, criterion, scales, ``measure`` and ``decide`` (one ``ClaimProbe``); the driver and the
machinery live in :mod:`hidcap.experiments` (``claims``, ``probe_args``, ...). See docs/probes.md, "Probe structure".
"""
