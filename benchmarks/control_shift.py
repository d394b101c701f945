"""How far each intervention control moves the conditioning embeddings, against the real intervention.

    .venv/bin/python benchmarks/control_shift.py [--seed 0] [--out runs/control_shift] [--steps 1500]

Trains (or reuses, in ``--out``) one run of the hidden_capabilities probe's quick scale (colour separation 0.4),
then at each checkpoint, for class 11's prompt, prints a markdown table of ‖Δe‖ / ‖e‖ over all ``*.cond_embed``
sites (:func:`hidcap.evaluation.embedding_shift`) for the paper's intervention (Park et al. 2024, Sec. 4.4) at
each (α, β) of the quick grid, for random unit directions with the same formula (the unmatched control hidcap
used before), for the matched :class:`~hidcap.evaluation.RandomDirectionIntervention` and for
:class:`~hidcap.evaluation.OtherConceptIntervention`; and the mean over sites of cos(b̂, l̂) and cos(b̂, red),
the common component the concept directions share. Not a speed benchmark.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from hidcap.evaluation import (
    LatentIntervention,
    OtherConceptIntervention,
    ProtocolContext,
    RandomDirectionIntervention,
    Variant,
    embedding_shift,
)
from hidcap.evaluation.protocols import RED_INPUT
from hidcap.interventions import LinearIntervention, concept_direction
from hidcap.runs import CheckpointSeries
from hidcap.training import train


def unmatched(ctl: RandomDirectionIntervention, ctx: ProtocolContext, cls: str) -> list[Variant]:
    """The old control: the paper's formula with the random unit directions, not rescaled."""
    dirs = ctl.directions(ctx.model)
    return [Variant(f"unmatched[a={a:g},b={b:g}]", ctx.spec.prompt(cls),
                    row_edits={s: LinearIntervention.amplify_suppress(r, a, q, b) for s, (r, q) in dirs.items()})
            for a in ctl.real.alphas for b in ctl.real.betas]


def relative_shift(model: torch.nn.Module, variant: Variant, prompt: torch.Tensor) -> float:
    """‖Δe‖ / ‖e‖ of ``variant`` from ``prompt``'s embeddings, over all conditioning sites."""
    shift = embedding_shift(model, variant, prompt)
    return shift["delta_e"] / shift["e_norm"]


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for probes/
    from probes.hidden_capabilities import settings  # the probe's quick scale

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/control_shift"))
    ap.add_argument("--steps", type=int, default=None, help="training steps (default: the quick scale's)")
    args = ap.parse_args()
    st = settings("quick")
    spec = st.spec()
    over = {} if args.steps is None else {"steps": args.steps}
    run = args.out / f"seed{args.seed}"
    series = CheckpointSeries(run) if (run / "config.json").is_file() and CheckpointSeries(run).steps else \
        train(st.scale.train_config(spec, args.seed, "cpu", **over), run, progress=False)
    real = LatentIntervention(alphas=st.alphas, betas=st.betas)
    matched, other = RandomDirectionIntervention(real, seed=args.seed), OtherConceptIntervention(real)
    print("| step | cos(b̂, l̂) | cos(b̂, red) | (α, β) | real | unmatched random | matched random | other concept |")
    print("|---:|---:|---:|---|---:|---:|---:|---:|")
    steps = series.steps
    for step in sorted({steps[round(i * (len(steps) - 1) / 3)] for i in range(4)}):  # first, last and two between
        model = series.load(step)
        ctx = ProtocolContext(model, spec, step, series)
        prompt = spec.prompt("11")
        dirs = real.directions(model)
        red = {s: concept_direction(model, s, torch.tensor(RED_INPUT)) for s in dirs}
        cos_bl = sum(float(b @ l) for b, l in dirs.values()) / len(dirs)
        cos_br = sum(float(b @ red[s]) for s, (b, _) in dirs.items()) / len(dirs)
        rows = zip(real.variants(ctx, "11"), unmatched(matched, ctx, "11"), matched.variants(ctx, "11"),
                   other.variants(ctx, "11"))
        for variants in rows:
            grid = variants[0].name[variants[0].name.index("[") + 1:-1]
            rel = [relative_shift(model, v, prompt) for v in variants]
            print(f"| {step} | {cos_bl:.3f} | {cos_br:.3f} | {grid} | " + " | ".join(f"{x:.3f}" for x in rel) + " |")


if __name__ == "__main__":
    main()
