"""mfdjax.data: real data in, reproducible and resumable, augmented on the device.

* :func:`load_dataset` / :func:`open_source`: Fashion-MNIST (default), MNIST,
  scikit-learn digits, CIFAR-10/100 python archives, image folders, TFDS.
* :func:`batch_indices` / :func:`epoch_permutation` / :func:`process_slice`:
  the example order, a pure function of ``(seed, epoch)`` (resume = slice).
* :func:`augment` / :func:`normalize`: pad-crop-flip and normalisation in
  ``jnp``, inside the jitted step.
* :class:`DeviceDataset`: small datasets resident on device, ``gather`` in jit.
* :class:`HostLoader`: threaded host streaming for large sources, with host
  transforms (:func:`random_resized_crop`, :func:`resize_center_crop`) for
  variable-size images.
"""

from mfdjax.data.augment import augment, normalize, random_crop, random_flip
from mfdjax.data.datasets import (
    DATASET_NAMES,
    FASHION_MNIST_DIR,
    ArrayDataset,
    CorruptDatasetError,
    DatasetNotFoundError,
    ImageFolderSource,
    TfdsSource,
    channel_stats,
    load_dataset,
    materialize,
    open_source,
    read_idx,
    read_idx_header,
)
from mfdjax.data.device import DeviceDataset
from mfdjax.data.loader import HostLoader
from mfdjax.data.transforms import random_resized_crop, resize_center_crop
from mfdjax.data.sampling import batch_indices, epoch_permutation, num_batches, process_slice

__all__ = [
    "ArrayDataset",
    "CorruptDatasetError",
    "DATASET_NAMES",
    "DatasetNotFoundError",
    "DeviceDataset",
    "FASHION_MNIST_DIR",
    "HostLoader",
    "ImageFolderSource",
    "TfdsSource",
    "augment",
    "batch_indices",
    "channel_stats",
    "epoch_permutation",
    "load_dataset",
    "materialize",
    "normalize",
    "num_batches",
    "open_source",
    "process_slice",
    "random_crop",
    "random_flip",
    "random_resized_crop",
    "resize_center_crop",
    "read_idx",
    "read_idx_header",
]
