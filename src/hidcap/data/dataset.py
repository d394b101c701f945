"""The container every data spec returns, and a small shuffling batch iterator for training."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from hidcap.rng import torch_generator


@dataclass(frozen=True)
class LabelledImages:
    """A generated data set: images with their conditioning vectors and labels.

    images: float32 (N, C, H, W) in [0, 1].
    cond: float32 (N, D) conditioning vectors (what the model is trained on).
    labels: concept data -> dict concept name -> LongTensor (N,) of bits (0/1);
        bump data -> float32 (N, 2) ``(x, y)`` centres in latent pixel units.
    classes: LongTensor (N,) index into ``class_names`` (concept data), or ``None``.
    class_names: the class bit strings that ``classes`` indexes (empty for bump data).

    It is a map-style ``torch.utils.data.Dataset``: ``data[i]`` is ``(image, cond)``.
    """

    images: torch.Tensor
    cond: torch.Tensor
    labels: dict[str, torch.Tensor] | torch.Tensor
    classes: torch.Tensor | None = None
    class_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if self.images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(self.images.shape)}")
        if self.cond.ndim != 2 or self.cond.shape[0] != n:
            raise ValueError(f"cond must be (N, D) with N={n}, got shape {tuple(self.cond.shape)}")
        label_tensors = self.labels.values() if isinstance(self.labels, dict) else [self.labels]
        for lab in label_tensors:
            if lab.shape[0] != n:
                raise ValueError(f"labels must have N={n} rows, got shape {tuple(lab.shape)}")
        if self.classes is not None and self.classes.shape != (n,):
            raise ValueError(f"classes must be (N,) with N={n}, got shape {tuple(self.classes.shape)}")

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.cond[index]

    def to(self, device: str | torch.device) -> LabelledImages:
        """Copy of the data set with every tensor on ``device``."""
        labels = (
            {k: v.to(device) for k, v in self.labels.items()}
            if isinstance(self.labels, dict)
            else self.labels.to(device)
        )
        classes = None if self.classes is None else self.classes.to(device)
        return LabelledImages(self.images.to(device), self.cond.to(device), labels, classes, self.class_names)

    def subset(self, index: torch.Tensor) -> LabelledImages:
        """Rows ``index`` (LongTensor or bool mask) of every tensor."""
        labels = {k: v[index] for k, v in self.labels.items()} if isinstance(self.labels, dict) else self.labels[index]
        classes = None if self.classes is None else self.classes[index]
        return LabelledImages(self.images[index], self.cond[index], labels, classes, self.class_names)


def concat(parts: list[LabelledImages]) -> LabelledImages:
    """Concatenate data sets of the same kind (e.g. 2D bumps + 1D stripes) along the sample axis."""
    if not parts:
        raise ValueError("parts must hold at least one LabelledImages")
    first = parts[0]
    if isinstance(first.labels, dict):
        keys = set(first.labels)
        if any(not isinstance(p.labels, dict) or set(p.labels) != keys for p in parts):
            raise ValueError("parts must all have the same label keys to be concatenated")
        labels: dict[str, torch.Tensor] | torch.Tensor = {k: torch.cat([p.labels[k] for p in parts]) for k in keys}
    else:
        if any(isinstance(p.labels, dict) for p in parts):
            raise ValueError("cannot concatenate concept data (dict labels) with bump data (tensor labels)")
        labels = torch.cat([p.labels for p in parts])
    classes = None
    names: tuple[str, ...] = ()
    if all(p.classes is not None for p in parts):
        names = tuple(dict.fromkeys(n for p in parts for n in p.class_names))
        remapped = []
        for p in parts:
            lut = torch.tensor([names.index(n) for n in p.class_names], dtype=torch.long, device=p.classes.device)
            remapped.append(lut[p.classes])
        classes = torch.cat(remapped)
    return LabelledImages(
        torch.cat([p.images for p in parts]), torch.cat([p.cond for p in parts]), labels, classes, names
    )


def batches(
    data: LabelledImages,
    batch_size: int,
    seed: int | torch.Generator,
    *,
    shuffle: bool = True,
    drop_last: bool = False,
    device: str | torch.device | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of ``(images (B, C, H, W), cond (B, D))`` batches, shuffled by ``seed``.

    The permutation is drawn on the CPU, so the order is the same for every ``device``. With ``device`` the
    batches are moved there (non-blocking) as they are yielded.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    n = len(data)
    order = torch.randperm(n, generator=torch_generator(seed)) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size].to(data.images.device)
        images, cond = data.images[idx], data.cond[idx]
        if device is not None:
            images, cond = images.to(device, non_blocking=True), cond.to(device, non_blocking=True)
        yield images, cond
