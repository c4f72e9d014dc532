"""Shared pieces of every data source: the errors, the in-memory dataset, channel statistics."""

from __future__ import annotations

import dataclasses

import numpy as np


class DatasetNotFoundError(FileNotFoundError):
    """A data file is missing; the message says where it was looked for and how to get it."""


class CorruptDatasetError(ValueError):
    """A data file exists but is not what was expected (magic, sizes, truncation)."""


@dataclasses.dataclass(frozen=True, eq=False)
class ArrayDataset:
    """One split of a dataset, in memory.

    Attributes:
      images: (N, H, W, C) uint8 NumPy array, NHWC.
      labels: (N,) int32 NumPy array, values in ``[0, num_classes)``.
      num_classes: K.
      name: dataset name (e.g. ``"fashion_mnist"``).
      mean: C floats, per-channel mean of the TRAINING split, 0-255 units.
      std: C floats, per-channel standard deviation of the training split, 0-255.
      class_names: optional K strings, index = label.
      split: the split this is (``"train"``, ``"test"``, ...).

    It is also a random-access source: ``len(ds)``, ``ds[i] -> (image, label)``.
    """

    images: np.ndarray
    labels: np.ndarray
    num_classes: int
    name: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...] | None = None
    split: str = ""

    def __post_init__(self):
        images = np.asarray(self.images)
        labels = np.asarray(self.labels)
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(
                f"images must be a uint8 array of shape (N, H, W, C), got {images.dtype} "
                f"{images.shape}; add a channel axis with images[..., None] for grayscale.")
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be an integer array of shape (N,), got "
                             f"{labels.dtype} {labels.shape}.")
        if labels.shape[0] != images.shape[0]:
            raise ValueError(f"images ({images.shape[0]}) and labels ({labels.shape[0]}) "
                             "must have the same number of examples.")
        k = int(self.num_classes)
        if k < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}.")
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(f"labels must lie in [0, num_classes={k}), got range "
                             f"[{labels.min()}, {labels.max()}].")
        c = images.shape[-1]
        mean = _channel_tuple(self.mean, "mean", c)
        std = _channel_tuple(self.std, "std", c)
        if any(s <= 0 for s in std):
            raise ValueError(f"std must be > 0 in every channel, got {std}.")
        names = None
        if self.class_names is not None:
            names = tuple(str(n) for n in self.class_names)
            if len(names) != k:
                raise ValueError(f"class_names has {len(names)} entries, num_classes is {k}.")
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "labels", labels.astype(np.int32, copy=False))
        object.__setattr__(self, "num_classes", k)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)
        object.__setattr__(self, "class_names", names)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.images[index], int(self.labels[index])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C)."""
        return tuple(self.images.shape[1:])

    def take(self, indices) -> "ArrayDataset":
        """A new ArrayDataset holding ``images[indices]`` (same metadata)."""
        idx = np.asarray(indices)
        return dataclasses.replace(self, images=self.images[idx], labels=self.labels[idx])

    def __repr__(self) -> str:
        return (f"ArrayDataset(name={self.name!r}, split={self.split!r}, n={len(self)}, "
                f"image_shape={self.image_shape}, num_classes={self.num_classes})")


def _channel_tuple(value, name: str, channels: int) -> tuple[float, ...]:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, channels)
    if arr.size != channels or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be {channels} finite floats (0-255 units), got {value!r}.")
    return tuple(float(v) for v in arr)


def channel_stats(images: np.ndarray, *, chunk: int = 4096) -> tuple[tuple, tuple]:
    """Per-channel mean and (population) std of (N, H, W, C) pixels, 0-255 units (float64)."""
    c = images.shape[-1]
    total = np.zeros(c)
    total_sq = np.zeros(c)
    count = 0
    for start in range(0, images.shape[0], chunk):
        x = images[start:start + chunk].reshape(-1, c).astype(np.float64)
        total += x.sum(0)
        total_sq += np.square(x).sum(0)
        count += x.shape[0]
    mean = total / max(count, 1)
    var = np.maximum(total_sq / max(count, 1) - np.square(mean), 0.0)
    std = np.sqrt(var)
    std = np.where(std > 0, std, 1.0)  # a constant channel: normalise by 1, not 0
    return tuple(mean.tolist()), tuple(std.tolist())


def _sampled_stats(source, max_examples: int) -> tuple[tuple, tuple]:
    """Channel mean/std over an evenly spaced, deterministic sample of a source."""
    n = len(source)
    idx = np.unique(np.linspace(0, n - 1, num=min(n, max_examples)).astype(np.int64))
    total = total_sq = None
    count = 0
    for i in idx:
        x = np.asarray(source[int(i)][0], dtype=np.float64)
        x = x.reshape(-1, x.shape[-1])
        total = x.sum(0) if total is None else total + x.sum(0)
        total_sq = np.square(x).sum(0) if total_sq is None else total_sq + np.square(x).sum(0)
        count += x.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean ** 2, 0.0))
    std = np.where(std > 0, std, 1.0)
    return tuple(mean.tolist()), tuple(std.tolist())
