"""Training runs of experiments: one run on several Gaussian-bump data sets at once (e.g. 2D bumps + 1D stripes,
Liang et al. 2024, Sec. 3.2)."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from hidcap.config_io import config_to_dict
from hidcap.data import BumpDataSpec, LabelledImages, concat
from hidcap.run_config import TrainConfig
from hidcap.runs import CheckpointSeries
from hidcap.training import train

__all__ = ["build_data", "train_run"]


def build_data(specs: Sequence[BumpDataSpec], seed: int) -> LabelledImages:
    """Build every spec with ``seed`` and concatenate them (e.g. 2D bumps + 1D stripes, ``hidcap.data.concat``).

    The specs must share the image size and the latent frame (``offset``) so that their conditioning
    coordinates mean the same thing.
    """
    if not specs:
        raise ValueError("specs must hold at least one BumpDataSpec")
    sizes = {(s.image_size, s.offset) for s in specs}
    if len(sizes) != 1:
        raise ValueError(f"specs must share image_size and latent offset, got {sorted(sizes)}")
    return concat([s.build(seed) for s in specs])


def train_run(
    config: TrainConfig, run_dir: Path, specs: Sequence[BumpDataSpec] | None = None, *, progress: bool | None = None
) -> CheckpointSeries:
    """Train ``config`` into ``run_dir`` (a finished run there is reused) and return its checkpoint series.

    specs: several data sets trained on together (``config.data`` must then be None); they are written to
    ``run_dir/datasets.json``, and a run directory that holds a run on other data sets is refused.
    """
    run_dir = Path(run_dir)
    if specs is None:
        if config.data is None:
            raise ValueError("config.data is None and no specs were given")
        return train(config, run_dir, progress=progress)
    if config.data is not None:
        raise ValueError("pass either config.data or specs, not both")
    record = [config_to_dict(s) for s in specs]
    sidecar = run_dir / "datasets.json"
    if sidecar.is_file() and json.loads(sidecar.read_text()) != record:
        raise ValueError(f"{run_dir} holds a run on other data sets ({sidecar}); use a new --out")
    data = build_data(specs, config.seed if config.data_seed is None else config.data_seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    sidecar.write_text(json.dumps(record, indent=2) + "\n")
    return train(config, run_dir, data=data, progress=progress)


def train_all(args, runs):  # TEMPORARY stand-in until the sweep-based train_all lands (same contract)
    if not runs:
        raise ValueError("runs must hold at least one run")
    return {key: train(cfg, args.run_dir(*key), progress=args.progress) for key, cfg in runs.items()}
