"""The claim protocol every probe follows (docs/probes.md, "Probe structure").

A probe module builds one :class:`ClaimProbe` from its claim, criterion (a short list of numbered parts),
scales, default seeds and two functions:

- ``measure(args, ns) -> Measurements``: train or reuse the runs, measure them, draw the figures, print the
  tables; everything the verdict needs goes into ``Measurements.data`` (JSON-able);
- ``decide(measurements) -> Verdict``: the criterion, a pure function of the saved measurements (the mapping
  read back from ``measurements.json``, never live objects), so ``--decide OUT`` gives the same verdict.

:func:`run_claim` is the one driver: parse the command line, measure (or, with ``--decide OUT``, load
``OUT/measurements.json``), decide, write ``verdict.json`` and print the verdict.
"""
from __future__ import annotations

import argparse
import inspect
import json
import shlex
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hidcap.experiments.probe_args import SCALES, ProbeArgs, parse_probe_args
from hidcap.experiments.verdicts import (
    VERDICTS,
    device_name,
    plain,
    print_verdict,
    verdict_label,
    write_json,
)

__all__ = ["MEASUREMENTS", "ClaimProbe", "Measurements", "Verdict", "criterion_commit", "load_measurements",
           "run_claim"]

#: The file ``measure`` writes beside ``verdict.json`` and ``--decide`` reads.
MEASUREMENTS = "measurements.json"


@dataclass
class Measurements:
    """What ``measure`` returns.

    params: the settings the criterion text names and ``decide`` reads (thresholds, levels...), filled into
    the criterion's ``{fields}``; data: every number ``decide`` reads; reported: numbers reported beside the
    verdict, not judged (they go into verdict.json's ``measured``); figures: PNG names relative to the output
    folder; notes: free text for people.
    """

    params: dict[str, Any]
    data: dict[str, Any]
    reported: dict[str, Any] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    notes: str = ""


@dataclass(frozen=True)
class Verdict:
    """What ``decide`` returns: ``passed`` (``True``/``False``, ``None`` = undetermined), ``parts`` (each judged
    part and the numbers behind it; verdict.json's ``measured`` holds them beside the reported numbers) and a
    one-line ``summary`` for the console."""

    passed: bool | None
    parts: dict[str, Any]
    summary: str = ""

    def __post_init__(self) -> None:
        if self.passed not in (True, False, None) or not isinstance(self.passed, (bool, type(None))):
            raise ValueError(f"passed must be True, False or None, got {self.passed!r}")
        if not isinstance(self.parts, dict):
            raise ValueError(f"parts must be a dict, got {type(self.parts).__name__}")


@dataclass(frozen=True)
class ClaimProbe:
    """One probe: its claim, criterion, scales, seeds and its ``measure`` / ``decide`` functions.

    criterion: the numbered parts, each a string that may name ``{fields}`` of ``Measurements.params``;
    scales: scale name -> one line on what that scale runs; seeds: scale -> default seeds; options: adds the
    probe's own command-line options; description: the ``--help`` line; min_seeds: fewer seeds are a usage error.
    """

    name: str
    claim: str
    paper: str
    criterion: tuple[str, ...]
    scales: Mapping[str, str]
    seeds: Mapping[str, tuple[int, ...]]
    measure: Callable[[ProbeArgs, argparse.Namespace], Measurements]
    decide: Callable[[Mapping[str, Any]], Verdict]
    options: Callable[[argparse.ArgumentParser], None] | None = None
    description: str = ""
    min_seeds: int = 1

    def __post_init__(self) -> None:
        if not self.criterion or not all(isinstance(p, str) and p.strip() for p in self.criterion):
            raise ValueError(f"{self.name}: criterion must be a non-empty list of non-empty parts")
        for key, what in ((self.scales, "scales"), (self.seeds, "seeds")):
            if set(key) != set(SCALES):
                raise ValueError(f"{self.name}: {what} must name every scale {SCALES}, got {sorted(key)}")

    def criterion_text(self, params: Mapping[str, Any]) -> list[str]:
        """The criterion's parts with ``params`` filled in (``KeyError`` naming a missing field)."""
        try:
            return [p.format(**params) for p in self.criterion]
        except KeyError as exc:
            raise KeyError(f"{self.name}: the criterion names {exc} but measurements.params lacks it") from None

    def main(self, argv: Sequence[str] | None = None) -> dict[str, Any]:
        """``python -m probes.NAME``: :func:`run_claim` of this probe."""
        return run_claim(self, argv)


