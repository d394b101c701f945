"""Sweeps: a grid of training runs, one run directory per grid point, on a local process pool or on Ray.

    hidcap sweep --preset tiny --out sweeps/lr --grid optimizer.lr=0.001,0.003 --seeds 0 1 2

:func:`run_sweep` expands ``base`` × ``grid`` (any :class:`~hidcap.training.TrainConfig` field in dotted form,
e.g. ``optimizer.lr``, ``data.images_per_class``, ``seed``) into configs, and trains each into
``out/<hash>`` where ``<hash>`` is a short hash of the run's config.json content. ``out/index.json`` and
``out/index.csv`` map each directory to its grid point; ``out/summary.json`` and ``out/summary.csv`` hold
this invocation's outcome (run, grid point, status, wall time, final loss, error).

- Resumable: a run whose final checkpoint exists is skipped without starting any worker; an interrupted run
  resumes from its last checkpoint (:func:`hidcap.training.train` does that).
- Failures are isolated: a run that raises is reported (``status='failed'``, the error and its traceback in
  the summary) and the others go on. A second trainer on one directory is refused by the run lock
  (:mod:`hidcap.runlock`), so two sweeps over one ``out`` never write into the same run.
- Executors: ``'local'`` (a pool of spawned processes, one per core, or one per GPU when the runs are on
  ``'cuda'``; no server; a single group of runs trains in the calling process) and ``'ray'`` (``ray.init()`` starts a local instance, ``address=`` joins a cluster;
  each run asks for ``num_cpus`` / ``num_gpus``; ``out`` must be a path every worker sees).

- Each run trains on its own with :func:`~hidcap.training.train` unless ``group=K`` asks otherwise: then runs
  that differ only in what leaves shapes alone (seed, data_seed, data, optimizer, checkpoints, steps,
  log_every) train up to K at a time as one batched model by :func:`hidcap.training.train_many`
  (:func:`group_runs`). Separate runs are the default because grouping took 0.75-1.22x the time of separate
  runs on a CPU (0.65-0.90x before train_many was simplified) and its runs match solo runs to float tolerance
  only (docs/performance.md). If a grouped call fails, each of its runs is retried alone with :func:`~hidcap.training.train` (which resumes from what the group
  wrote), so every run gets its own status and error.

:func:`train_runs` trains an explicit ``{name: config}`` set the same way, each into ``out/<name>`` (the
probes train their seeds and levels with it, :func:`hidcap.experiments.probe_runs.train_all`).
See docs/sweeps.md.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import itertools
import json
import multiprocessing
import os
import time
import traceback
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from hidcap.checkpoints import checkpoint_steps_in
from hidcap.config_io import config_to_dict, set_field
from hidcap.progress import progress_bar
from hidcap.runs import CheckpointSeries
from hidcap.training import MANY_MAY_DIFFER, TrainConfig, train, train_many

__all__ = [
    "EXECUTORS",
    "RunResult",
    "SweepRun",
    "expand_grid",
    "format_table",
    "group_runs",
    "parse_grid",
    "run_name",
    "run_sweep",
    "shape_key",
    "train_runs",
]

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class SweepRun:
    """One grid point: ``name`` (its directory under ``out``), its ``config`` and ``params`` (dotted field ->
    value, the differences from the base config that this grid point asks for)."""

    name: str
    config: TrainConfig
    params: dict[str, Any]


@dataclass
class RunResult:
    """The outcome of one run: ``status`` is ``'done'`` (trained now), ``'skipped'`` (finished before) or
    ``'failed'``; ``from_step``: the last checkpoint it had before (0: a fresh run); ``wall_s``: seconds
    spent in this sweep (for a grouped run: its whole group's); ``final_loss``: the last ``loss`` row of its
    metrics.jsonl; ``group``: how many runs trained together in its ``train_many`` call (1: alone, also after a
    failed group's solo retry); ``group_id``: which ``train_many`` call of this sweep trained it (``None``:
    trained alone), so the runs sharing one ``wall_s`` can be told apart."""

    run: str
    params: dict[str, Any]
    status: str
    wall_s: float | None = None
    final_loss: float | None = None
    from_step: int = 0
    error: str | None = None
    traceback: str | None = field(default=None, repr=False)
    group: int = 1
    group_id: int | None = None


# ---- grid: dotted fields, typed values (read by hidcap.config_io.set_field) --------------------------------
def parse_grid(specs: Sequence[str]) -> dict[str, list[str]]:
    """Command-line grid axes -> ``{dotted field: [raw values]}``. Each spec is ``field=v1,v2,...`` or
    ``field=<JSON list>`` (for values holding commas, e.g. ``optimizer.betas=[[0.9,0.99],[0.9,0.999]]``)."""
    grid: dict[str, list[Any]] = {}
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"grid axis {spec!r} must look like field=value1,value2 (e.g. optimizer.lr=0.001,0.003)")
        if key in grid:
            raise ValueError(f"grid axis {key!r} is given twice")
        if values.strip().startswith("["):
            try:
                items = json.loads(values)
            except json.JSONDecodeError as exc:
                raise ValueError(f"grid axis {key!r}: {values!r} is not a JSON list ({exc})") from None
        else:
            items = [v.strip() for v in values.split(",")]
        if not isinstance(items, list) or not items or any(v == "" for v in items):
            raise ValueError(f"grid axis {key!r} needs one or more non-empty values, got {values!r}")
        grid[key] = items
    return grid


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def run_name(config: TrainConfig) -> str:
    """The run's directory name: the first 10 hex digits of the SHA-256 of its config.json content."""
    text = json.dumps(config_to_dict(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def expand_grid(base: TrainConfig, grid: Mapping[str, Sequence[Any]] | None = None,
                seeds: Sequence[int] | None = None) -> list[SweepRun]:
    """Every point of ``grid`` (``{dotted field: values}``, values typed or as strings) × ``seeds`` applied
    to ``base``, in grid order (the last axis varies fastest; seeds are the last axis). Bad fields or values
    raise before anything runs; two grid points with one config raise ValueError."""
    if not isinstance(base, TrainConfig):
        raise ValueError(f"base must be a TrainConfig, got {type(base).__name__}")
    axes = [(k, list(v)) for k, v in (grid or {}).items()]
    if seeds is not None:
        if "seed" in dict(axes):
            raise ValueError("give seeds either as seeds=... or as a 'seed' grid axis, not both")
        axes.append(("seed", list(seeds)))
    for key, values in axes:
        if not values:
            raise ValueError(f"grid axis {key!r} has no values")
    runs: dict[str, SweepRun] = {}
    for point in itertools.product(*(values for _, values in axes)):
        config, params = base, {}
        for (key, _), raw in zip(axes, point):
            try:
                config = set_field(config, key, raw)
            except ValueError as exc:  # also the config's own validation, e.g. steps=0
                raise ValueError(f"grid {key}={raw!r}: {exc}") from None
            params[key] = _jsonable(_get(config, key))
        name = run_name(config)
        if name in runs:
            raise ValueError(f"grid points {runs[name].params} and {params} give the same config")
        runs[name] = SweepRun(name, config, params)
    return list(runs.values())


def _get(config: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        config = getattr(config, part)
    return config


def shape_key(config: TrainConfig) -> str | None:
    """What must be equal for runs to share a :func:`~hidcap.training.train_many` call (``None``: never grouped,
    e.g. a compiled run)."""
    if config.compile:
        return None
    fields = {k: v for k, v in config_to_dict(config).items() if k not in MANY_MAY_DIFFER}
    return json.dumps(fields, sort_keys=True)


def group_runs(runs: Sequence[SweepRun], max_group: int = 1, min_groups: int = 1) -> list[list[SweepRun]]:
    """Runs to execute together, one list per worker task. Runs with one :func:`shape_key` are split into
    ``max(ceil(n / max_group), min(min_groups, n))`` groups of near-equal size, in grid order; each group of
    two or more trains as one :func:`~hidcap.training.train_many` call. ``max_group=1`` (default): one run
    per group. ``min_groups``: e.g. the number of workers, so that grouping does not leave workers idle."""
    if max_group < 1 or min_groups < 1:
        raise ValueError(f"max_group and min_groups must be >= 1, got {max_group}, {min_groups}")
    classes: dict[Any, list[SweepRun]] = {}
    for i, run in enumerate(runs):
        key = shape_key(run.config)
        classes.setdefault(key if key is not None else ("alone", i), []).append(run)
    groups: list[list[SweepRun]] = []
    for key, members in classes.items():
        n = len(members)
        count = n if isinstance(key, tuple) else max(-(-n // max_group), min(min_groups, n))
        size, extra = divmod(n, count)
        start = 0
        for j in range(count):
            stop = start + size + (1 if j < extra else 0)
            groups.append(members[start:stop])
            start = stop
    return groups


# ---- one group of runs, in a worker --------------------------------------------------------------------
def _final_loss(run_dir: Path) -> float | None:
    """The ``loss`` of the last row of the run's metrics (``None``: no run or no row yet)."""
    try:
        rows = CheckpointSeries(run_dir).metrics()
    except FileNotFoundError:  # the run failed before it wrote its config
        return None
    return rows[-1].get("loss") if rows else None


def _last_step(run_dir: Path) -> int:
    """The newest checkpoint's step (0: none yet)."""
    return max(checkpoint_steps_in(run_dir), default=0)


def _finished(run: SweepRun, out: Path) -> bool:
    """True when ``out/<run.name>`` holds this run's config (compared as loaded configs, as
    :func:`~hidcap.training.train` compares them) and its final checkpoint."""
    try:
        series = CheckpointSeries(out / run.name)
        return series.config == run.config and run.config.steps in series.steps
    except (FileNotFoundError, KeyError, ValueError):  # no run, or a config.json that does not load
        return False


def _run_one(run: SweepRun, run_dir: Path, from_step: int | None = None) -> RunResult:
    result = RunResult(run.name, run.params, "done", from_step=_last_step(run_dir) if from_step is None else from_step)
    t0 = time.perf_counter()
    try:
        train(run.config, run_dir, progress=False)
    except Exception as exc:  # isolate: report it, go on with the others
        result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
        result.traceback = traceback.format_exc()
    result.wall_s = round(time.perf_counter() - t0, 3)
    result.final_loss = _final_loss(run_dir)
    return result


def _run_group(group: list[SweepRun], out: str) -> list[RunResult]:
    """Train ``group`` into ``out/<name>``: one run with :func:`train`, several with one :func:`train_many`
    call. If that call raises, each of its runs is retried alone (resuming what the group wrote), so an
    exception fails only the run that raises it."""
    dirs = [Path(out) / run.name for run in group]
    from_steps = [_last_step(d) for d in dirs]
    if len(group) > 1:
        t0 = time.perf_counter()
        try:
            train_many([r.config for r in group], dirs, progress=False)
        except Exception:  # noqa: BLE001 -- retried run by run below, which reports each run's own error
            pass
        else:
            wall = round(time.perf_counter() - t0, 3)
            return [RunResult(r.name, r.params, "done", wall_s=wall, final_loss=_final_loss(d), from_step=f,
                              group=len(group)) for r, d, f in zip(group, dirs, from_steps)]
    return [_run_one(run, d, f) for run, d, f in zip(group, dirs, from_steps)]


def _failed(group: list[SweepRun], error: str) -> list[RunResult]:
    return [RunResult(r.name, r.params, "failed", error=error) for r in group]


# ---- executors: each yields one list of RunResult per finished group --------------------------------------
def _init_local_worker(threads: int, devices: Any) -> None:
    if devices is not None:  # one GPU per worker, before CUDA starts in this process
        os.environ["CUDA_VISIBLE_DEVICES"] = devices.get()
    if "OMP_NUM_THREADS" not in os.environ:  # a user's setting wins; else share the cores between workers
        import torch

        torch.set_num_threads(threads)


def _visible_gpus() -> list[str]:
    import torch

    if not torch.cuda.is_available():
        raise ValueError("the runs are on device 'cuda' but torch sees no CUDA device")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return visible.split(",") if visible else [str(i) for i in range(torch.cuda.device_count())]


def _local(groups: list[list[SweepRun]], out: Path, workers: int | None) -> Iterator[list[RunResult]]:
    ctx = multiprocessing.get_context("spawn")
    on_gpus = all(r.config.device == "cuda" for g in groups for r in g)
    gpus = _visible_gpus() if on_gpus else []
    workers = workers or len(gpus) or os.cpu_count() or 1
    workers = max(1, min(workers, len(groups)))
    threads = 1 if gpus else max(1, (os.cpu_count() or 1) // workers)
    if len(groups) == 1:  # nothing to run beside it: train in this process (no worker start-up)
        yield _run_group(groups[0], str(out))
        return

    def new_pool() -> ProcessPoolExecutor:
        devices = None
        if gpus:  # worker i gets GPU i mod n
            devices = ctx.Queue()
            for i in range(workers):
                devices.put(gpus[i % len(gpus)])
        return ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_local_worker,
                                   initargs=(threads, devices))

    pending, running = deque(groups), {}
    pool = new_pool()
    try:
        while pending or running:
            while pending and len(running) < workers:
                group = pending.popleft()
                running[pool.submit(_run_group, group, str(out))] = group
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                group = running.pop(future)
                try:
                    yield future.result()
                except BrokenProcessPool:
                    broken = True
                    yield _failed(group, "a worker process died (a crash or kill in this run or one beside it); "
                                         "run the sweep again to resume it")
            if broken:  # every future of a broken pool fails: report those in flight, go on in a new pool
                for future, group in running.items():
                    yield _failed(group, "a worker process died (a crash or kill in this run or one beside it); "
                                         "run the sweep again to resume it")
                running.clear()
                pool.shutdown(wait=True, cancel_futures=True)
                pool = new_pool()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ray(groups: list[list[SweepRun]], out: Path, address: str | None, num_cpus: float,
         num_gpus: float) -> Iterator[list[RunResult]]:
    try:
        import ray
    except ImportError:
        raise ImportError("executor 'ray' needs Ray: pip install 'hidcap[ray]'") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=address) if address else ray.init(include_dashboard=False)
    try:
        task = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus)(_run_group)
        refs = {task.remote(group, str(out)): group for group in groups}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                group = refs.pop(ref)
                try:
                    yield ray.get(ref)
                except Exception as exc:  # the task could not run (worker or node lost); the others go on
                    yield _failed(group, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}")
    finally:
        if started:
            ray.shutdown()


# ---- the sweep ---------------------------------------------------------------------------------------------
def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _write_index(out: Path, runs: list[SweepRun]) -> None:
    """index.json / index.csv: every run directory under ``out`` (this sweep's and earlier ones') -> its
    grid point, the fields in grid order (this sweep's axes first, then those only earlier sweeps had); the
    full config is the run's config.json."""
    path = out / "index.json"
    index = json.loads(path.read_text()) if path.is_file() else {}
    index.update({r.name: r.params for r in runs})
    index = dict(sorted(index.items()))
    _write_atomic(path, json.dumps(index, indent=2) + "\n")
    keys = list(dict.fromkeys([*runs[0].params, *(k for params in index.values() for k in params)]))
    rows = [{"run": name, **{k: json.dumps(v) if isinstance(v, list) else v for k, v in params.items()}}
            for name, params in index.items()]
    _write_atomic(out / "index.csv", _csv(rows, ["run", *keys]))


def _write_summary(out: Path, results: list[RunResult], keys: list[str]) -> None:
    rows = [dataclasses.asdict(r) for r in results]
    _write_atomic(out / "summary.json", json.dumps(rows, indent=2) + "\n")
    flat = [{**{k: json.dumps(v) if isinstance(v, list) else v for k, v in r["params"].items()}, **r} for r in rows]
    columns = ["run", *keys, "status", "wall_s", "group", "group_id", "final_loss", "from_step", "error"]
    _write_atomic(out / "summary.csv", _csv(flat, columns))


def _check_names(names: Sequence[Any]) -> list[str]:
    """``names`` as normalised relative directory names (``'a/b'``); ValueError names a bad or repeated one."""
    reserved = {"index.json", "index.csv", "summary.json", "summary.csv"}
    seen: dict[str, str] = {}
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"run names must be non-empty strings, got {name!r}")
        path = PurePosixPath(name.replace(os.sep, "/"))
        if path.is_absolute() or PureWindowsPath(name).drive:
            raise ValueError(f"run name {name!r} must be a relative directory name, not an absolute path")
        if ".." in path.parts:
            raise ValueError(f"run name {name!r} must not contain '..'")
        norm = path.as_posix()
        if norm in ("", ".") or norm in reserved:
            raise ValueError(f"run name {name!r} is not a usable directory name" +
                             (f" (reserved for the sweep's own files {sorted(reserved)})" if norm in reserved else ""))
        if norm in seen:
            raise ValueError(f"run names {seen[norm]!r} and {name!r} name the same directory")
        seen[norm] = name
    for norm, name in seen.items():  # a run directory inside another would mix two runs' files
        for parent in PurePosixPath(norm).parents:
            if parent.as_posix() in seen:
                raise ValueError(f"run name {name!r} lies inside run {seen[parent.as_posix()]!r}")
    return list(seen)


def _check_options(executor: str, workers: int | None, group: int | None, num_cpus: float, num_gpus: float) -> None:
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    if group is not None and group < 1:
        raise ValueError(f"group must be >= 1 (or None for automatic grouping), got {group}")
    if num_cpus < 0 or num_gpus < 0:
        raise ValueError(f"num_cpus and num_gpus must be >= 0, got {num_cpus}, {num_gpus}")


def _check_ray_gpus(runs: list[SweepRun], executor: str, num_gpus: float) -> None:
    if executor == "ray" and num_gpus == 0 and any(r.config.device.startswith("cuda") for r in runs):
        raise ValueError("runs on device 'cuda' need num_gpus > 0 with the ray executor (Ray hides GPUs from "
                         "tasks that ask for none)")


def _execute(runs: list[SweepRun], out: Path, keys: list[str], *, executor: str, workers: int | None,
             address: str | None, num_cpus: float, num_gpus: float, group: int | None,
             progress: bool | None, desc: str) -> list[RunResult]:
    """The one code path of :func:`run_sweep` and :func:`train_runs`: skip finished runs, group the others,
    run the groups on the executor, keep ``out/summary.*`` current; one :class:`RunResult` per run, in order."""
    results: dict[str, RunResult] = {}
    todo = []
    for run in runs:
        if _finished(run, out):
            results[run.name] = RunResult(run.name, run.params, "skipped", final_loss=_final_loss(out / run.name),
                                          from_step=run.config.steps)
        else:
            todo.append(run)
    bar = progress_bar(total=len(runs), progress=progress, desc=desc, unit="run", initial=len(results))
    try:
        if todo:
            groups = group_runs(todo, max_group=group or 1)
            group_ids = {r.name: i for i, g in enumerate(g for g in groups if len(g) > 1) for r in g}
            batches = (_local(groups, out, workers) if executor == "local"
                       else _ray(groups, out, address, num_cpus, num_gpus))
            for batch in batches:
                for result in batch:
                    if result.group > 1:
                        result.group_id = group_ids[result.run]
                    results[result.run] = result
                    bar.update(1)
                failed = sum(r.status == "failed" for r in results.values())
                bar.set_postfix(failed=failed)
                _write_summary(out, [results[r.name] for r in runs if r.name in results], keys)
    finally:
        bar.close()
    ordered = [results[r.name] for r in runs]
    _write_summary(out, ordered, keys)
    return ordered


def train_runs(
    runs: Mapping[str, TrainConfig],
    out: str | Path,
    *,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    num_cpus: float = 1,
    num_gpus: float = 0,
    group: int | None = None,
    progress: bool | None = None,
) -> list[RunResult]:
    """Train an explicit set of runs, ``{name: config}``, each into ``out/<name>``, as :func:`run_sweep` does.

    name: a relative directory name (``'lr0.01_seed0'``, ``'sigma1/seed0'``); ValueError for an empty,
    absolute or ``..`` name, two names of one directory, or a run inside another. A run finished before (same
    config.json, final checkpoint there) is skipped; an interrupted one resumes; a failing one fails alone.
    executor, workers, address, num_cpus, num_gpus, group: as in :func:`run_sweep`. Returns one
    :class:`RunResult` per run, in the order of ``runs`` (``run``: the name; ``params``: ``{}``; ``status``:
    ``'done'``, ``'skipped'`` or ``'failed'`` with ``error``), also written to ``out/summary.json`` /
    ``summary.csv``.
    """
    _check_options(executor, workers, group, num_cpus, num_gpus)
    if not isinstance(runs, Mapping):
        raise ValueError(f"runs must be a mapping name -> TrainConfig, got {type(runs).__name__}")
    if not runs:
        raise ValueError("runs is empty: give at least one name -> TrainConfig")
    names = _check_names(list(runs))
    for name, config in runs.items():
        if not isinstance(config, TrainConfig):
            raise ValueError(f"run {name!r}: expected a TrainConfig, got {type(config).__name__}")
    todo = [SweepRun(norm, config, {}) for norm, config in zip(names, runs.values())]
    _check_ray_gpus(todo, executor, num_gpus)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    return _execute(todo, out, [], executor=executor, workers=workers, address=address, num_cpus=num_cpus,
                    num_gpus=num_gpus, group=group, progress=progress, desc="runs")


def run_sweep(
    base: TrainConfig,
    grid: Mapping[str, Sequence[Any]] | None,
    out: str | Path,
    *,
    seeds: Sequence[int] | None = None,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    num_cpus: float = 1,
    num_gpus: float = 0,
    group: int | None = None,
    progress: bool | None = None,
) -> list[RunResult]:
    """Train every grid point of ``base`` × ``grid`` × ``seeds`` into ``out/<run_name(config)>``.

    grid: ``{dotted field: values}`` (see :func:`expand_grid`, :func:`parse_grid`). executor: ``'local'``
    (``workers`` processes; default one per core, or one per visible GPU for ``device='cuda'`` runs) or
    ``'ray'`` (``address``: a cluster to join, default a new local instance; ``num_cpus`` / ``num_gpus``
    per run; ``out`` must be shared by all workers). group: ``None`` or 1 (default): each run trains on its own;
    K >= 2: same-shape runs train up to K at a time as one :func:`~hidcap.training.train_many` call (measured
    0.75-1.22x of the time of separate runs on a CPU, unmeasured on a GPU; docs/performance.md).
    Returns one :class:`RunResult` per run, in grid order,
    also written to ``out/summary.json`` / ``summary.csv``; a failed run does not stop the others.
    The runs are trained as :func:`train_runs` trains them, plus ``out/index.json`` / ``index.csv``.
    """
    _check_options(executor, workers, group, num_cpus, num_gpus)
    runs = expand_grid(base, grid, seeds)
    _check_ray_gpus(runs, executor, num_gpus)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    _write_index(out, runs)
    return _execute(runs, out, list(runs[0].params), executor=executor, workers=workers, address=address,
                    num_cpus=num_cpus, num_gpus=num_gpus, group=group, progress=progress, desc="sweep")


def format_table(results: Sequence[RunResult]) -> str:
    """The summary as an aligned text table (one row per run). When some runs trained together, a ``group``
    column names their ``train_many`` call (``g0 x3``: call 0, 3 runs), whose wall time each of them shows."""
    keys = list(results[0].params) if results else []
    grouped = any(r.group_id is not None for r in results)
    header = ["run", *keys, "status", "wall_s", *(["group"] if grouped else []), "final_loss"]
    rows = [[r.run, *(str(r.params.get(k)) for k in keys), r.status,
             "" if r.wall_s is None else f"{r.wall_s:.1f}",
             *([f"g{r.group_id} x{r.group}" if r.group_id is not None else "-"] if grouped else []),
             "" if r.final_loss is None else f"{r.final_loss:.4f}"]
            for r in results]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows])
