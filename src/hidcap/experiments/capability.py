"""Capability-versus-behaviour experiments (Park et al. 2024, Sec. 4.4, Fig. 6 and 17): measuring a seed's run
(concept space, capability under four protocols, embedding disentanglement; cached beside the run), the
protocol curves, onsets and the turn of the held-out class, and the figures (per seed, per protocol, and the
held-out class's concept-space trajectory).
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
from hidcap.evaluation.capability import CapabilityTable, capability
from hidcap.evaluation.concept_space import ConceptSpace, concept_space
from hidcap.evaluation.curves import find_turn, onset_index
from hidcap.evaluation.disentanglement import embedding_disentanglement
from hidcap.experiments.cache import cached
from hidcap.experiments.cli import ProbeArgs
from hidcap.plotting import figure
from hidcap.training import train


TARGET = "11"


PROTOCOLS = ("naive", "overprompt", "intervention", "patch")


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
           "capability": "black"}


def plot_fig6(per_seed: Mapping[int, Mapping[str, Any]], threshold: float, path: Path) -> Path:
    """Paper layout: one panel per protocol (and capability), one curve per seed."""
    from matplotlib import colormaps

    names = [*PROTOCOLS, "capability"]
    fig = figure((3.1 * len(names), 3.2))
    axes = fig.subplots(1, len(names), sharey=True)
    cmap = colormaps["tab10"]
    for ax, name in zip(axes, names):
        for k, (seed, r) in enumerate(per_seed.items()):
            ax.plot(r["steps"], r["curves"][name], "-o", ms=2.5, lw=1.3, color=cmap(k % 10), label=f"seed {seed}")
        ax.axhline(threshold, color="0.5", ls=":", lw=1)
        ax.set_title({"naive": "naive prompt (behaviour)", "overprompt": "overprompting",
                      "intervention": "linear latent intervention", "patch": "embedding patching",
                      "capability": "capability (best of all)"}[name], fontsize=9)
        ax.set_xlabel("training step")
        ax.set_ylim(-0.03, 1.03)
    axes[0].set_ylabel(f"joint accuracy, class {TARGET}")
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_per_seed(per_seed: Mapping[int, Mapping[str, Any]], threshold: float, path: Path) -> Path:
    """One panel per seed: every protocol and capability, with capability/behaviour onsets and the turn."""
    n = len(per_seed)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = figure((max(4.2 * cols, 8.0), 3.1 * rows + 0.6))
    axes = np.atleast_1d(fig.subplots(rows, cols, sharey=True, squeeze=False)).ravel()
    for ax, (seed, r) in zip(axes, per_seed.items()):
        for name in (*PROTOCOLS, "capability"):
            ax.plot(r["steps"], r["curves"][name], "-" if name != "capability" else "--", marker="o", ms=2.5,
                    lw=1.2 if name != "capability" else 2.0, color=COLOURS[name], label=name, alpha=0.9)
        ax.axhline(threshold, color="0.5", ls=":", lw=1)
        marks = [("capability", "black", "-", "capability onset"), ("behaviour", "tab:gray", "--", "behaviour onset")]
        for key, col, ls, lab in marks:
            s = r["onset_step"][key]
            if s is not None:
                ax.axvline(s, color=col, ls=ls, lw=1, alpha=0.7, label=lab)
        if r["turn"]["step"] is not None:
            ax.axvline(r["turn"]["step"], color="tab:red", ls="-.", lw=1.2, label=f"turn (leaves {r['turn']['corner']})")
        ax.set_title(f"seed {seed}", fontsize=9)
        ax.set_xlabel("training step")
        ax.set_ylim(-0.03, 1.03)
    for ax in axes[n:]:
        ax.set_visible(False)
    for ax in axes[::cols]:
        ax.set_ylabel(f"joint accuracy, class {TARGET}")
    handles, labels = {}, []
    for ax in axes[:n]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            key = lab.split(" (")[0]
            if key not in handles:
                handles[key] = h
                labels.append(lab if not lab.startswith("turn") else "turn (departure from memorisation)")
    fig.legend(list(handles.values()), labels, loc="lower center", ncol=min(len(labels), 4), fontsize=7.5)
    fig.tight_layout(rect=(0, 0.16 if rows == 1 else 0.08, 1, 1))
    fig.savefig(path)
    return path


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


def measure_seed(args: ProbeArgs, st: Any, spec: Any, probe: Any, seed: int,
                 all_classes: bool = True) -> dict[str, Any]:
    """Train (or reuse) seed ``seed``'s run and measure it; measurements are cached beside the run.

    all_classes: place every class in concept space (else only the held-out class, which the verdict needs)."""
    run_dir = args.run_dir(_tag(st, spec, args), seed)
    series = train(st.scale.train_config(spec, seed, args.device), run_dir, progress=args.progress)
    classes = spec.all_classes if all_classes else (TARGET,)
    lax = not st.scale.strict_probe

    def compute() -> tuple[CapabilityTable, ConceptSpace, list[float]]:
        space = concept_space(series, spec, probe, classes=classes, samples_per_class=st.samples, seed=seed,
                              steps=st.sample_steps, allow_inaccurate_probe=lax, progress=args.progress)
        table = capability(series, spec, probe, classes=(TARGET,), samples_per_class=st.samples, seed=seed,
                           protocols=st.protocols(), steps=st.sample_steps, allow_inaccurate_probe=lax,
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

    key = repr((st, seed, series.steps, classes))
    table, space, dis = cached(run_dir / "measured", key, compute, save, load, name="key.json")
    out = args.out / f"seed{seed}"
    table.to_csv(out / "capability.csv")
    table.to_csv(out / "capability_variants.csv", "variants")
    space.to_json(out / "concept_space.json")
    return {"series": series, "table": table, "space": space, "disentanglement": dis}


def analyse_seed(st: Any, spec: Any, m: Mapping[str, Any]) -> dict[str, Any]:
    """The per-seed numbers of the verdict from one seed's measurements."""
    steps, curves = protocol_curves(m["table"])
    t_steps, traj = m["space"].trajectory(TARGET)
    if not np.array_equal(t_steps, steps):
        raise ValueError(f"concept-space steps {t_steps.tolist()} differ from capability steps {steps.tolist()}")
    turn = find_turn(steps, traj, neighbour_corners(TARGET, spec.train_classes), st.radius)
    onsets = {name: onset_index(steps, v, st.threshold) for name, v in curves.items()}
    cap_i, beh_i = onsets["capability"], onsets["behaviour"]
    best = {r["step"]: r for r in m["table"].summary if r["class"] == TARGET}
    return {
        "steps": steps.tolist(),
        "curves": {k: v.tolist() for k, v in curves.items()},
        "onset_index": onsets,
        "onset_step": {k: (None if i is None else int(steps[i])) for k, i in onsets.items()},
        "best_at_capability_onset": None if cap_i is None else best[int(steps[cap_i])]["best_variant"],
        "lead_checkpoints": None if cap_i is None or beh_i is None else beh_i - cap_i,
        "lead_steps": None if cap_i is None or beh_i is None else int(steps[beh_i] - steps[cap_i]),
        "trajectory_11": traj.tolist(),
        "naive_accuracy_concept_space": m["space"].accuracy_curve(TARGET)[1].tolist(),
        "turn": {"corner": turn.corner, "visits": turn.visits, "index": turn.index, "step": turn.step,
                 "sharpest_index": turn.sharpest_index, "sharpest_step": turn.sharpest_step,
                 "sharpest_angle_deg": turn.sharpest_angle},
        "disentanglement": list(m["disentanglement"]),
        "final": {k: v[-1] for k, v in curves.items()},
    }
