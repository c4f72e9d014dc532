"""Datasets in: readers for the formats the papers' data comes in, no downloads.

Two entry points:

* :func:`open_source` -> a random-access source (``len(src)``,
  ``src[i] -> (image uint8 (H, W, C), label int)``, plus ``num_classes``,
  ``name``, ``mean``, ``std``, ``class_names``). Large datasets (ImageNet via
  TFDS, big image folders) stay on disk and are read one example at a time by
  :class:`mfdjax.data.HostLoader`.
* :func:`load_dataset` -> :class:`ArrayDataset`, the whole split in memory as
  uint8 NumPy arrays (the small datasets: Fashion-MNIST, MNIST, digits,
  CIFAR-10/100, small image folders), ready for
  :class:`mfdjax.data.DeviceDataset`.

Names: ``"fashion_mnist"`` (default, Debian's ``dataset-fashion-mnist``),
``"mnist"``, ``"digits"`` (scikit-learn), ``"cifar10"``, ``"cifar100"`` (the
CIFAR *python* archives), ``"image_folder"`` and ``"tfds:<name>"``.

``mean`` / ``std`` are per-channel statistics of the TRAINING split in 0-255
pixel units (also for a test split, so train and test are normalised alike).

A missing or damaged file raises :class:`DatasetNotFoundError` (a
``FileNotFoundError``) or :class:`CorruptDatasetError` (a ``ValueError``) whose
message says what was expected and how to get it.

Each source lives in its own module of :mod:`mfdjax.data.sources` (``idx``,
``digits``, ``cifar``, ``image_folder``, ``tfds``; shared pieces in ``common``);
this module holds the two entry points and re-exports the public names, so
``from mfdjax.data.datasets import ...`` keeps working.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from mfdjax.data.sources.cifar import _load_cifar
from mfdjax.data.sources.common import (ArrayDataset, CorruptDatasetError, DatasetNotFoundError,
                                        channel_stats)
from mfdjax.data.sources.digits import _load_digits
from mfdjax.data.sources.idx import (_IDX_INFO, FASHION_MNIST_DIR, _load_idx_dataset, read_idx,
                                     read_idx_header)
from mfdjax.data.sources.image_folder import ImageFolderSource
from mfdjax.data.sources.tfds import TfdsSource

__all__ = [
    "ArrayDataset",
    "CorruptDatasetError",
    "DatasetNotFoundError",
    "DATASET_NAMES",
    "FASHION_MNIST_DIR",
    "ImageFolderSource",
    "TfdsSource",
    "channel_stats",
    "load_dataset",
    "materialize",
    "open_source",
    "read_idx",
    "read_idx_header",
]

DATASET_NAMES = ("fashion_mnist", "mnist", "digits", "cifar10", "cifar100", "image_folder",
                 "tfds:<name>")


def open_source(name: str = "fashion_mnist", split: str = "train", *, data_dir=None,
                **options) -> Any:
    """A random-access source for one split: ``len``, ``src[i] -> (image, label)``.

    The in-memory datasets return their :class:`ArrayDataset` (which is such a
    source); ``"image_folder"`` and ``"tfds:<name>"`` return lazy sources that
    decode one example per access (for :class:`mfdjax.data.HostLoader`).

    Args:
      name: one of :data:`DATASET_NAMES`.
      split: ``"train"`` / ``"test"`` (tfds: any TFDS split string, e.g.
        ``"validation"`` or ``"train[:10%]"``).
      data_dir: where the files are (see :func:`load_dataset`).
      **options: per-dataset options (see :func:`load_dataset`).

    Returns:
      an object with ``__len__``, ``__getitem__``, ``num_classes``, ``name``,
      ``mean``, ``std``, ``class_names``.
    """
    if not isinstance(name, str):
        raise ValueError(f"name must be a string, one of {DATASET_NAMES}, got {name!r}.")
    if name.startswith("tfds:"):
        _check_options(name, options, _TFDS_OPTIONS)
        return TfdsSource(name[5:], split, data_dir=data_dir, **options)
    if name == "image_folder":
        _check_options(name, options, _FOLDER_OPTIONS)
        return ImageFolderSource(data_dir, split, **options)
    return _load_in_memory(name, split, data_dir, **options)


_TFDS_OPTIONS = ("image_key", "label_key", "num_classes_subset", "index_cache", "mean", "std")
_FOLDER_OPTIONS = ("image_size", "mode", "classes", "mean", "std", "name", "stats_sample")
_MEMORY_OPTIONS = {"fashion_mnist": (), "mnist": (), "cifar10": (),
                   "digits": ("test_fraction", "split_seed"), "cifar100": ("label_mode",)}


def _check_options(name: str, options: dict, allowed: Sequence[str]) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"{name}: unknown option(s) {unknown}; {name} accepts "
                         f"{sorted(allowed) + ['limit'] if allowed else ['limit']}.")


def _load_in_memory(name, split, data_dir, *, limit: int | None = None, **options):
    if name not in _MEMORY_OPTIONS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASET_NAMES)}.")
    _check_options(name, options, _MEMORY_OPTIONS[name])
    if limit is not None and int(limit) < 1:
        raise ValueError(f"limit must be >= 1 (or None for all), got {limit}.")
    if name in _IDX_INFO:
        return _load_idx_dataset(name, split, data_dir, limit=limit)
    if name == "digits":
        ds = _load_digits(split, **options)
    else:
        ds = _load_cifar(name, split, data_dir, **options)
    return ds if limit is None else ds.take(np.arange(min(int(limit), len(ds))))


def load_dataset(name: str = "fashion_mnist", split: str = "train", *, data_dir=None,
                 max_bytes: int = 4 << 30, **options) -> ArrayDataset:
    """Loads one split into memory as uint8 arrays.

    Args:
      name: ``"fashion_mnist"`` (default; IDX files, ``data_dir`` defaults to
        :data:`FASHION_MNIST_DIR` from Debian's ``dataset-fashion-mnist``),
        ``"mnist"`` (IDX, ``data_dir`` required), ``"digits"`` (scikit-learn's
        8x8 digits, 0-16 scaled to 0-255; options ``test_fraction=0.2``,
        ``split_seed=0``: a stratified seeded split, ``split="all"`` for all
        1797), ``"cifar10"`` / ``"cifar100"`` (``data_dir`` holding
        ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz`` or the
        extracted folder; cifar100 option ``label_mode="fine"|"coarse"``),
        ``"image_folder"`` (``data_dir/<split>/<class>/*``; options
        ``image_size``, ``mode``, ``classes``, ``mean``, ``std``) or
        ``"tfds:<name>"`` (a prepared TFDS dataset read with
        ``tfds.data_source``; options ``image_key``, ``label_key``,
        ``num_classes_subset``, ``index_cache``, ``mean``, ``std``).
      split: ``"train"`` or ``"test"`` (tfds: any TFDS split).
      data_dir: folder of the files (overrides the default).
      max_bytes: refuse to materialise more than this many image bytes; use
        :func:`open_source` + :class:`mfdjax.data.HostLoader` for such datasets.
      **options: ``limit=n`` keeps the first n examples (all names), plus the
        per-dataset options above.

    Returns:
      :class:`ArrayDataset` with images (N, H, W, C) uint8, labels (N,) int32.
    """
    if isinstance(name, str) and (name.startswith("tfds:") or name == "image_folder"):
        limit = options.pop("limit", None)
        src = open_source(name, split, data_dir=data_dir, **options)
        return materialize(src, limit=limit, max_bytes=max_bytes, split=split)
    return open_source(name, split, data_dir=data_dir, **options)


def materialize(source, *, limit: int | None = None, max_bytes: int = 4 << 30,
                split: str = "") -> ArrayDataset:
    """Reads every example of a random-access source into an :class:`ArrayDataset`."""
    if limit is not None and int(limit) < 1:
        raise ValueError(f"limit must be >= 1 (or None for all), got {limit}.")
    n = len(source) if limit is None else min(int(limit), len(source))
    if n == 0:
        raise DatasetNotFoundError(f"{source.name}: the split is empty.")
    first, _ = source[0]
    if first.nbytes * n > max_bytes:
        raise ValueError(
            f"{source.name}: {n} images of {first.shape} need about {first.nbytes * n / 2**30:.1f} "
            f"GiB (> max_bytes={max_bytes}); stream it with open_source(...) and HostLoader, or "
            "raise max_bytes.")
    images = np.empty((n,) + first.shape, dtype=np.uint8)
    labels = np.empty((n,), dtype=np.int32)
    for i in range(n):
        img, lab = source[i]
        if img.shape != first.shape:
            raise CorruptDatasetError(
                f"{source.name}: example {i} has shape {img.shape}, example 0 {first.shape}; "
                "give image_size= (image_folder) or stream with a resizing HostLoader transform.")
        images[i] = img
        labels[i] = lab
    return ArrayDataset(images=images, labels=labels, num_classes=source.num_classes,
                        name=source.name, mean=source.mean, std=source.std,
                        class_names=source.class_names, split=split)
