"""Training runs of experiments: a probe's runs, trained through the sweep machinery (:func:`train_all`), and one
run on several Gaussian-bump data sets at once (e.g. 2D bumps + 1D stripes, Liang et al. 2024, Sec. 3.2)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from hidcap.data import BumpDataSpec, ConcatSpec, LabelledImages
from hidcap.experiments.probe_args import ProbeArgs
from hidcap.run_config import TrainConfig
from hidcap.runs import CheckpointSeries
from hidcap.sweep import train_runs
from hidcap.training import train

__all__ = ["build_data", "train_all", "train_run"]


def build_data(specs: Sequence[BumpDataSpec], seed: int) -> LabelledImages:
    """Build every spec with ``seed`` and concatenate them (e.g. 2D bumps + 1D stripes; :class:`ConcatSpec`).

    The specs must share the image size and the latent frame (``offset``) so that their conditioning
    coordinates mean the same thing.
    """
    return ConcatSpec(tuple(specs)).build(seed)


def _refuse_old_multi_data_run(run_dir: Path) -> None:
    """Runs on several data sets were once written with config.json ``data: null`` and a ``datasets.json``
    beside it; such a run must not be taken for a run of its config.json alone."""
    sidecar = Path(run_dir) / "datasets.json"
    if sidecar.is_file():
        raise ValueError(f"{run_dir} holds a run on several data sets written by an older hidcap ({sidecar}; its "
                         f"data sets now live in config.json as a ConcatSpec): delete {run_dir} or use a new --out")


def train_run(
    config: TrainConfig, run_dir: Path, specs: Sequence[BumpDataSpec] | None = None, *, progress: bool | None = None
) -> CheckpointSeries:
    """Train ``config`` into ``run_dir`` (a finished run there is reused) and return its checkpoint series.

    specs: several data sets trained on together (``config.data`` must then be None); the run's config.json
    holds them as ``data = ConcatSpec(specs)``.
    """
    run_dir = Path(run_dir)
    if specs is not None:
        if config.data is not None:
            raise ValueError("pass either config.data or specs, not both")
        config = replace(config, data=ConcatSpec(tuple(specs)))
    elif config.data is None:
        raise ValueError("config.data is None and no specs were given")
    _refuse_old_multi_data_run(run_dir)
    return train(config, run_dir, progress=progress)


def train_all(args: ProbeArgs, runs: Mapping[tuple[str, int], TrainConfig]) -> dict[tuple[str, int], CheckpointSeries]:
    """Train (or reuse) every run of a probe through :func:`hidcap.sweep.train_runs` and load them.

    runs: ``{(tag, seed): config}``; each run lives at ``args.run_dir(tag, seed)`` (``--out/runs/<tag>_seed<seed>``,
    so a later probe run with the same ``--out`` reuses it). The runs go where ``args.executor`` /
    ``args.workers`` / ``args.address`` say (``--executor ray``: over a Ray cluster, one GPU per run for
    ``cuda`` configs), each run on its own (no :func:`hidcap.training.train_many` grouping). A config
    must carry its data (``config.data``; several bump data sets: :class:`hidcap.data.ConcatSpec`).
    Returns ``{(tag, seed): CheckpointSeries}`` in the order of ``runs``. Raises ValueError for an empty
    mapping or a bad key, RuntimeError naming every failed run and its error (after the others finished).
    """
    if not runs:
        raise ValueError("runs is empty: give at least one (tag, seed) -> TrainConfig")
    root = args.out / "runs"
    names: dict[str, TrainConfig] = {}
    dirs: dict[tuple[str, int], Path] = {}
    for key, config in runs.items():
        if (not isinstance(key, tuple) or len(key) != 2 or not isinstance(key[0], str) or not key[0]
                or isinstance(key[1], bool) or not isinstance(key[1], int)):
            raise ValueError(f"run keys must be (tag, seed) with a non-empty str tag and an int seed, got {key!r}")
        if not isinstance(config, TrainConfig):
            raise ValueError(f"run {key!r}: expected a TrainConfig, got {type(config).__name__}")
        if config.data is None:
            raise ValueError(f"run {key!r}: config.data is None; give the data in the config (several bump data "
                             f"sets: data=ConcatSpec(specs))")
        run_dir = args.run_dir(*key)
        _refuse_old_multi_data_run(run_dir)
        dirs[key] = run_dir
        names[run_dir.relative_to(root).as_posix()] = config
    on_gpu = any(c.device.startswith("cuda") for c in runs.values())
    results = train_runs(names, root, executor=args.executor, workers=args.workers, address=args.address,
                         num_gpus=1 if on_gpu and args.executor == "ray" else 0, progress=args.progress)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        lines = "\n".join(f"  {root / r.run}: {r.error}" for r in failed)
        raise RuntimeError(f"{len(failed)} of {len(results)} training runs failed (tracebacks in "
                           f"{root / 'summary.json'}):\n{lines}")
    return {key: CheckpointSeries(dirs[key], device=runs[key].device) for key in runs}