def criterion_commit(*paths: Path) -> dict[str, Any]:
    """The git commit that last changed ``paths`` (the probe file and docs/probes.md) and whether they hold
    uncommitted edits: ``{"commit": hash | None, "files": [...], "uncommitted": bool | None}`` (``None`` where
    git or the repository is not available)."""
    files = [Path(p).resolve() for p in paths if Path(p).exists()]
    out: dict[str, Any] = {"commit": None, "files": [], "uncommitted": None}
    if not files:
        return out
    cwd = files[0].parent

    def git(*cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *cmd], cwd=cwd, capture_output=True, text=True, timeout=20)

    try:
        top = git("rev-parse", "--show-toplevel")
        if top.returncode != 0:
            return out
        root = Path(top.stdout.strip()).resolve()
        rel = [str(f.relative_to(root)) for f in files if f.is_relative_to(root)]
        log = git("log", "-1", "--format=%H", "--", *rel)
        diff = git("status", "--porcelain", "--", *rel)
    except (OSError, subprocess.SubprocessError):
        return out
    out["files"] = rel
    if log.returncode == 0 and log.stdout.strip():
        out["commit"] = log.stdout.strip()
    if diff.returncode == 0:
        out["uncommitted"] = bool(diff.stdout.strip())
    return out


def load_measurements(out: Path) -> dict[str, Any]:
    """``out/measurements.json`` as written by :func:`run_claim` (``FileNotFoundError`` / ``ValueError`` naming
    the problem)."""
    path = Path(out) / MEASUREMENTS
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run the probe with --out {out} first (--decide re-reads "
                                "what a measuring run saved)")
    saved = json.loads(path.read_text(encoding="utf-8"))
    missing = [k for k in ("probe", "scale", "seeds", "params", "data") if k not in saved]
    if missing:
        raise ValueError(f"{path} lacks {missing}")
    return saved


def _save_measurements(probe: ClaimProbe, args: ProbeArgs, m: Measurements) -> dict[str, Any]:
    if not isinstance(m, Measurements):
        raise ValueError(f"{probe.name}: measure must return Measurements, got {type(m).__name__}")
    for f in m.figures:
        if not (args.out / f).is_file():
            raise FileNotFoundError(f"figure {args.out / f} was not written")
    saved = {
        "probe": probe.name, "scale": args.scale, "seeds": list(args.seeds), "params": m.params, "data": m.data,
        "reported": m.reported, "figures": [str(f) for f in m.figures], "notes": m.notes,
        "device": args.device, "device_name": device_name(args.device), "torch": torch.__version__,
        "command": shlex.join(["python", "-m", f"probes.{probe.name}", *args.argv]),
        "wall_s": round(time.perf_counter() - args.started, 1),
    }
    saved = json.loads(json.dumps(plain(saved), allow_nan=False))  # decide reads exactly what --decide will read
    write_json(args.out / MEASUREMENTS, saved, indent=None)
    return saved


def run_claim(probe: ClaimProbe, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse the command line, measure (or load ``--decide OUT``'s measurements), decide, write
    ``verdict.json`` and print the verdict; returns the verdict record (docs/probes.md, "The verdict file")."""
    args, ns = parse_probe_args(probe.name, probe.description, argv, default_seeds=probe.seeds,
                                extra=probe.options, min_seeds=probe.min_seeds)
    if args.decide_only:
        saved = load_measurements(args.out)
        if saved["probe"] != probe.name:
            raise ValueError(f"{args.out / MEASUREMENTS} holds measurements of {saved['probe']!r}, not {probe.name!r}")
        decide_command = shlex.join(["python", "-m", f"probes.{probe.name}", *args.argv])
    else:
        saved = _save_measurements(probe, args, probe.measure(args, ns))
        decide_command = None
    verdict = probe.decide(saved)
    if not isinstance(verdict, Verdict):
        raise ValueError(f"{probe.name}: decide must return a Verdict, got {type(verdict).__name__}")
    source = Path(inspect.getsourcefile(probe.decide) or "")
    docs = source.parent.parent / "docs" / "probes.md"
    smoke = saved["scale"] == "tiny"
    record = {
        "probe": probe.name,
        "verdict": verdict_label(verdict.passed, smoke=smoke),
        "passed": None if smoke else verdict.passed,
        "outcome": VERDICTS[verdict.passed],
        "claim": probe.claim,
        "paper": probe.paper,
        "criterion": probe.criterion_text(saved["params"]),
        "criterion_commit": criterion_commit(source, docs),
        "measured": plain({**saved.get("reported", {}), **verdict.parts}),
        "summary": verdict.summary,
        "figures": [f for f in saved.get("figures", []) if (args.out / f).is_file()],
        "notes": saved.get("notes", ""),
        "scale": saved["scale"],
        "seeds": saved["seeds"],
        **{k: saved.get(k) for k in ("device", "device_name", "torch", "command", "wall_s")},
        "decide_command": decide_command,
    }
    write_json(args.out / "verdict.json", record)
    print_verdict(record, args.out / "verdict.json")
    return record

