"""TensorFlow Datasets prepared as array_record, read with ``tfds.data_source`` (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mfdjax.data.sources.common import (CorruptDatasetError, DatasetNotFoundError,
                                        _channel_tuple, _sampled_stats)
from mfdjax.data.sources.cifar import _CIFAR
from mfdjax.data.sources.idx import _IDX_INFO


# Training-split statistics, 0-255 units.
_TFDS_STATS = {
    "cifar10": _CIFAR["cifar10"], "cifar100": _CIFAR["cifar100"],
    "fashion_mnist": _IDX_INFO["fashion_mnist"], "mnist": _IDX_INFO["mnist"],
    # ImageNet: the torchvision constants (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225).
    "imagenet2012": dict(mean=(0.485 * 255, 0.456 * 255, 0.406 * 255),
                         std=(0.229 * 255, 0.224 * 255, 0.225 * 255)),
}


class TfdsSource:
    """Random-access view of ``tfds.data_source(name, split=..., data_dir=...)``.

    Items come back as ``(image uint8 (H, W, C), label int)`` from the record's
    ``image_key`` / ``label_key`` features. ``num_classes_subset=N`` keeps only
    the examples with label < N, i.e. the first N classes in TFDS's label order
    (for ``imagenet2012`` the sorted WordNet ids n01440764, ...): the POD paper
    Table 3 calls its ImageNet(N) "the top N classes of ImageNet dataset"
    without saying how they were picked; the first N of the standard class
    order is the reading adopted here. Selecting them needs every label once
    (a full pass over the split); pass ``index_cache=`` a ``.npy`` path to
    keep the selected indices between runs.
    """

    def __init__(self, name: str, split: str, *, data_dir=None, image_key: str = "image",
                 label_key: str = "label", num_classes_subset: int | None = None,
                 index_cache=None, mean=None, std=None):
        try:
            import tensorflow_datasets as tfds
        except ImportError as err:
            raise DatasetNotFoundError(
                "tfds: datasets need `pip install tensorflow-datasets`.") from err
        try:
            self._src = tfds.data_source(name, split=split, data_dir=data_dir)
        except Exception as err:  # noqa: BLE001 - tfds raises many types for "not prepared"
            raise DatasetNotFoundError(
                f"tfds:{name} split {split!r} is not available under data_dir={data_dir!r} "
                f"({type(err).__name__}: {err}). Prepare it once with TensorFlow installed: "
                f"`tfds build {name} --file_format=array_record` (or "
                f"tfds.builder('{name}').download_and_prepare(file_format='array_record')); "
                "this machine has no network for the download.") from err
        self.name = f"tfds:{name}"
        self.split = split
        self.image_key, self.label_key = image_key, label_key
        feats = getattr(self._src, "dataset_info", None)
        feats = feats.features if feats is not None else None
        label_feat = feats[label_key] if feats is not None and label_key in feats else None
        num_classes = getattr(label_feat, "num_classes", None)
        names = getattr(label_feat, "names", None)
        image_feat = feats[image_key] if feats is not None and image_key in feats else None
        self.image_shape = tuple(image_feat.shape) if image_feat is not None else None
        if num_classes is None:
            raise CorruptDatasetError(
                f"tfds:{name}: feature {label_key!r} has no num_classes (a ClassLabel is "
                "expected); pass label_key= the class-label feature.")
        self._indices = None
        if num_classes_subset is not None:
            k = int(num_classes_subset)
            if not 1 <= k <= num_classes:
                raise ValueError(f"num_classes_subset must be in [1, {num_classes}], got {k}.")
            self._indices = self._subset_indices(k, index_cache)
            num_classes = k
            names = names[:k] if names else names
        self.num_classes = int(num_classes)
        self.class_names = tuple(names) if names else None
        base = name.split("/")[0].split(":")[0]
        stats = _TFDS_STATS.get(base)
        if mean is None or std is None:
            if stats is not None:
                m, s = stats["mean"], stats["std"]
            else:
                m, s = _sampled_stats(self, 1000)
            mean = m if mean is None else mean
            std = s if std is None else std
        c = self.image_shape[-1] if self.image_shape else len(np.atleast_1d(mean))
        self.mean = _channel_tuple(mean, "mean", c)
        self.std = _channel_tuple(std, "std", c)

    def _subset_indices(self, k: int, index_cache) -> np.ndarray:
        if index_cache is not None and Path(index_cache).is_file():
            return np.load(index_cache)
        n = len(self._src)
        keep = np.fromiter((int(self._src[i][self.label_key]) < k for i in range(n)),
                           dtype=bool, count=n)
        idx = np.flatnonzero(keep).astype(np.int64)
        if index_cache is not None:
            np.save(index_cache, idx)
        return idx

    def __len__(self) -> int:
        return len(self._src) if self._indices is None else int(self._indices.size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        i = int(index)
        if self._indices is not None:
            i = int(self._indices[i])
        rec = self._src[i]
        image = np.asarray(rec[self.image_key])
        if image.ndim == 2:
            image = image[..., None]
        if image.dtype != np.uint8:
            raise CorruptDatasetError(f"{self.name}: feature {self.image_key!r} is "
                                      f"{image.dtype}, uint8 expected.")
        return image, int(rec[self.label_key])
