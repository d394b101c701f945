"""Each probe's ``decide(measurements)`` on synthetic saved measurements (the JSON form ``--decide`` reads) that
pass, fail and stay undetermined. concept_signal and underspecification: ``test_decide_on_synthetic_runs`` in their
own files (their criteria never stay undetermined, like torus_geometry, percolation and multiplicative_emergence here: what
is not decided fails; there the tests show that fail)."""
import json

import pytest

from hidcap.theory import critical_time

from .conftest import load


def saved(params, data, seeds=(0, 1, 2)):
    """Measurements as ``--decide`` reads them back (through JSON)."""
    return json.loads(json.dumps({"params": params, "data": data, "seeds": list(seeds)}))


def wilson(p, half=0.05):
    return {"estimate": p, "low": max(0.0, p - half), "high": min(1.0, p + half), "n": 1024, "method": "wilson",
            "level": 0.95}


def onset(estimate, low, high, n=24):
    return {"estimate": estimate, "low": low, "high": high, "never": 0.0, "n": n, "n_boot": 2000,
            "method": "bootstrap:samples", "level": 0.95}


# ------------------------------------------------------------------------------------------ torus_geometry
def _torus_seed(seed, acc=0.9, rise=True, betti=(1, 2, 1), clifford=True, not_parallel=True):
    return {"seed": seed, "accuracy_interval": wilson(acc), "rise_then_fall": {"passed": rise}, "betti": list(betti),
            "torus_tests": {"x_on_y_clifford": clifford, "within_variable_not_parallel": not_parallel}}


def test_torus_decide():
    torus = load("torus_geometry")
    good = saved({}, {"per_seed": [_torus_seed(s) for s in range(3)]})
    v = torus.decide(good)
    assert v.passed is True and v.parts["majority"]["betti_121"]["seeds_holding"] == [0, 1, 2]
    two_bad = saved({}, {"per_seed": [_torus_seed(0), _torus_seed(1, betti=(1, 0, 0)), _torus_seed(2, betti=(1, 1, 0))]})
    assert torus.decide(two_bad).passed is False
    one_bad = saved({}, {"per_seed": [_torus_seed(0), _torus_seed(1, acc=0.3), _torus_seed(2)]})
    assert torus.decide(one_bad).passed is True  # the majority rule
    # a rise-then-fall that cannot be judged (None) is not undetermined: it fails
    unjudged = saved({}, {"per_seed": [_torus_seed(s, rise=None) for s in range(3)]})
    assert torus.decide(unjudged).passed is False


# ------------------------------------------------------------------------------------------ percolation
def _perc_row(sigma, lam, width, connects=True, h=0.02):
    iv = {"estimate": lam, "low": None if lam is None else lam - h, "high": None if lam is None else lam + h,
          "never": 0.0 if lam is not None else 1.0,
          "rise_width": {"estimate": width, "low": None if width is None else width - h,
                         "high": None if width is None else width + h}}
    return {"sigma": sigma, "connects": connects, "lambda_c_interval": iv, "per_seed": {"0": iv}}


def test_percolation_decide():
    perc = load("percolation")
    rows = [_perc_row(0.1, None, None, connects=False), _perc_row(0.2, 0.59, 0.2), _perc_row(1.0, 0.03, 0.05)]
    v = perc.decide(saved({}, {"simulation": rows, "models_trained": False, "model_means": []}, seeds=(0,)))
    assert v.passed is True and v.parts["simulation_per_seed_verdicts"]["0"]["passed"] is True
    assert v.parts["models_passed"] is None
    backwards = [_perc_row(0.2, 0.1, 0.2), _perc_row(1.0, 0.5, 0.2)]
    v = perc.decide(saved({}, {"simulation": backwards, "models_trained": False, "model_means": []}, seeds=(0,)))
    assert v.passed is False and "does not move" in v.summary
    # thresholds inside each other's intervals are not decided: fail, never undetermined
    close = [_perc_row(0.2, 0.30, 0.2, h=0.05), _perc_row(1.0, 0.25, 0.2, h=0.05)]
    assert perc.decide(saved({}, {"simulation": close, "models_trained": False, "model_means": []}, (0,))).passed is False
    # with trained models, models that never reach the accuracy level fail the claim
    models = [{"sigma": s, "lambda": lam, "accuracy": 0.1, "accuracy_low": 0.0, "accuracy_high": 0.2}
              for s in (0.3, 1.0) for lam in (0.5, 1.0)]
    v = perc.decide(saved({}, {"simulation": rows, "models_trained": True, "model_means": models}, seeds=(0,)))
    assert v.passed is False and v.parts["models_passed"] is False


