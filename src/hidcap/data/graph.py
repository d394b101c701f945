"""Concept graph (Okawa et al. 2023): classes are nodes (bit strings), edges join classes at Hamming distance 1.

The distance of a test class to the training set (the minimum Hamming distance to any training class)
orders when compositional generalisation appears.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


def _check(bits: str, n_bits: int | None = None, param: str = "class") -> None:
    if not isinstance(bits, str) or not bits or set(bits) - {"0", "1"}:
        raise ValueError(f"{param}: {bits!r} is not a bit string such as '010'")
    if n_bits is not None and len(bits) != n_bits:
        raise ValueError(f"{param}: {bits!r} has {len(bits)} bits, expected {n_bits}")


def hamming(a: str, b: str) -> int:
    """Number of concepts in which classes ``a`` and ``b`` differ."""
    _check(a, param="a")
    _check(b, len(a), param="b")
    return sum(x != y for x, y in zip(a, b))


def all_classes(n_bits: int) -> tuple[str, ...]:
    """Every class over ``n_bits`` binary concepts, in binary order: '00', '01', '10', '11' for 2."""
    if n_bits <= 0:
        raise ValueError(f"n_bits must be positive, got {n_bits}")
    return tuple("".join(p) for p in itertools.product("01", repeat=n_bits))


def distance_to_set(node: str, classes: Iterable[str]) -> int:
    """Minimum Hamming distance from ``node`` to any class of ``classes`` (0 if it is one of them)."""
    classes = tuple(classes)
    if not classes:
        raise ValueError("classes must not be empty")
    return min(hamming(node, c) for c in classes)


@dataclass(frozen=True)
class ConceptGraph:
    """The hypercube of classes over ``n_bits`` concepts, with a training set marked.

    nodes: all 2**n_bits classes; edges: pairs ``(a, b)``, ``a < b``, at Hamming distance 1.
    """

    n_bits: int
    train: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.n_bits <= 0:
            raise ValueError(f"n_bits must be positive, got {self.n_bits}")
        if not self.train:
            raise ValueError("train must name at least one class")
        for c in self.train:
            _check(c, self.n_bits, param="train")

    @classmethod
    def from_spec(cls, spec: Any) -> ConceptGraph:
        """Graph of a :class:`~hidcap.data.concepts.ConceptDataSpec` (classes with count 0 are not trained)."""
        train = tuple(c for c in spec.train_classes if spec.class_count(c) > 0)
        return cls(len(spec.concepts), train)

    @property
    def nodes(self) -> tuple[str, ...]:
        return all_classes(self.n_bits)

    @property
    def edges(self) -> tuple[tuple[str, str], ...]:
        nodes = self.nodes
        return tuple((a, b) for i, a in enumerate(nodes) for b in nodes[i + 1 :] if hamming(a, b) == 1)

    @property
    def test(self) -> tuple[str, ...]:
        """Nodes that are not training classes."""
        return tuple(c for c in self.nodes if c not in self.train)

    def neighbours(self, node: str) -> tuple[str, ...]:
        """Classes one concept flip away from ``node``."""
        _check(node, self.n_bits, param="node")
        return tuple(c for c in self.nodes if hamming(node, c) == 1)

    def distance(self, node: str) -> int:
        """Distance of ``node`` to the training set."""
        _check(node, self.n_bits, param="node")
        return distance_to_set(node, self.train)

    def distances(self, nodes: Iterable[str] | None = None) -> dict[str, int]:
        """node -> distance to the training set, for ``nodes`` (default: every test node)."""
        return {c: self.distance(c) for c in (self.test if nodes is None else nodes)}

    def by_distance(self) -> dict[int, tuple[str, ...]]:
        """distance -> test nodes at that distance, ascending."""
        out: dict[int, list[str]] = {}
        for c, d in self.distances().items():
            out.setdefault(d, []).append(c)
        return {d: tuple(out[d]) for d in sorted(out)}


def class_frequencies(spec: Any, normalise: bool = False) -> dict[str, int] | dict[str, float]:
    """Training images per class of a ConceptDataSpec (``normalise``: as fractions of the whole set)."""
    counts = {c: int(spec.class_count(c)) for c in spec.train_classes}
    if not normalise:
        return counts
    total = sum(counts.values())
    if total == 0:
        raise ValueError("the spec has no training images to normalise by")
    return {c: k / total for c, k in counts.items()}
