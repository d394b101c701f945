"""The command line every probe shares.

A probe runs as ``python -m probes.NAME [--tiny | --quick] [--seeds 0 1 2] [--device cuda] [--out DIR]
[--executor local|ray] [--workers N] [--address HOST:PORT]``:

- full (the default): the paper's scale; meant for a GPU (``--device cuda``);
- ``--quick``: small models on the CPU, minutes; what docs/results.md records when no GPU was lent;
- ``--tiny``: seconds; exercises every code path for the test suite (its verdict is "smoke": neither pass nor fail);
- ``--decide OUT``: no training or measuring; the verdict is recomputed from ``OUT/measurements.json``.

Figures (PNG) and ``verdict.json`` go into ``--out`` (default ``out/probes/NAME/SCALE``); training runs live under
``--out/runs`` and are reused when the probe is run again with the same ``--out``. The runs are trained through
:func:`hidcap.sweep.train_runs` (:func:`hidcap.experiments.probe_runs.train_all`): ``--executor local`` (default)
on ``--workers`` local processes, ``--executor ray`` on a Ray instance (``--address``: a cluster to join).
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hidcap.sweep import EXECUTORS

__all__ = ["SCALES", "ProbeArgs", "check_sweep_args", "parse_probe_args", "parse_sweep_args"]

SCALES = ("tiny", "quick", "full")


@dataclass(frozen=True)
class ProbeArgs:
    """Parsed command line of one probe run. ``started``: ``time.perf_counter()`` at parse time.
    decide_only: ``--decide OUT`` was given (``out`` is OUT; scale and seeds come from its measurements).

    executor, workers, address: where the probe's training runs go (:func:`hidcap.sweep.train_runs`):
    ``'local'`` (``workers`` processes, default one per core or GPU) or ``'ray'`` (``address``: a cluster to
    join, default a new local instance)."""

    name: str
    scale: str
    seeds: tuple[int, ...]
    device: str
    out: Path
    progress: bool | None
    argv: tuple[str, ...]
    started: float = field(default_factory=time.perf_counter)
    executor: str = "local"
    workers: int | None = None
    address: str | None = None
    decide_only: bool = False

    @property
    def tiny(self) -> bool:
        return self.scale == "tiny"

    def run_dir(self, tag: str, seed: int) -> Path:
        """Where the training run ``tag`` of ``seed`` lives (reused by a later run with the same --out)."""
        return self.out / "runs" / f"{tag}_seed{seed}"


def _int_at_least(name: str, low: int, what: str):
    """An argparse type: an integer >= ``low`` (``what`` names it in the error)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            got = repr(text) if value is None else value
            raise argparse.ArgumentTypeError(f"{name} must be {what}, got {got}")
        return value
    return parse


_seed = _int_at_least("seed", 0, "a non-negative integer")
_workers = _int_at_least("workers", 1, "an integer >= 1")


