"""Time concept-space and capability measurement on one checkpoint: batched vs chunked sampling.

Untrained tiny U-Net + VDM sampler (speed does not depend on the weights); 4 classes, 16 samples each.
Run: .venv/bin/python benchmarks/measurement_speed.py [--device cpu] [--sampling-steps 10]
"""
from __future__ import annotations

import argparse
import time

import torch

from hidcap.data import ConceptDataSpec
from hidcap.diffusion import VDM, VDMConfig
from hidcap.evaluation.elicitation import capability
from hidcap.evaluation.protocols import LatentIntervention, NaivePrompt, Overprompt
from hidcap.evaluation.classifiers import ConceptProbe, ProbeConfig
from hidcap.evaluation.concept_scores import concept_space
from hidcap.models import UNet, presets


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sampling-steps", type=int, default=10)
    ap.add_argument("--samples", type=int, default=16)
    args = ap.parse_args()
    torch.manual_seed(0)
    spec = ConceptDataSpec(image_size=16)
    model = UNet(presets.tiny()).to(args.device).eval()
    sampler = VDM(VDMConfig()).to(args.device)
    probe = ConceptProbe(ProbeConfig(("color", "size"), image_size=16, width=8)).to(args.device)
    kw = dict(sampler=sampler, steps=args.sampling_steps, allow_inaccurate_probe=True, progress=False)
    rows = []
    for max_batch in (8, 1024):
        t = time.perf_counter()
        concept_space(model, spec, probe, None, args.samples, 0, max_batch=max_batch, **kw)
        rows.append(("concept_space 4 classes", max_batch, time.perf_counter() - t))
    protocols = (NaivePrompt(), Overprompt(), LatentIntervention())  # 1 + 5 + 16 = 22 variants
    for max_batch in (args.samples, 4096):
        t = time.perf_counter()
        capability(model, spec, probe, ("11",), args.samples, 0, protocols=protocols, max_batch=max_batch, **kw)
        rows.append(("capability class 11, 22 variants", max_batch, time.perf_counter() - t))
    print(f"device={args.device} sampling_steps={args.sampling_steps} samples_per_class={args.samples}")
    print(f"{'measurement':<36} {'max_batch':>9} {'seconds':>8}")
    for name, mb, s in rows:
        print(f"{name:<36} {mb:>9} {s:>8.2f}")


if __name__ == "__main__":
    main()
