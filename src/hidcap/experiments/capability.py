"""Capability-versus-behaviour experiments (Park et al. 2024, Sec. 4.4, Fig. 6 and 17): measuring a seed's run
(concept space, capability under four protocols and their negative controls, each protocol's chosen variant
scored again on fresh samples, embedding disentanglement; cached beside the run), the protocol curves with
95 % Wilson intervals, onsets with bootstrap intervals, the controls, the turn of the held-out class, and the
figures (per seed, per protocol beside its control, and the held-out class's concept-space trajectory). The
decision rules are those of docs/probes.md, "How a verdict is decided".
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hidcap.config_io import config_to_dict
from hidcap.data.concepts import ConceptDataSpec
from hidcap.evaluation.elicitation import CapabilityTable, capability
from hidcap.evaluation.protocols import control_protocols
from hidcap.evaluation.concept_scores import ConceptSpace, concept_space
from hidcap.evaluation.curves import find_turn, first_crossing, onset_index
from hidcap.evaluation.embedding_factors import embedding_disentanglement
from hidcap.evaluation.intervals import beats, beats_control, wilson_bounds, wilson_interval
from hidcap.evaluation.onsets import OnsetInterval, earlier, onset_interval
from hidcap.experiments.cache import cached
from hidcap.experiments.probe_args import ProbeArgs
from hidcap.plotting import figure, save
from hidcap.experiments.probe_runs import train_all
from hidcap.runs import CheckpointSeries


TARGET = "11"


PROTOCOLS = ("naive", "overprompt", "intervention", "patch")
#: The real protocols that have a negative control, and the control's name (``control_protocols``).
CONTROLLED = ("overprompt", "intervention", "patch")
CONTROL_OF = {p: f"{p}-control" for p in CONTROLLED}
#: The fresh samples of seed s are drawn with generator seed s + FRESH_SEED_OFFSET (selection control).
FRESH_SEED_OFFSET = 100_003
#: Version of what measure_seed measures (part of its cache key).
MEASURE_VERSION = "fresh+matched-controls-2"


def protocol_curves(table: CapabilityTable, cls: str = TARGET) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(steps (T,), {protocol: best accuracy over its variants (T,)})`` of class ``cls``, plus
    ``"capability"`` (best over all) and ``"behaviour"`` (the naive prompt's)."""
    rows = [r for r in table.variants if r["class"] == cls]
    if not rows:
        raise KeyError(f"class {cls!r} was not measured")
    steps = np.array(sorted({r["step"] for r in rows}))
    index = {int(s): i for i, s in enumerate(steps)}
    names = list(dict.fromkeys(r["protocol"] for r in rows))
    curves = {n: np.full(steps.size, np.nan) for n in names}
    for r in rows:
        i = index[int(r["step"])]
        curves[r["protocol"]][i] = np.nanmax([curves[r["protocol"]][i], r[table.metric]])
    curves["capability"] = table.curve(cls, "capability")[1]
    curves["behaviour"] = table.curve(cls, "behaviour")[1]
    return steps, curves


def neighbour_corners(target: str, classes: Sequence[str]) -> dict[str, np.ndarray]:
    """Concept-space corners of the ``classes`` one concept (bit) away from ``target``."""
    out = {}
    for c in classes:
        if len(c) != len(target):
            raise ValueError(f"class {c!r} and target {target!r} have different lengths")
        if sum(a != b for a, b in zip(c, target)) == 1:
            out[c] = np.array([float(b) for b in c])
    return out


COLOURS = {"naive": "tab:gray", "overprompt": "tab:orange", "intervention": "tab:blue", "patch": "tab:green",
           "capability": "black", "behaviour": "tab:gray"}
TITLES = {"naive": "naive prompt (behaviour)", "overprompt": "overprompting", "intervention": "linear latent intervention",
          "patch": "embedding patching", "capability": "capability (best of all)"}


