"""Concept-space shapes (Park et al. 2024; Okawa et al. 2023): one object on a background, classes named by concept bits.

Concepts and their two values (bit 0 first): ``color`` (red, blue), ``size`` (large, small), ``shape``
(``shapes[0]``, ``shapes[1]``; circle and triangle by default, square also available) and ``background``
(bright, dark). Position ``x``, ``y`` is drawn uniformly and is conditioned on only when asked.

Each binary concept value has a class mean and a uniform half-width set by the concept's separation ``s``:

- color: red ``[.5+s/2, .5-s/2, .5-s/2]``, blue ``[.5-s/2, .5-s/2, .5+s/2]``, each channel ``± s/8``;
- size (radius, in units of the half-frame): large ``0.45 + s/2``, small ``0.45 - s/2``, ``± 3s/8``, floor 0.1;
- background: bright ``0.5 + s/2``, dark ``0.5 - s/2`` per channel, ``± s/8`` (s=0.8: bright is U[0.8, 1]).

Images live on a ``[-1, 1]²`` frame (pixel centres at ``(2j+1)/H - 1``); x runs along columns and y along
rows (downwards). Triangles and squares have the same area as the circle of the same radius.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from hidcap.data.dataset import LabelledImages
from hidcap.rng import torch_generator

CONCEPTS: tuple[str, ...] = ("color", "size", "shape", "background")
SHAPES: tuple[str, ...] = ("circle", "triangle", "square")

#: Fixed layout of the conditioning vector; slots of concepts a spec does not use stay 0.
COND_LAYOUT: dict[str, slice | int] = {
    "shape": slice(0, 3),  # one-hot over SHAPES
    "x": 3,
    "y": 4,
    "color": slice(5, 8),  # RGB
    "size": 8,  # radius
    "background": slice(9, 12),  # RGB
}
COND_DIM = 12
#: Names of bit 0 and bit 1 of each concept (``shape`` takes its names from ``ConceptDataSpec.shapes``).
VALUE_NAMES: dict[str, tuple[str, str]] = {"color": ("red", "blue"), "size": ("large", "small"),
                                           "background": ("bright", "dark")}
#: Value of every slot of the "no condition" vector used for classifier-free guidance.
NULL_COND_VALUE = -1.0
NULL_COND = torch.full((COND_DIM,), NULL_COND_VALUE)

SIZE_MEAN = 0.45
SIZE_FLOOR = 0.1


def null_cond(n: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """(n, COND_DIM) float32 tensor of ``NULL_COND_VALUE`` (the classifier-free-guidance null condition)."""
    return torch.full((n, COND_DIM), NULL_COND_VALUE, device=device)


def _check_concept(name: str, param: str = "concept") -> None:
    if name not in CONCEPTS:
        raise ValueError(f"{param}: unknown concept {name!r}; known concepts are {CONCEPTS}")


@dataclass(frozen=True)
class Masking:
    """Underspecification: set ``concept``'s conditioning slot(s) to ``value`` for a ``fraction`` of the
    training samples of class ``class_bits`` (exactly ``round(fraction * n)`` samples, chosen by the seed)."""

    concept: str
    class_bits: str
    fraction: float
    value: float = 0.0


@dataclass(frozen=True)
class ConceptDataSpec:
    """Concept-space shapes data set: which concepts, which classes, how many images, how much signal.

    concepts: the binary concepts that name a class, in bit order (``"01"`` = first concept 0, second 1).
    train_classes / test_classes: class bit strings; test classes are held out of ``build``.
    images_per_class: default count per training class; ``class_counts`` overrides it per class, e.g.
        ``(("100", 50),)`` for a rare class (0 is allowed: the class is then absent).
    color_separation / size_separation / background_separation: the separations ``s`` (module docstring).
    shapes: the two shapes that bit 0 / bit 1 of ``shape`` select (names from ``SHAPES``).
    position_range: x, y ~ U[-position_range, position_range] on the [-1, 1] frame.
    condition_position: put x, y into the conditioning vector (else those slots are 0).
    blur_px: the object mask is smoothed by a Gaussian of this many pixels (0 = hard edge).
    noise_std: std of the additive Gaussian pixel noise before clipping to [0, 1].
    masks: underspecification (:class:`Masking`) applied to the training conditioning.
    """

    concepts: tuple[str, ...] = ("color", "size")
    train_classes: tuple[str, ...] = ("00", "01", "10")
    test_classes: tuple[str, ...] = ("11",)
    images_per_class: int = 2048
    class_counts: tuple[tuple[str, int], ...] = ()
    color_separation: float = 0.6
    size_separation: float = 0.3
    background_separation: float = 0.8
    shapes: tuple[str, str] = ("circle", "triangle")
    image_size: int = 32
    position_range: float = 0.5
    condition_position: bool = False
    blur_px: float = 1.0
    noise_std: float = 1e-3
    masks: tuple[Masking, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.concepts:
            raise ValueError("concepts must name at least one concept")
        for c in self.concepts:
            _check_concept(c, "concepts")
        if len(set(self.concepts)) != len(self.concepts):
            raise ValueError(f"concepts must not repeat, got {self.concepts}")
        if not self.train_classes:
            raise ValueError("train_classes must not be empty")
        for param in ("train_classes", "test_classes"):
            for bits in getattr(self, param):
                self._check_bits(bits, param)
        for param in ("train_classes", "test_classes"):
            classes = getattr(self, param)
            if len(set(classes)) != len(classes):
                raise ValueError(f"{param} must not repeat a class, got {classes}")
        both = set(self.train_classes) & set(self.test_classes)
        if both:
            raise ValueError(f"test_classes overlap train_classes: {sorted(both)}")
        if self.images_per_class < 0:
            raise ValueError(f"images_per_class must be >= 0, got {self.images_per_class}")
        for bits, count in self.class_counts:
            self._check_bits(bits, "class_counts")
            if bits not in self.train_classes:
                raise ValueError(f"class_counts: class {bits!r} is not in train_classes {self.train_classes}")
            if count < 0:
                raise ValueError(f"class_counts: count for {bits!r} must be >= 0, got {count}")
        if sum(self.class_count(c) for c in self.train_classes) == 0:
            raise ValueError("images_per_class/class_counts give an empty training set")
        for param in ("color_separation", "background_separation"):
            s = getattr(self, param)
            if not 0.0 <= s <= 1.0:
                raise ValueError(f"{param} must be in [0, 1] (class means stay in [0, 1]), got {s}")
        for param in ("size_separation", "blur_px", "noise_std"):  # NaN and inf fail `isfinite`
            v = getattr(self, param)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{param} must be a finite number >= 0, got {v}")
        if len(self.shapes) != 2 or any(s not in SHAPES for s in self.shapes) or self.shapes[0] == self.shapes[1]:
            raise ValueError(f"shapes must be two different names from {SHAPES}, got {self.shapes}")
        if self.image_size < 4:
            raise ValueError(f"image_size must be >= 4, got {self.image_size}")
        if not 0.0 <= self.position_range <= 1.0:
            raise ValueError(f"position_range must be in [0, 1], got {self.position_range}")
        for m in self.masks:
            _check_concept(m.concept, "masks.concept")
            if m.concept not in self.concepts:
                raise ValueError(f"masks.concept: {m.concept!r} is not one of this spec's concepts {self.concepts}")
            if m.class_bits not in self.train_classes:
                raise ValueError(f"masks.class_bits: {m.class_bits!r} is not in train_classes {self.train_classes}")
            if not 0.0 <= m.fraction <= 1.0:
                raise ValueError(f"masks.fraction must be in [0, 1], got {m.fraction}")

    def _check_bits(self, bits: str, param: str) -> None:
        if not isinstance(bits, str) or len(bits) != len(self.concepts) or set(bits) - {"0", "1"}:
            raise ValueError(
                f"{param}: class {bits!r} must be a bit string of length {len(self.concepts)} "
                f"(one bit per concept {self.concepts})"
            )

    # ---- shape of the data -------------------------------------------------------------------------
    @property
    def channels(self) -> int:
        return 3

    @property
    def cond_dim(self) -> int:
        return COND_DIM

    @property
    def all_classes(self) -> tuple[str, ...]:
        """Training classes followed by test classes."""
        return self.train_classes + self.test_classes

    def class_count(self, bits: str) -> int:
        """Number of training images of class ``bits`` (``images_per_class`` unless overridden)."""
        return dict(self.class_counts).get(bits, self.images_per_class)

    def value_names(self, concept: str) -> tuple[str, str]:
        """The names of bit 0 and bit 1 of ``concept``: color (red, blue), size (large, small), shape
        (``shapes``), background (bright, dark). An unknown concept -> ``ValueError``."""
        _check_concept(concept, "concept")
        return self.shapes if concept == "shape" else VALUE_NAMES[concept]

    def describe(self, bits: str, *, short: bool = False) -> str:
        """Name class ``bits`` by its concepts: ``"01"`` -> ``"red, small"``; ``short=False`` spells each
        concept: ``"color=red, size=small"``. Bits of another length or not 0/1 -> ``ValueError``."""
        self._check_bits(bits, "bits")
        parts = [self.value_names(c)[int(b)] for c, b in zip(self.concepts, bits)]
        return ", ".join(parts if short else [f"{c}={v}" for c, v in zip(self.concepts, parts)])

    # ---- class means ------------------------------------------------------------------------------
    def concept_means(self, bits: str) -> dict[str, torch.Tensor]:
        """Exact class-mean value of every concept for class ``bits`` (unused concepts at bit 0).

        Returns concept -> tensor: color (3,), size (), shape () long index into SHAPES, background (3,).
        """
        self._check_bits(bits, "class_bits")
        b = self._bits_by_concept(torch.tensor([[int(c) for c in bits]]))
        means = _means(self, b)
        return {k: v[0] for k, v in means.items()}

    def _bits_by_concept(self, bits: torch.Tensor) -> dict[str, torch.Tensor]:
        """(N, len(concepts)) bits -> concept -> (N,) bits, unused concepts 0."""
        n = bits.shape[0]
        out = {c: torch.zeros(n, dtype=torch.long, device=bits.device) for c in CONCEPTS}
        for j, c in enumerate(self.concepts):
            out[c] = bits[:, j].long()
        return out

    def prompt(self, class_bits: str) -> torch.Tensor:
        """(COND_DIM,) exact class-mean conditioning vector for generating class ``class_bits``."""
        m = self.concept_means(class_bits)
        cond = torch.zeros(COND_DIM)
        for c in self.concepts:
            if c == "shape":
                cond[COND_LAYOUT["shape"]] = torch.nn.functional.one_hot(m["shape"], len(SHAPES)).float()
            else:
                cond[COND_LAYOUT[c]] = m[c]
        return cond  # x, y slots: 0 = the frame centre, the mean position

    def prompts(self, classes: tuple[str, ...] | list[str] | None = None) -> torch.Tensor:
        """(K, COND_DIM) prompts for ``classes`` (default: all classes, train then test)."""
        classes = self.all_classes if classes is None else tuple(classes)
        if not classes:
            raise ValueError("classes must not be empty")
        return torch.stack([self.prompt(c) for c in classes])

    # ---- generation -------------------------------------------------------------------------------
    def build(self, seed: int | torch.Generator, device: str | torch.device = "cpu") -> LabelledImages:
        """Training data: ``class_count(c)`` images of every training class, masking applied.

        Returns LabelledImages with images (N, 3, H, W), cond (N, 12) holding the sampled values,
        labels concept -> (N,) bits, classes (N,) index into ``train_classes``.
        """
        counts = [self.class_count(c) for c in self.train_classes]
        return self.sample(self.train_classes, counts, seed, device=device, masks=self.masks)

    def sample(
        self,
        classes: tuple[str, ...] | list[str],
        counts: int | list[int] | tuple[int, ...],
        seed: int | torch.Generator,
        *,
        device: str | torch.device = "cpu",
        masks: tuple[Masking, ...] = (),
    ) -> LabelledImages:
        """Images of any classes (train or test), e.g. to train concept probes on all classes.

        counts: one count for every class, or one per class. cond holds the sampled (continuous) values.
        """
        classes = tuple(classes)
        if not classes:
            raise ValueError("classes must not be empty")
        for c in classes:
            self._check_bits(c, "classes")
        counts = [counts] * len(classes) if isinstance(counts, int) else list(counts)
        if len(counts) != len(classes) or any(k < 0 for k in counts):
            raise ValueError(f"counts must be one non-negative int or one per class, got {counts}")
        gen = torch_generator(seed, device)
        class_idx = torch.repeat_interleave(torch.arange(len(classes)), torch.tensor(counts)).to(device)
        bit_table = torch.tensor([[int(ch) for ch in c] for c in classes], dtype=torch.long, device=device)
        bits = self._bits_by_concept(bit_table[class_idx])
        values = _sample_values(self, bits, gen)
        images = render(
            values["color"], values["size"], values["shape"], values["background"], values["x"], values["y"],
            image_size=self.image_size, blur_px=self.blur_px, noise_std=self.noise_std, seed=gen,
        )
        cond = self._cond(values)
        for m in masks:
            rows = torch.nonzero(class_idx == classes.index(m.class_bits)).flatten()
            k = int(round(m.fraction * rows.numel()))
            chosen = rows[torch.randperm(rows.numel(), generator=gen, device=device)[:k]]
            cond[chosen, COND_LAYOUT[m.concept]] = m.value
        labels = {c: bits[c] for c in self.concepts}
        return LabelledImages(images, cond, labels, class_idx, classes)

    def _cond(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        n = values["size"].shape[0]
        cond = torch.zeros(n, COND_DIM, device=values["size"].device)
        for c in self.concepts:
            if c == "shape":
                cond[:, COND_LAYOUT["shape"]] = torch.nn.functional.one_hot(values["shape"], len(SHAPES)).float()
            elif c == "size":
                cond[:, COND_LAYOUT["size"]] = values["size"]
            else:
                cond[:, COND_LAYOUT[c]] = values[c]
        if self.condition_position:
            cond[:, COND_LAYOUT["x"]] = values["x"]
            cond[:, COND_LAYOUT["y"]] = values["y"]
        return cond


def _means(spec: ConceptDataSpec, bits: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Class means per sample from per-concept bits (N,): color (N,3), size (N,), shape (N,), background (N,3)."""
    dev = bits["color"].device
    s = spec.color_separation
    red = torch.tensor([0.5 + s / 2, 0.5 - s / 2, 0.5 - s / 2], device=dev)
    blue = torch.tensor([0.5 - s / 2, 0.5 - s / 2, 0.5 + s / 2], device=dev)
    color = torch.where(bits["color"][:, None].bool(), blue, red)
    ss = spec.size_separation
    size = torch.where(bits["size"].bool(), SIZE_MEAN - ss / 2, SIZE_MEAN + ss / 2).float().clamp_min(SIZE_FLOOR)
    sb = spec.background_separation
    bg = torch.where(bits["background"].bool(), 0.5 - sb / 2, 0.5 + sb / 2).float()[:, None].expand(-1, 3)
    shape_lut = torch.tensor([SHAPES.index(n) for n in spec.shapes], device=dev)
    return {"color": color, "size": size, "shape": shape_lut[bits["shape"]], "background": bg.contiguous()}