# ------------------------------------------------------------------------------------------ compose_interpolate
def _iv(p, half=0.05):
    return {"estimate": p, "low": max(0.0, p - half), "high": min(1.0, p + half), "n": 100,
            "method": "bootstrap:seeds+samples", "level": 0.95}


def _q(train=0.9, composed=0.9, interpolated=0.1, held=0.05, crossing=None, either=0.9, half=0.05):
    return {"train_joint": _iv(train, half), "composed": _iv(composed, half), "interpolated": _iv(interpolated, half),
            "held_joint": _iv(held, half), "held_crossing": _iv(held if crossing is None else crossing, half),
            "all_either": _iv(either, half)}


def test_compose_decide():
    ci = load("compose_interpolate")
    paper = {"2d": _q(), "2d+1d": _q(held=0.8), "1d": _q(train=0.0, composed=0.5, interpolated=0.5, held=0.1,
                                                        crossing=0.0)}
    v = ci.decide(saved({}, {"pooled": paper}))
    assert v.passed is True and v.parts["parts"]["iii_2d1d_beats_2d"] is True
    interpolates = dict(paper, **{"2d": _q(interpolated=0.8)})
    assert ci.decide(saved({}, {"pooled": interpolates})).passed is False
    # a margin inside the intervals is not decided: fail
    wide = dict(paper, **{"2d+1d": _q(held=0.4, half=0.2)})
    assert ci.decide(saved({}, {"pooled": wide})).passed is False
    # without 2D+1D, part (iii) is not evaluated and the others decide; with 1D alone nothing can: undetermined
    v = ci.decide(saved({}, {"pooled": {"2d": _q()}}))
    assert v.passed is True and v.parts["parts"]["iii_2d1d_beats_2d"] is None
    assert ci.decide(saved({}, {"pooled": {"1d": paper["1d"]}})).passed is None


# ------------------------------------------------------------------------------------------ hidden_capabilities
def _hc_seed(cap, beh, turn, beats=True, steps=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)):
    return {"onset": {"capability": onset(*cap), "behaviour": onset(*beh)}, "steps": list(steps),
            "controls_at_capability_onset": None if cap[0] is None else {"beats": beats}, "turn_index": turn}


HC_PARAMS = {"samples": 24, "fresh_seed_offset": 100003, "threshold": 0.8, "radius": 0.3, "tolerance": 1}


