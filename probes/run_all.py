"""Run several probes at one scale, one after another, and gather their verdicts into one table.

    python -m probes.run_all --quick                          # every probe, CPU scale
    python -m probes.run_all --quick percolation torus_geometry
    python -m probes.run_all --device cuda concept_signal     # full scale on a GPU
    python -m probes.run_all --quick --executor ray --address HEAD_IP:6379   # each probe's runs on a Ray cluster

Each probe writes into ``--out/NAME`` (default ``out/probes/NAME/SCALE``); this script then writes
``summary.json`` and ``summary.md`` (claim, verdict, wall time, command per probe) into ``--out``
(default ``out/probes``). A probe that raises is reported as ``error`` with its message, and the others still run.
"""
from __future__ import annotations

import argparse
import importlib
import json
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: The probes in the order of issue 8.
PROBES = (
    "concept_signal",
    "hidden_capabilities",
    "multiplicative_emergence",
    "underspecification",
    "compose_interpolate",
    "percolation",
    "torus_geometry",
)


def load(name: str):
    """The module ``probes.<name>``."""
    if name not in PROBES:
        raise KeyError(f"unknown probe {name!r}; known: {', '.join(PROBES)}")
    return importlib.import_module(f"probes.{name}")


def table(rows: list[dict]) -> str:
    """Markdown table of verdict rows (probe, verdict, wall time, claim)."""
    lines = ["| probe | verdict | wall | claim |", "|---|---|---:|---|"]
    for r in rows:
        claim = r.get("claim") or r.get("error", "")
        lines.append(f"| {r['probe']} | {r['verdict']} | {r.get('wall_s', 0):.0f} s | {claim} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("probes", nargs="*", help=f"which probes (default all: {' '.join(PROBES)})")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true")
    size.add_argument("--tiny", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("out/probes"))
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="where each probe's training runs go (docs/probes.md, 'Running a probe')")
    parser.add_argument("--workers", type=int, default=None, help="local worker processes per probe")
    parser.add_argument("--address", default=None, help="Ray cluster to join (with --executor ray)")
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers must be an integer >= 1, got {args.workers}")
    if args.address is not None and args.executor != "ray":
        parser.error("--address joins a Ray cluster: it needs --executor ray")
    unknown = [p for p in args.probes if p not in PROBES]
    if unknown:
        parser.error(f"unknown probe(s) {unknown}; known: {' '.join(PROBES)}")
    scale = "tiny" if args.tiny else "quick" if args.quick else "full"
    flags = [f"--{scale}"] if scale != "full" else []
    flags += ["--device", args.device] + (["--no-progress"] if args.no_progress else [])
    flags += ["--executor", args.executor] + ([] if args.workers is None else ["--workers", str(args.workers)])
    flags += [] if args.address is None else ["--address", args.address]
    rows = []
    for name in args.probes or PROBES:
        out = args.out / name / scale
        t0 = time.perf_counter()
        try:
            record = load(name).main([*flags, "--out", str(out)])
            rows.append(record)
        except Exception as exc:  # keep going: one broken probe must not hide the others' verdicts
            traceback.print_exc()
            rows.append({"probe": name, "verdict": "error", "error": f"{type(exc).__name__}: {exc}",
                         "wall_s": time.perf_counter() - t0})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (args.out / "summary.md").write_text(table(rows), encoding="utf-8")
    print("\n" + table(rows))
    return rows


if __name__ == "__main__":
    main()