def _band(r: Mapping[str, Any], name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f = r["fresh"][name]
    return np.array(f["estimate"]), np.array(f["low"]), np.array(f["high"])


#: What each protocol's negative control does (:func:`hidcap.evaluation.protocols.control_protocols`).
CONTROL_TITLES = {"overprompt": "off-concept overprompting", "intervention": "random-direction intervention",
                  "patch": "another seed's patch"}


def plot_fig6(per_seed: Mapping[int, Mapping[str, Any]], threshold: float, path: Path) -> Path:
    """Paper layout as small multiples: one column per protocol (and capability), one row per seed; fresh-sample
    accuracy of class ``TARGET`` with its 95 % Wilson band, and in the protocol columns the protocol's negative
    control dashed beside it (the column title names it). One legend under the grid names every line style.

    per_seed: seed -> :func:`analyse_seed` result (``steps``, ``fresh``); threshold: the onset threshold
    (dotted). Returns ``path``."""
    if not per_seed:
        raise ValueError("per_seed must hold at least one seed")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    names = [*PROTOCOLS, "capability"]
    seeds = list(per_seed)
    fig = figure((2.7 * len(names) + 0.6, 1.9 * len(seeds) + 1.5))
    axes = fig.subplots(len(seeds), len(names), sharex=True, sharey=True, squeeze=False)
    for i, (seed, r) in enumerate(per_seed.items()):
        for j, name in enumerate(names):
            ax = axes[i, j]
            col = COLOURS[name]
            est, low, high = _band(r, name)
            ax.plot(r["steps"], est, "-o", ms=2.5, lw=1.4, color=col)
            ax.fill_between(r["steps"], low, high, color=col, alpha=0.18, lw=0)
            if name in CONTROL_OF:
                est, low, high = _band(r, CONTROL_OF[name])
                ax.plot(r["steps"], est, "--", lw=1.2, color="0.35")
                ax.fill_between(r["steps"], low, high, facecolor="none", edgecolor="0.6", lw=0, hatch="///")
            ax.axhline(threshold, color="0.5", ls=":", lw=1)
            ax.set_ylim(-0.03, 1.03)
            if i == 0:
                ax.set_title(TITLES[name] + (f"\ncontrol: {CONTROL_TITLES[name]}" if name in CONTROL_TITLES else ""),
                             fontsize=9)
            if i == len(seeds) - 1:
                ax.set_xlabel("training step")
            if j == 0:
                ax.set_ylabel(f"seed {seed}\naccuracy", fontsize=9)
    handles = [
        Line2D([], [], color="0.2", ls="-", marker="o", ms=2.5, lw=1.4),
        Patch(color="0.2", alpha=0.18, lw=0),
        Line2D([], [], color="0.35", ls="--", lw=1.2),
        Patch(facecolor="none", edgecolor="0.6", hatch="///", lw=0),
        Line2D([], [], color="0.5", ls=":", lw=1),
    ]
    labels = [
        "solid: the protocol (column), fresh samples",
        "shaded: its 95 % Wilson band",
        "dashed: the protocol's negative control (named in the column title)",
        "hatched: the control's 95 % Wilson band",
        f"dotted: onset threshold {threshold:g}",
    ]
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"joint accuracy of class {TARGET} ({ConceptDataSpec().describe(TARGET)}) per elicitation protocol "
                 "(columns) and seed (rows)", fontsize=10)
    fig.tight_layout(rect=(0, 0.55 / (1.9 * len(seeds) + 1.5), 1, 1))
    return save(fig, path, tight=False)


def _onset_span(ax: Any, onset: Mapping[str, Any], steps: Sequence[int], color: str, y: float) -> None:
    """The onset's bootstrap interval as a horizontal bar at height ``y`` (open-ended: to the last step, with an arrow)."""
    if onset["low"] is None:
        return
    high = steps[-1] if onset["high"] is None else onset["high"]
    ax.plot([onset["low"], high], [y, y], color=color, lw=4, alpha=0.5, solid_capstyle="butt")
    if onset["high"] is None:
        ax.annotate("", xy=(steps[-1], y), xytext=(steps[-1] - 0.06 * (steps[-1] - steps[0]), y),
                    arrowprops={"arrowstyle": "->", "color": color})


