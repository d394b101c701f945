"""Draw a grid of samples per class: ``python -m hidcap.data --show concepts --out grid.png``.

``--show concepts``: one row per class of a ConceptDataSpec (training classes, then held-out ones).
``--show bumps``: one row per kind (bump, SOS, periodic bump, stripe_x, stripe_y) at random lattice centres.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from hidcap.data.bumps import BumpDataSpec
from hidcap.data.concepts import CONCEPTS, ConceptDataSpec
from hidcap.rng import torch_generator


def _concept_rows(args: argparse.Namespace) -> tuple[list[torch.Tensor], list[str]]:
    concepts = tuple(args.concepts.split(","))
    n = len(concepts)
    train = tuple(c for c in (format(i, f"0{n}b") for i in range(2**n)) if c.count("1") <= 1)
    test = tuple(c for c in (format(i, f"0{n}b") for i in range(2**n)) if c not in train)
    spec = ConceptDataSpec(
        concepts=concepts, train_classes=train, test_classes=test,
        color_separation=args.color_separation, size_separation=args.size_separation,
    )
    data = spec.sample(spec.all_classes, args.per_class, seed=args.seed)
    rows, names = [], []
    for k, bits in enumerate(data.class_names):
        rows.append(data.images[data.classes == k])
        names.append(f"{bits}: {spec.describe(bits, short=True)}" + ("\n(held out)" if bits in test else ""))
    return rows, names


def _bump_rows(args: argparse.Namespace) -> tuple[list[torch.Tensor], list[str]]:
    specs = {
        "bump": BumpDataSpec(kind="bump"),
        "SOS": BumpDataSpec(kind="sos"),
        "bump\nperiodic": BumpDataSpec(kind="bump", periodic=True),
        "stripe_x": BumpDataSpec(kind="stripe_x"),
        "stripe_y": BumpDataSpec(kind="stripe_y"),
    }
    gen = torch_generator(args.seed)
    rows = []
    for spec in specs.values():
        grid = spec.lattice()
        pick = grid[torch.randperm(grid.shape[0], generator=gen)[: args.per_class]]
        rows.append(spec.render(pick))
    return rows, list(specs)


def show(args: argparse.Namespace) -> Path:
    """Render the grid and save it to ``args.out``; returns the path."""
    from hidcap.plotting import figure, save

    rows, names = _concept_rows(args) if args.show == "concepts" else _bump_rows(args)
    cols = args.per_class
    fig = figure((1.1 * cols + 1.0, 1.1 * len(rows)))
    axes = fig.subplots(len(rows), cols, squeeze=False)
    for r, (imgs, name) in enumerate(zip(rows, names)):
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(imgs):
                img = imgs[c]
                if img.shape[0] == 1:
                    ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1)
                else:
                    ax.imshow(img.permute(1, 2, 0).numpy())
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    if args.show == "concepts":
        concepts = args.concepts.split(",")
        default = f"concept classes: rows name the bits ({', '.join(concepts)}) and their values"
    else:
        default = "Gaussian bump data: one row per kind, random lattice centres"
    fig.suptitle(args.title or default, fontsize=10)
    return save(fig, args.out, dpi=100)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m hidcap.data", description=__doc__.splitlines()[0])
    p.add_argument("--show", choices=("concepts", "bumps"), required=True, help="which data to draw")
    p.add_argument("--out", default=None, help="PNG path (default: data_<show>.png)")
    p.add_argument("--per-class", type=int, default=8, help="samples per row")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--concepts", default="color,size", help=f"comma-separated, from {CONCEPTS}")
    p.add_argument("--color-separation", type=float, default=0.6)
    p.add_argument("--size-separation", type=float, default=0.3)
    p.add_argument("--title", default=None)
    args = p.parse_args(argv)
    if args.per_class <= 0:
        p.error("--per-class must be positive")
    args.out = args.out or f"data_{args.show}.png"
    print(show(args))


if __name__ == "__main__":
    main()