def test_hidden_capabilities_decide():
    hc = load("hidden_capabilities")
    good = {"0": _hc_seed((2, 1, 3), (6, 5, 8), 2), "1": _hc_seed((3, 2, 3), (7, 6, 8), 3)}
    v = hc.decide(saved(HC_PARAMS, {"seeds": good}, seeds=(0, 1)))
    assert v.passed is True and v.parts["criterion_a"]["earlier"] == [0, 1] and v.parts["criterion_b"]["coincide"] == [0, 1]
    late = dict(good, **{"1": _hc_seed((7, 6, 8), (2, 1, 3), 7)})  # behaviour first in seed 1
    v = hc.decide(saved(HC_PARAMS, {"seeds": late}, seeds=(0, 1)))
    assert v.passed is False and v.parts["criterion_a"]["later"] == [1]
    control = dict(good, **{"1": _hc_seed((3, 2, 3), (7, 6, 8), 3, beats=False)})  # its control does as well
    assert hc.decide(saved(HC_PARAMS, {"seeds": control}, seeds=(0, 1))).passed is False
    # behaviour never reaches the threshold in any seed: "capability first" has nothing to compare with
    never = {"0": _hc_seed((2, 1, 3), (None, None, None), 2), "1": _hc_seed((3, 2, 3), (None, None, None), 3)}
    v = hc.decide(saved(HC_PARAMS, {"seeds": never}, seeds=(0, 1)))
    assert v.passed is None and v.parts["criterion_a"]["passed"] is None
    # overlapping onset intervals: not decided, undetermined
    close = {"0": _hc_seed((2, 1, 5), (5, 4, 8), 2)}
    assert hc.decide(saved(HC_PARAMS, {"seeds": close}, seeds=(0,))).passed is None


# ------------------------------------------------------------------------------------------ multiplicative_emergence
DIST = {"000": 0, "100": 0, "010": 0, "001": 0, "110": 1, "101": 1, "011": 1, "111": 2}


def _me(times, s_joint=0.9, s_add=0.3, width=100):
    """Measurements with learning times per held-out class (the same in every seed) and pooled onsets ± width."""
    rows, onsets = [], {}
    for seed in (0, 1, 2):
        for c, d in DIST.items():
            t = times.get(c, 0)
            rows.append({"seed": seed, "class": c, "distance": d, "t_joint": t, "S_joint": s_joint if d else None,
                         "S_additive": s_add, "rise_joint": 0.9 if d else 0.0, "rise_additive": 0.5,
                         "rmse_joint_vs_product": 0.1, "rmse_joint_vs_additive": 0.2})
    for c, d in DIST.items():
        if d:
            t = times[c]
            o = onset(t, None if t is None else t - width, None if t is None else t + width)
            onsets[c] = {"per_seed": {str(s): o for s in (0, 1, 2)}, "pooled": o}
    return saved({"threshold": 0.8, "min_rise": 0.5, "rel_tol": 0.25},
                 {"classes": list(DIST), "distances": DIST, "rows": rows, "onsets": onsets})


def test_multiplicative_emergence_decide():
    me = load("multiplicative_emergence")
    t1, t2 = (int(t) for t in critical_time(0.002, [1, 2], 0.8))  # the toy model's own t*(n)
    v = me.decide(_me({"110": t1, "101": t1, "011": t1, "111": t2}))
    assert v.passed is True and v.parts["claim3_toy_fit"]["passed"] is True
    assert v.parts["claim1_order"]["earlier_near"] == ["110", "101", "011"]
    # 111 never learned: claim 0 fails
    v = me.decide(_me({"110": t1, "101": t1, "011": t1, "111": None}))
    assert v.passed is False and v.parts["claim0_far_learned"]["passed"] is False
    # additive accuracy as sudden as joint: claim 2 fails
    assert me.decide(_me({"110": t1, "101": t1, "011": t1, "111": t2}, s_joint=0.3, s_add=0.9)).passed is False
    # the order inside the intervals is not decided: claim 1 fails (never undetermined)
    v = me.decide(_me({"110": t1, "101": t1, "011": t1, "111": t2}, width=t2))
    assert v.passed is False and v.parts["claim1_order"]["passed"] is False


@pytest.mark.parametrize("name", ["concept_signal", "hidden_capabilities", "multiplicative_emergence",
                                  "underspecification", "compose_interpolate", "percolation", "torus_geometry"])
def test_every_probe_follows_the_claim_protocol(name):
    from hidcap.experiments.claims import ClaimProbe

    probe = load(name).PROBE
    assert isinstance(probe, ClaimProbe) and probe.name == name and load(name).main == probe.main
    assert 2 <= len(probe.criterion) <= 8 and all(len(p) < 600 for p in probe.criterion)
