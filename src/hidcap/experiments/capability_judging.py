"""The decision rules of the hidden-capabilities probe (Park et al. 2024, Sec. 4.4, Fig. 6; docs/probes.md,
"Criterion: hidden_capabilities"): (a) capability before behaviour, (b) the turn of the held-out class's
trajectory at capability onset, (c) the real protocols beat their negative controls, each over seeds; and the
across-seed margins reported beside them.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hidcap.evaluation.onsets import earlier
from hidcap.evaluation.seeds import seed_margin

__all__ = ["judge_capability_first", "judge_controls", "judge_turn", "seed_margins"]


def judge_capability_first(seeds: Mapping[Any, Mapping[str, Any]]) -> dict[str, Any]:
    """Criterion (a) from per-seed onset intervals ``{seed: {"capability": OnsetInterval, "behaviour": OnsetInterval}}``
    (fresh samples, first crossing of the threshold).

    A seed is ``earlier`` when capability's onset is earlier than behaviour's beyond the intervals
    (:func:`hidcap.evaluation.earlier`; "never" is later than every step), ``later`` when behaviour's is earlier
    beyond them, else ``not_decided``. ``behaviour_reached``: seeds whose behaviour onset estimate is a step.
    passed: False if any seed is ``later``; True if every seed is ``earlier`` and behaviour reaches the threshold
    in at least one seed; None otherwise.
    """
    out: dict[str, list] = {"earlier": [], "later": [], "not_decided": [], "behaviour_reached": []}
    for seed, o in seeds.items():
        cap, beh = o["capability"], o["behaviour"]
        key = "earlier" if earlier(cap, beh) else "later" if earlier(beh, cap) else "not_decided"
        out[key].append(seed)
        if beh.estimate is not None:
            out["behaviour_reached"].append(seed)
    if not seeds:
        passed = None
    elif out["later"]:
        passed = False
    else:
        passed = True if (not out["not_decided"] and out["behaviour_reached"]) else None
    return {"passed": passed, **out}


def judge_turn(seeds: Mapping[Any, Mapping[str, Any]], tolerance: int) -> dict[str, Any]:
    """Criterion (b) from ``{seed: {"turn": i | None, "low": i | None, "high": i | None}}``: the turn's checkpoint
    index and the capability onset interval in checkpoint indices (``None`` = "never").

    ``coincide``: the whole onset interval lies within ``tolerance`` checkpoints of the turn; ``apart``: it lies
    entirely outside that window (an interval whose early end is "never" is apart); else ``not_decided``;
    ``no_turn``: seeds without a turn. passed: False if any seed is apart; True if at least one coincides and
    none is apart or not decided; None otherwise. ``offsets``: interval ends minus the turn.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    out: dict[str, Any] = {"coincide": [], "apart": [], "not_decided": [], "no_turn": [], "offsets": {}}
    for seed, o in seeds.items():
        turn, low, high = o["turn"], o["low"], o["high"]
        if turn is None:
            out["no_turn"].append(seed)
            continue
        out["offsets"][seed] = [None if low is None else low - turn, None if high is None else high - turn]
        if low is None or low > turn + tolerance or (high is not None and high < turn - tolerance):
            out["apart"].append(seed)
        elif high is not None and low >= turn - tolerance and high <= turn + tolerance:
            out["coincide"].append(seed)
        else:
            out["not_decided"].append(seed)
    if out["apart"]:
        passed = False
    else:
        passed = True if (out["coincide"] and not out["not_decided"]) else None
    return {"passed": passed, **out}


def judge_controls(seeds: Mapping[Any, Mapping[str, Any] | None]) -> dict[str, Any]:
    """Criterion (c) from ``{seed: controls_at_capability_onset}`` (``None`` when capability never reaches the
    threshold; ``beats`` None when the chosen protocol has no control, i.e. the naive prompt).

    ``beats``: the real protocol beats its control beyond the intervals; ``fails``: it does not (a control as
    good as the protocol fails the claim); ``no_control`` / ``no_onset``: not judged. passed: False if any seed
    fails; True if at least one beats and none fails; None otherwise.
    """
    out: dict[str, list] = {"beats": [], "fails": [], "no_control": [], "no_onset": []}
    for seed, c in seeds.items():
        if c is None:
            out["no_onset"].append(seed)
        elif c["beats"] is None:
            out["no_control"].append(seed)
        else:
            out["beats" if c["beats"] else "fails"].append(seed)
    passed = False if out["fails"] else True if out["beats"] else None
    return {"passed": passed, **out}


def seed_margins(per_seed: Mapping[Any, Mapping[str, Any]]) -> dict[str, Any]:
    """Across-seed margins (reported, not judged): mean over checkpoints of capability − behaviour (fresh),
    lead of capability onset over behaviour onset (steps; seeds where both are reached), and real − control
    at capability onset; each with per-seed values, spread and whether the spread decides it."""
    seeds = list(per_seed)
    out: dict[str, Any] = {"capability_minus_behaviour": seed_margin(
        [per_seed[s]["capability_minus_behaviour_mean"] for s in seeds], 0.0, seeds).to_dict()}
    lead = {s: r["lead_steps"] for s, r in per_seed.items() if r["lead_steps"] is not None}
    out["lead_steps"] = seed_margin(list(lead.values()), 0.0, list(lead)).to_dict() if lead else None
    ctl = {s: r["controls_at_capability_onset"] for s, r in per_seed.items()}
    diffs = {s: c["real"]["estimate"] - c["control"]["estimate"] for s, c in ctl.items() if c and c["control"]}
    out["real_minus_control_at_onset"] = seed_margin(list(diffs.values()), 0.0, list(diffs)).to_dict() if diffs else None
    return out
