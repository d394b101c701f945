"""Probes: one claim of a paper each, with a criterion written before the run, run as ``python -m probes.NAME``.

Each module holds only its claim, criterion, scales and ``main``; the machinery (scales registry, recording,
measurements, figures, caching, verdicts, command line) lives in :mod:`hidcap.experiments`. See docs/probes.md.
"""
