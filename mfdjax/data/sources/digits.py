"""scikit-learn's 8x8 digits (a small real dataset that needs no files)."""

from __future__ import annotations

import functools

import numpy as np

from mfdjax.data.sources.common import ArrayDataset, DatasetNotFoundError, channel_stats


def _digits_split(labels: np.ndarray, test_fraction: float, split_seed: int) -> np.ndarray:
    """Boolean test mask: a stratified, seeded split (round(fraction * n_c) per class)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([0x64696769, split_seed])))
    test = np.zeros(labels.shape[0], dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = int(round(test_fraction * idx.size))
        test[rng.permutation(idx)[:k]] = True
    return test


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as read-only (N, 8, 8, 1) uint8 images and (N,) int32 labels (cached)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # scikit-learn is a test extra, not a core dependency
        raise DatasetNotFoundError(
            "digits needs scikit-learn: `pip install scikit-learn` (or mfdjax[test]).") from err
    bunch = load_digits()
    # 0-16 integer intensities -> 0-255 uint8 (x * 255 / 16, rounded).
    images = np.rint(bunch.images.astype(np.float64) * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int32)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def _load_digits(split: str, *, test_fraction: float = 0.2, split_seed: int = 0
                 ) -> ArrayDataset:
    if split not in ("train", "test", "all"):
        raise ValueError(f"digits: split must be 'train', 'test' or 'all', got {split!r}.")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"digits: test_fraction must be in (0, 1), got {test_fraction}.")
    images, labels = _digits_arrays()
    test = _digits_split(labels, test_fraction, split_seed)
    mean, std = channel_stats(images[~test])
    if split != "all":
        keep = test if split == "test" else ~test
        images, labels = images[keep], labels[keep]
    return ArrayDataset(images=images, labels=labels, num_classes=10, name="digits",
                        mean=mean, std=std, class_names=tuple(str(i) for i in range(10)),
                        split=split)
