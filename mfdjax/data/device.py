"""A small dataset kept on the accelerator(s), gathered inside the jitted step.

Fashion-MNIST's 60,000 uint8 images are 47 MB; CIFAR's 50,000 are 154 MB.
Putting them on the device(s) once and gathering each batch with the index row
of :func:`mfdjax.data.batch_indices` means the host sends one (B,) int32
vector per step and the input pipeline can never starve the accelerator::

    train = load_dataset("fashion_mnist", "train")
    data = DeviceDataset(train)                  # replicated on every device

    @jax.jit
    def train_step(state, data, idx, key):       # data is a pytree argument
        images, labels = data.gather(idx)        # (B, H, W, C) uint8, (B,) int32
        x = augment(key, images, mean=data.mean, std=data.std)
        ...

    for step, idx in enumerate(batch_indices(len(train), 128, seed=0, epoch=epoch)):
        state = train_step(state, data, idx, jax.random.fold_in(key, step))

``DeviceDataset`` is a pytree (arrays are leaves, metadata static), so it is
passed as an ARGUMENT of the jitted function rather than closed over (a closed-
over array would be baked into the program as a constant).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["DeviceDataset"]


@jax.tree_util.register_pytree_node_class
class DeviceDataset:
    """uint8 images and int32 labels resident on device(s).

    Args:
      dataset: an :class:`mfdjax.data.ArrayDataset` (or anything with
        ``images`` (N, H, W, C) uint8, ``labels`` (N,), ``num_classes``,
        ``mean``, ``std``, ``name``).
      sharding: a ``jax.sharding.Sharding`` for both arrays (leading axis =
        examples); default: replicated on every device of ``jax.devices()``
        (each device can then gather any batch locally).

    Attributes:
      images: (N, H, W, C) uint8 ``jax.Array``.
      labels: (N,) int32 ``jax.Array``.
      num_classes, mean, std, name: copied from ``dataset`` (static).
    """

    def __init__(self, dataset: Any, *, sharding: jax.sharding.Sharding | None = None):
        images = np.asarray(dataset.images)
        labels = np.asarray(dataset.labels)
        if images.ndim != 4 or images.dtype != np.uint8:
            raise ValueError(f"dataset.images must be uint8 (N, H, W, C), got "
                             f"{images.dtype} {images.shape}.")
        if labels.shape != images.shape[:1]:
            raise ValueError(f"dataset.labels must have shape ({images.shape[0]},), got "
                             f"{labels.shape}.")
        if sharding is None:
            devices = jax.devices()
            sharding = NamedSharding(Mesh(np.array(devices), ("data",)), PartitionSpec())
        self.images = jax.device_put(images, sharding)
        self.labels = jax.device_put(labels.astype(np.int32), sharding)
        self.num_classes = int(dataset.num_classes)
        self.mean = tuple(float(m) for m in dataset.mean)
        self.std = tuple(float(s) for s in dataset.std)
        self.name = str(getattr(dataset, "name", ""))

    # -- pytree ------------------------------------------------------------------------
    def tree_flatten(self):
        return (self.images, self.labels), (self.num_classes, self.mean, self.std, self.name)

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.images, obj.labels = children
        obj.num_classes, obj.mean, obj.std, obj.name = aux
        return obj

    # -- access ------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[1:])

    def gather(self, indices) -> tuple[jax.Array, jax.Array]:
        """The examples at ``indices``, on device; usable inside ``jax.jit``.

        Negative entries (the ``-1`` padding of
        ``batch_indices(..., drop_remainder=False)``) return example 0; mask
        them with ``indices >= 0``.

        Args:
          indices: integer array of any shape S (typically (B,)).

        Returns:
          images S + (H, W, C) uint8 and labels S int32.
        """
        idx = jnp.asarray(indices)
        if not jnp.issubdtype(idx.dtype, jnp.integer):
            raise ValueError(f"indices must be integers, got {idx.dtype}.")
        idx = jnp.clip(idx, 0, self.labels.shape[0] - 1)
        images = jnp.take(self.images, idx, axis=0, mode="clip")
        labels = jnp.take(self.labels, idx, axis=0, mode="clip")
        return images, labels

    def __repr__(self) -> str:
        return (f"DeviceDataset(name={self.name!r}, n={len(self)}, "
                f"image_shape={self.image_shape}, sharding={self.images.sharding})")