def parse_probe_args(
    name: str,
    description: str,
    argv: Sequence[str] | None = None,
    *,
    default_seeds: Sequence[int] | Mapping[str, Sequence[int]] = (0,),
    min_seeds: int = 1,
    extra: Any = None,
) -> tuple[ProbeArgs, argparse.Namespace]:
    """Parse a probe's command line; returns ``(ProbeArgs, namespace)`` (the namespace holds ``extra``'s options).

    default_seeds: the seeds without ``--seeds``, one list for every scale or a mapping scale -> seeds (e.g.
    fewer seeds at the quick scale). ``extra(parser)`` may add probe-specific options. Repeated seeds, fewer
    than ``min_seeds`` seeds, ``--workers`` below 1, ``--address`` without ``--executor ray``, or a CUDA device
    on a machine without one end the program with a usage error naming the problem.
    """
    per_scale = (
        {k: tuple(v) for k, v in default_seeds.items()} if isinstance(default_seeds, Mapping)
        else {k: tuple(default_seeds) for k in SCALES}
    )
    if set(per_scale) != set(SCALES):
        raise ValueError(f"default_seeds must give seeds for every scale {SCALES}, got {sorted(per_scale)}")
    parser = argparse.ArgumentParser(prog=f"python -m probes.{name}", description=description)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="CPU-sized run (minutes)")
    size.add_argument("--tiny", action="store_true", help="seconds-long smoke run (the test suite's)")
    shown = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in per_scale.items())
    parser.add_argument("--seeds", type=_seed, nargs="+", default=None, help=f"training seeds (default {shown})")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--out", type=Path, default=None, help=f"output folder (default out/probes/{name}/SCALE)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument("--executor", choices=EXECUTORS, default="local",
                        help="where the training runs go: local processes or a Ray cluster (default local)")
    parser.add_argument("--workers", type=_workers, default=None,
                        help="local worker processes (default: one per core, or per GPU with --device cuda)")
    parser.add_argument("--address", default=None, help="Ray cluster to join (only with --executor ray; "
                                                         "default: start a local Ray instance)")
    parser.add_argument("--decide", type=Path, default=None, metavar="OUT",
                        help="recompute the verdict from OUT/measurements.json (written by an earlier run with "
                             "--out OUT) without training or measuring")
    if extra is not None:
        extra(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    ns = parser.parse_args(argv)
    if ns.decide is not None:
        clash = [a.option_strings[0] for a in parser._actions  # any option set away from its default
                 if a.dest not in ("help", "decide", "no_progress") and getattr(ns, a.dest) != a.default]
        if clash:
            parser.error(f"--decide reads the scale, seeds, settings and folder of its saved measurements (the "
                         f"criterion is applied as it was measured): drop {clash}")
        args = ProbeArgs(name=name, scale="tiny", seeds=(), device="cpu", out=ns.decide, progress=False,
                         argv=tuple(argv), decide_only=True)
        return args, ns
    scale = "tiny" if ns.tiny else "quick" if ns.quick else "full"
    if ns.seeds is None:
        ns.seeds = list(per_scale[scale])
    if len(set(ns.seeds)) != len(ns.seeds):
        parser.error(f"--seeds must not repeat a seed, got {ns.seeds}")
    if len(ns.seeds) < min_seeds:
        parser.error(f"this probe needs at least {min_seeds} seeds, got {len(ns.seeds)}: {ns.seeds}")
    if ns.address is not None and ns.executor != "ray":
        parser.error("--address joins a Ray cluster: it needs --executor ray")
    if ns.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {ns.device} requested but CUDA is not available")
    out = ns.out if ns.out is not None else Path("out/probes") / name / scale
    out.mkdir(parents=True, exist_ok=True)
    args = ProbeArgs(name=name, scale=scale, seeds=tuple(ns.seeds), device=ns.device, out=out,
                     progress=False if ns.no_progress else None, argv=tuple(argv),
                     executor=ns.executor, workers=ns.workers, address=ns.address)
    return args, ns


def parse_sweep_args(name: str, argv: Sequence[str] | None, description: str, options: Any,
                     seeds: Mapping[str, Sequence[int]]) -> tuple[ProbeArgs, argparse.Namespace]:
    """Parse a level-sweep probe's command line (:func:`parse_probe_args`; ``options`` must add ``--steps`` and
    ``--threshold``); without ``--seeds`` the scale's entry of ``seeds`` (scale -> seeds) is used.
    Checks ``--steps`` and ``--threshold`` (``ValueError`` naming the option)."""
    args, ns = parse_probe_args(name, description, argv, default_seeds=seeds, extra=options)
    check_sweep_args(ns)
    return args, ns


def check_sweep_args(ns: argparse.Namespace) -> None:
    """``ValueError`` naming the option when ``ns.steps`` is below 1 or ``ns.threshold`` outside (0, 1)."""
    if ns.steps is not None and ns.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {ns.steps}")
    if not 0.0 < ns.threshold < 1.0:
        raise ValueError(f"--threshold must lie in (0, 1), got {ns.threshold}")