def plot_per_seed(per_seed: Mapping[int, Mapping[str, Any]], threshold: float, path: Path) -> Path:
    """One panel per seed: every protocol and capability (fresh samples, Wilson bands), with the capability and
    behaviour onsets' bootstrap intervals (bars) and the turn."""
    from matplotlib.lines import Line2D

    n = len(per_seed)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = figure((max(4.2 * cols, 8.0), 3.1 * rows + 0.6))
    axes = np.atleast_1d(fig.subplots(rows, cols, sharey=True, squeeze=False)).ravel()
    for ax, (seed, r) in zip(axes, per_seed.items()):
        for name in (*PROTOCOLS, "capability"):
            est, low, high = _band(r, name)
            main = name == "capability"
            ax.plot(r["steps"], est, "--" if main else "-", marker="o", ms=2.5, lw=2.0 if main else 1.2,
                    color=COLOURS[name], label=TITLES[name] + (" (dashed)" if main else ""), alpha=0.9)
            ax.fill_between(r["steps"], low, high, color=COLOURS[name], alpha=0.15 if name in ("capability", "naive") else 0.06,
                            lw=0)
        ax.axhline(threshold, color="0.5", ls=":", lw=1, label=f"onset threshold {threshold:g} (dotted)")
        _onset_span(ax, r["onset"]["capability"], r["steps"], "black", 0.05)
        _onset_span(ax, r["onset"]["behaviour"], r["steps"], "tab:gray", 0.10)
        marks = [("capability", "black", "-", "capability onset"), ("behaviour", "tab:gray", "--", "behaviour onset")]
        for key, col, ls, lab in marks:
            s = r["onset_step"][key]
            if s is not None:
                ax.axvline(s, color=col, ls=ls, lw=1, alpha=0.7, label=lab)
        if r["turn"]["step"] is not None:
            ax.axvline(r["turn"]["step"], color="tab:red", ls="-.", lw=1.2, label=f"turn (leaves {r['turn']['corner']})")
        ax.set_title(f"seed {seed} (bars: onset 95 % intervals)", fontsize=9)
        ax.set_xlabel("training step")
        ax.set_ylim(-0.03, 1.03)
    for ax in axes[n:]:
        ax.set_visible(False)
    for ax in axes[::cols]:
        ax.set_ylabel(f"joint accuracy, class {TARGET} (fresh)")
    handles, labels = {}, []
    for ax in axes[:n]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            key = lab.split(" (")[0]
            if key not in handles:
                handles[key] = h
                labels.append(lab if not lab.startswith("turn") else "turn (departure from memorisation)")
    handles["bars"] = Line2D([], [], color="0.3", lw=4, alpha=0.5)
    labels.append("bars: 95 % onset intervals (dark: capability, light: behaviour)")
    fig.legend(list(handles.values()), labels, loc="lower center", ncol=3, fontsize=7.5, frameon=False)
    fig.tight_layout(rect=(0, (0.25 * math.ceil(len(labels) / 3) + 0.1) / (3.1 * rows + 0.6), 1, 1))
    return save(fig, path, tight=False)


def plot_trajectories(per_seed: Mapping[int, Mapping[str, Any]], concepts: Sequence[str], path: Path,
                      radius: float) -> Path:
    """Trajectories of class 11 in the (colour, size) square, one per seed; x = turn, star = capability onset."""
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    fig = figure((5.4, 5.9))
    ax = fig.add_subplot()
    for bits in ("00", "01", "10", "11"):
        x, y = float(bits[0]), float(bits[1])
        ax.scatter(x, y, color="0.6", s=30, marker="s")
        ax.text(x + (-0.08 if x == 0 else 0.03), y + (-0.07 if y == 0 else 0.03), bits, color="0.3", fontsize=10)
        if bits in ("01", "10"):
            ax.add_patch(Rectangle((x - radius, y - radius), 2 * radius, 2 * radius, fill=False, ls=":", ec="0.6"))
    ax.plot([0, 1, 1, 0, 0], [0, 0, 1, 1, 0], color="0.85", lw=1, zorder=0)
    cmap = colormaps["tab10"]
    for k, (seed, r) in enumerate(per_seed.items()):
        pts = np.array(r["trajectory_11"])
        col = cmap(k % 10)
        ax.plot(pts[:, 0], pts[:, 1], "-", color=col, lw=1.3, alpha=0.85, label=f"seed {seed}")
        ax.scatter(pts[:, 0], pts[:, 1], color=col, s=10, alpha=0.6)
        ax.scatter(*pts[0], facecolors="none", edgecolors=[col], s=50)
        ax.scatter(*pts[-1], color=col, s=50)
        if r["turn"]["index"] is not None:
            ax.scatter(*pts[r["turn"]["index"]], marker="X", color=col, s=110, edgecolors="k", linewidths=0.6)
        ci = r["onset_index"]["capability"]
        if ci is not None:
            ax.scatter(*pts[ci], marker="*", color=col, s=170, edgecolors="k", linewidths=0.6)
    ax.scatter([], [], marker="X", color="0.5", s=80, label="turn (departure)")
    ax.scatter([], [], marker="*", color="0.5", s=120, label="capability onset")
    ax.set_xlim(-0.12, 1.12)
    ax.set_ylim(-0.12, 1.12)
    ax.set_aspect("equal")
    ax.set_xlabel(f"P({concepts[0]} = blue)")
    ax.set_ylabel(f"P({concepts[1]} = small)")
    ax.set_title(f"class {TARGET} in concept space (hollow: first checkpoint, filled: last;\n"
                 f"dotted squares: memorisation neighbourhoods)", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=4)
    fig.tight_layout()
    fig.savefig(path)
    return path