def _uniform(shape: tuple[int, ...], gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """U[-1, 1] draws."""
    return torch.rand(shape, generator=gen, device=device) * 2 - 1


def _sample_values(
    spec: ConceptDataSpec, bits: dict[str, torch.Tensor], gen: torch.Generator, draws: dict | None = None
) -> dict[str, torch.Tensor]:
    """Sample every concept's continuous value around its class mean. ``draws`` reuses U[-1,1] draws."""
    dev = bits["color"].device
    n = bits["color"].shape[0]
    if draws is None:
        draws = {
            "color": _uniform((n, 3), gen, dev),
            "size": _uniform((n,), gen, dev),
            "background": _uniform((n, 3), gen, dev),
            "x": _uniform((n,), gen, dev),
            "y": _uniform((n,), gen, dev),
        }
    m = _means(spec, bits)
    return {
        "color": (m["color"] + spec.color_separation / 8 * draws["color"]).clamp(0, 1),
        "size": (m["size"] + 3 * spec.size_separation / 8 * draws["size"]).clamp_min(SIZE_FLOOR),
        "background": (m["background"] + spec.background_separation / 8 * draws["background"]).clamp(0, 1),
        "shape": m["shape"],
        "x": spec.position_range * draws["x"],
        "y": spec.position_range * draws["y"],
    }


# Triangle: equilateral, apex up, inradius chosen for the area of the circle of the same radius.
_TRI_INRADIUS = math.sqrt(math.pi / (3 * math.sqrt(3)))
_SQUARE_HALF = math.sqrt(math.pi) / 2


def _signed_distance(dx: torch.Tensor, dy: torch.Tensor, radius: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
    """Signed distance (frame units, negative inside) of points (B, H, W) to each sample's shape."""
    r = radius[:, None, None]
    circle = torch.sqrt(dx * dx + dy * dy) - r
    square = torch.maximum(dx.abs(), dy.abs()) - _SQUARE_HALF * r
    h = math.sqrt(3) / 2
    tri = torch.maximum(torch.maximum(dy, h * dx - dy / 2), -h * dx - dy / 2) - _TRI_INRADIUS * r
    s = shape[:, None, None]
    return torch.where(s == 0, circle, torch.where(s == 1, tri, square))


def render(
    colors: torch.Tensor,
    radii: torch.Tensor,
    shapes: torch.Tensor,
    backgrounds: torch.Tensor,
    xs: torch.Tensor,
    ys: torch.Tensor,
    *,
    image_size: int = 32,
    blur_px: float = 1.0,
    noise_std: float = 0.0,
    seed: int | torch.Generator | None = None,
    chunk: int = 4096,
) -> torch.Tensor:
    """Render one object per image from explicit concept values.

    colors (N, 3) and backgrounds (N, 3) RGB in [0, 1]; radii (N,) in half-frame units; shapes (N,) long
    index into ``SHAPES``; xs, ys (N,) object centres on the [-1, 1] frame (x = column, y = row, downwards).
    The object mask is smoothed by a Gaussian of ``blur_px`` pixels (the exact blur of a straight edge).
    Pixel noise N(0, noise_std²) needs ``seed``; with ``noise_std=0`` the result is noise-free. Output is
    clipped to [0, 1]: float32 (N, 3, image_size, image_size), on the device of ``colors``.
    """
    n = colors.shape[0]
    dev = colors.device
    if colors.shape != (n, 3) or backgrounds.shape != (n, 3):
        raise ValueError(f"colors and backgrounds must be (N, 3); got {tuple(colors.shape)}, {tuple(backgrounds.shape)}")
    for name, t in (("radii", radii), ("shapes", shapes), ("xs", xs), ("ys", ys)):
        if t.shape != (n,):
            raise ValueError(f"{name} must be (N,) with N={n}, got shape {tuple(t.shape)}")
    if shapes.numel() and (int(shapes.min()) < 0 or int(shapes.max()) >= len(SHAPES)):
        raise ValueError(f"shapes must index SHAPES {SHAPES} (0..{len(SHAPES) - 1})")
    if image_size < 4:
        raise ValueError(f"image_size must be >= 4, got {image_size}")
    if blur_px < 0 or noise_std < 0:
        raise ValueError(f"blur_px and noise_std must be >= 0, got {blur_px}, {noise_std}")
    if noise_std > 0 and seed is None:
        raise ValueError("seed is required when noise_std > 0")
    grid = (2 * torch.arange(image_size, device=dev, dtype=torch.float32) + 1) / image_size - 1
    px_per_unit = image_size / 2
    gen = torch_generator(seed, dev) if noise_std > 0 else None
    out = torch.empty(n, 3, image_size, image_size, device=dev)
    for start in range(0, n, chunk):
        sl = slice(start, start + chunk)
        dx = grid[None, None, :] - xs[sl, None, None].float()
        dy = grid[None, :, None] - ys[sl, None, None].float()
        sd = _signed_distance(dx, dy, radii[sl].float(), shapes[sl]) * px_per_unit
        if blur_px > 0:
            mask = 0.5 * torch.erfc(sd / (blur_px * math.sqrt(2)))
        else:
            mask = (sd < 0).float()
        mask = mask[:, None]
        out[sl] = backgrounds[sl, :, None, None] * (1 - mask) + colors[sl, :, None, None] * mask
    if noise_std > 0:
        out += noise_std * torch.randn(out.shape, generator=gen, device=dev)
    return out.clamp_(0, 1)


def concept_signal(
    spec: ConceptDataSpec, concept: str, n: int = 512, seed: int | torch.Generator = 0, base: str | None = None
) -> float:
    """Concept signal: mean squared pixel difference between images that differ only in ``concept``.

    Draws ``n`` images of class ``base`` (default all zeros), and renders each a second time with
    ``concept`` flipped to its other value, reusing every random draw (position, uniform offsets, noise).
    """
    _check_concept(concept)
    if concept not in spec.concepts:
        raise ValueError(f"concept {concept!r} is not one of this spec's concepts {spec.concepts}")
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    base = "0" * len(spec.concepts) if base is None else base
    spec._check_bits(base, "base")
    flipped = list(base)
    j = spec.concepts.index(concept)
    flipped[j] = "1" if base[j] == "0" else "0"
    gen = torch_generator(seed)
    state = gen.get_state()
    pair = []
    for bits_str in (base, "".join(flipped)):
        gen.set_state(state)  # same draws for both renders
        bits = spec._bits_by_concept(torch.tensor([[int(c) for c in bits_str]]).expand(n, -1))
        v = _sample_values(spec, bits, gen)
        pair.append(
            render(v["color"], v["size"], v["shape"], v["background"], v["x"], v["y"],
                   image_size=spec.image_size, blur_px=spec.blur_px, noise_std=spec.noise_std, seed=gen)
        )
    return float(((pair[0] - pair[1]) ** 2).mean())