def _tag(st: Any, spec: Any, args: ProbeArgs) -> str:
    """Run-folder name: the separation and a hash of the training config (a changed config gets a new run)."""
    cfg = config_to_dict(st.scale.train_config(spec, 0, args.device))
    digest = hashlib.sha1(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"sep{st.separation:g}_{digest}"


def train_seeds(args: ProbeArgs, st: Any, spec: Any, seeds: Sequence[int] | None = None) -> dict[int, CheckpointSeries]:
    """Train (or reuse) the run of every seed (default ``args.seeds``) in one :func:`train_all` call, so that
    ``--executor`` spreads them and same-shape seeds train together; ``{seed: series}``."""
    seeds = list(args.seeds if seeds is None else seeds)
    tag = _tag(st, spec, args)
    series = train_all(args, {(tag, seed): st.scale.train_config(spec, seed, args.device) for seed in seeds})
    return {seed: series[(tag, seed)] for seed in seeds}


def measure_seed(args: ProbeArgs, st: Any, spec: Any, probe: Any, seed: int,
                 all_classes: bool = True, series: CheckpointSeries | None = None,
                 donor: CheckpointSeries | None = None) -> dict[str, Any]:
    """Measure seed ``seed``'s run (trained by :func:`train_seeds`; ``series`` None: trained or reused here);
    measurements are cached beside the run. donor: another seed's run, whose conditioning MLPs the patch
    control patches in (:class:`~hidcap.evaluation.protocols.OtherSeedPatch`; required).

    all_classes: place every class in concept space (else only the held-out class, which the verdict needs)."""
    if donor is None:
        raise ValueError("measure_seed needs donor= (another seed's run): the patch control patches its conditioning MLPs")
    if series is None:
        series = train_seeds(args, st, spec, [seed])[seed]
    run_dir = series.run_dir
    classes = spec.all_classes if all_classes else (TARGET,)
    lax = not st.scale.strict_probe

    def compute() -> tuple[CapabilityTable, ConceptSpace, list[float]]:
        space = concept_space(series, spec, probe, classes=classes, samples_per_class=st.samples, seed=seed,
                              steps=st.sample_steps, allow_inaccurate_probe=lax, progress=args.progress)
        protocols = st.protocols()
        table = capability(series, spec, probe, classes=(TARGET,), samples_per_class=st.samples, seed=seed,
                           protocols=protocols, controls=tuple(control_protocols(protocols, seed=seed, donor=donor).values()),
                           fresh_seed=seed + FRESH_SEED_OFFSET, steps=st.sample_steps, allow_inaccurate_probe=lax,
                           progress=args.progress)
        return table, space, [embedding_disentanglement(series.load(s), spec).mean for s in series.steps]

    def save(value: tuple, folder: Path) -> None:
        value[0].to_json(folder / "capability.json")
        value[1].to_json(folder / "concept_space.json")
        (folder / "disentanglement.json").write_text(json.dumps(value[2]) + "\n")

    def load(folder: Path) -> tuple:
        return (CapabilityTable.from_json(folder / "capability.json"),
                ConceptSpace.from_json(folder / "concept_space.json"),
                json.loads((folder / "disentanglement.json").read_text()))

    key = repr((st, seed, series.steps, classes, str(donor.run_dir), MEASURE_VERSION))
    table, space, dis = cached(run_dir / "measured", key, compute, save, load, name="key.json")
    out = args.out / f"seed{seed}"
    table.to_csv(out / "capability.csv")
    table.to_csv(out / "capability_variants.csv", "variants")
    table.to_csv(out / "capability_fresh.csv", "fresh")
    space.to_json(out / "concept_space.json")
    return {"series": series, "table": table, "space": space, "disentanglement": dis}


def interval_curve(steps: Sequence[int], correct: np.ndarray) -> dict[str, list]:
    """``{"estimate", "low", "high", "n"}`` per checkpoint: accuracy and 95 % Wilson interval of correct (T, n)."""
    low, high = wilson_bounds(correct.sum(axis=1), correct.shape[1])
    return {"estimate": correct.mean(axis=1).tolist(), "low": low.tolist(), "high": high.tolist(),
            "n": int(correct.shape[1])}


def _interval_at(curve: Mapping[str, Any], i: int) -> Any:
    k = round(curve["estimate"][i] * curve["n"])
    return wilson_interval(int(k), int(curve["n"]))


def first_crossing_onset(threshold: float) -> Any:
    """``onset(steps, curve)``: the first checkpoint whose accuracy reaches ``threshold`` (>=, no smoothing)."""
    return lambda steps, curve: first_crossing(steps, curve, threshold)


def onset_intervals(steps: Sequence[int], correct: Mapping[str, np.ndarray], threshold: float, seed: int,
                    n_boot: int = 2000) -> dict[str, OnsetInterval]:
    """Bootstrap interval (over samples) of the first crossing of ``threshold`` of each (T, n) or (S, T, n) curve."""
    return {name: onset_interval(steps, c, first_crossing_onset(threshold), n_boot=n_boot, rng=seed)
            for name, c in correct.items()}


def controls_at(table: CapabilityTable, fresh: Mapping[str, Mapping[str, Any]], steps: Sequence[int],
                index: int | None) -> dict[str, Any] | None:
    """At checkpoint ``index`` (capability onset): the protocol chosen for capability there, its fresh interval,
    its control's fresh interval, and whether the real protocol beats the control beyond the intervals."""
    if index is None:
        return None
    best = next(r for r in table.summary if r["class"] == TARGET and r["step"] == steps[index])
    proto = best["best_protocol"]
    real = _interval_at(fresh[proto], index)
    out: dict[str, Any] = {"step": int(steps[index]), "protocol": proto, "variant": best["best_variant"],
                           "real": real.to_dict(), "control": None, "control_variant": None, "beats": None}
    if proto in CONTROL_OF:
        ctl_name = CONTROL_OF[proto]
        ctl = _interval_at(fresh[ctl_name], index)
        out.update(control=ctl.to_dict(), control_variant=fresh[ctl_name]["variant"][index],
                   beats=beats_control(real, ctl))
    return out


def analyse_seed(st: Any, spec: Any, m: Mapping[str, Any], seed: int = 0) -> dict[str, Any]:
    """The per-seed numbers of the verdict from one seed's measurements: selection-set curves; fresh-sample
    curves of every protocol, control, capability and behaviour with 95 % Wilson intervals; onsets (first
    crossing of the threshold on fresh samples) with bootstrap intervals; the controls at capability onset
    and at every checkpoint; the turn; disentanglement."""
    table: CapabilityTable = m["table"]
    steps, curves = protocol_curves(table)
    t_steps, traj = m["space"].trajectory(TARGET)
    if not np.array_equal(t_steps, steps):
        raise ValueError(f"concept-space steps {t_steps.tolist()} differ from capability steps {steps.tolist()}")
    turn = find_turn(steps, traj, neighbour_corners(TARGET, spec.train_classes), st.radius)
    # ---- fresh samples: each protocol's chosen variant, capability and behaviour (same budget)
    names = [*PROTOCOLS, *CONTROL_OF.values()]
    correct = {n: table.correct(TARGET, n)[1] for n in names}
    correct["capability"] = table.correct(TARGET)[1]
    correct["behaviour"] = correct[table.naive]
    fresh = {n: interval_curve(steps, c) for n, c in correct.items()}
    variant_of = {(r["step"], r["protocol"]): r["variant"] for r in table.fresh if r["class"] == TARGET}
    for n in names:
        fresh[n]["variant"] = [variant_of[(int(s), n)] for s in steps]
    best = {r["step"]: r for r in table.summary if r["class"] == TARGET}
    fresh["capability"]["variant"] = [best[int(s)]["best_variant"] for s in steps]
    fresh["behaviour"]["variant"] = [table.naive] * len(steps)
    selection = {n: interval_curve(steps, table.correct(TARGET, n, fresh=False)[1]) for n in names}
    # ---- onsets (fresh), with bootstrap intervals over the fresh samples
    onsets = onset_intervals(steps, {"capability": correct["capability"], "behaviour": correct["behaviour"]},
                             st.threshold, seed)
    onset_idx = {k: onset_index(steps, fresh[k]["estimate"], st.threshold) for k in ("capability", "behaviour")}
    cap_i, beh_i = onset_idx["capability"], onset_idx["behaviour"]
    by_ckpt = {}
    for p, c in CONTROL_OF.items():
        real = [_interval_at(fresh[p], i) for i in range(len(steps))]
        ctl = [_interval_at(fresh[c], i) for i in range(len(steps))]
        by_ckpt[p] = {"beats": [beats_control(a, b) for a, b in zip(real, ctl)],
                      "control_beats": [beats(b, a) for a, b in zip(real, ctl)]}
    dis = list(m["disentanglement"])
    cs_steps, cs_acc = m["space"].accuracy_curve(TARGET)
    n_cs = {r["step"]: r["n_samples"] for r in m["space"].accuracy if r["class"] == TARGET}
    k_cs = np.rint(cs_acc * np.array([n_cs[int(s)] for s in cs_steps])).astype(int)
    cs_low, cs_high = wilson_bounds(k_cs, [n_cs[int(s)] for s in cs_steps])
    gap = np.array(fresh["capability"]["estimate"]) - np.array(fresh["behaviour"]["estimate"])
    return {
        "steps": steps.tolist(),
        "curves": {k: v.tolist() for k, v in curves.items()},
        "selection": selection,
        "fresh": fresh,
        "onset": {k: v.to_dict() for k, v in onsets.items()},
        "onset_index": onset_idx,
        "onset_step": {k: (None if i is None else int(steps[i])) for k, i in onset_idx.items()},
        "capability_earlier": earlier(onsets["capability"], onsets["behaviour"]),
        "behaviour_earlier": earlier(onsets["behaviour"], onsets["capability"]),
        "best_at_capability_onset": None if cap_i is None else fresh["capability"]["variant"][cap_i],
        "controls_at_capability_onset": controls_at(table, fresh, steps.tolist(), cap_i),
        "controls_by_checkpoint": by_ckpt,
        "lead_checkpoints": None if cap_i is None or beh_i is None else beh_i - cap_i,
        "lead_steps": None if cap_i is None or beh_i is None else int(steps[beh_i] - steps[cap_i]),
        "capability_minus_behaviour_mean": float(gap.mean()),
        "trajectory_11": traj.tolist(),
        "naive_accuracy_concept_space": {"estimate": cs_acc.tolist(), "low": cs_low.tolist(), "high": cs_high.tolist()},
        "turn": {"corner": turn.corner, "visits": turn.visits, "index": turn.index, "step": turn.step,
                 "sharpest_index": turn.sharpest_index, "sharpest_step": turn.sharpest_step,
                 "sharpest_angle_deg": turn.sharpest_angle},
        "disentanglement": dis,
        "final": {k: _interval_at(v, len(steps) - 1).to_dict() | {"variant": v["variant"][-1]} for k, v in fresh.items()},
        "final_selection": {k: v[-1] for k, v in curves.items()},
    }
