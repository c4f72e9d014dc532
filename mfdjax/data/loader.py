"""Host-side streaming of large random-access sources, in the order of batch_indices.

For datasets too large for :class:`mfdjax.data.DeviceDataset` (ImageNet via
``tfds:imagenet2012``, big image folders) the host reads the examples of each
batch with a small thread pool (decoders such as PIL and array_record release
the GIL) and keeps ``prefetch`` batches in flight. Batches come in exactly the
order of :func:`mfdjax.data.batch_indices` (sliced per process with
:func:`mfdjax.data.process_slice`), so a run restored at ``(epoch, step)``
continues with ``HostLoader(..., epoch=epoch, start_step=step)``.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
from typing import Any, Callable, Iterator

import numpy as np

from mfdjax.data.sampling import batch_indices, process_slice

__all__ = ["HostLoader"]

_TRANSFORM_TAG = 0x7472616E  # separates the transform streams from the shuffling stream


class HostLoader:
    """Iterates ``(images uint8 (b, H, W, C), labels int32 (b,))`` for one epoch.

    ``b = batch_size // process_count`` is this process's share of the global
    batch. With ``drop_remainder=False`` the last batch is padded to ``b``:
    padded rows have label ``-1`` and zero pixels.

    Args:
      source: random-access source (``len``, ``source[i] -> (image, label)``),
        e.g. from :func:`mfdjax.data.open_source`.
      batch_size: GLOBAL batch size (all processes together).
      seed: data seed (same on every process).
      epoch: epoch number.
      start_step: first step to produce (resume mid-epoch).
      process_index, process_count: ``jax.process_index()``,
        ``jax.process_count()``; process_count must divide batch_size.
      drop_remainder: as in :func:`mfdjax.data.batch_indices`.
      shuffle: False keeps the natural order (evaluation).
      num_workers: threads reading examples (>= 1).
      prefetch: batches read ahead of the consumer (>= 1).
      transform: optional ``fn(image, rng) -> image`` run in the worker threads
        (e.g. :func:`mfdjax.data.transforms.random_resized_crop` for ImageNet).
        ``rng`` is a ``np.random.Generator`` seeded from ``(seed, epoch,
        example index)``, so random transforms are reproducible and resumable
        whatever the thread timing.
    """

    def __init__(self, source: Any, batch_size: int, *, seed: int, epoch: int,
                 start_step: int = 0, process_index: int = 0, process_count: int = 1,
                 drop_remainder: bool = True, shuffle: bool = True, num_workers: int = 4,
                 prefetch: int = 2,
                 transform: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None):
        if num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {num_workers}.")
        if prefetch < 1:
            raise ValueError(f"prefetch must be >= 1, got {prefetch}.")
        indices = batch_indices(len(source), batch_size, seed=seed, epoch=epoch,
                                drop_remainder=drop_remainder, shuffle=shuffle)
        local = process_slice(indices, process_index, process_count)
        if not 0 <= int(start_step) <= local.shape[0]:
            raise ValueError(f"start_step must be in [0, {local.shape[0]}] (steps per epoch), "
                             f"got {start_step}.")
        self.source = source
        self.indices = local[int(start_step):]
        self.start_step = int(start_step)
        self.num_workers = int(num_workers)
        self.prefetch = int(prefetch)
        self.transform = transform
        self.seed, self.epoch = int(seed), int(epoch)

    def __len__(self) -> int:
        """Batches left to produce."""
        return int(self.indices.shape[0])

    def _read(self, i: int):
        if i < 0:
            return None
        image, label = self.source[int(i)]
        image = np.asarray(image)
        if self.transform is not None:
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
                [_TRANSFORM_TAG, self.seed, self.epoch, int(i)])))
            image = np.asarray(self.transform(image, rng))
        if image.ndim == 2:
            image = image[..., None]
        return image, int(label)

    def _assemble(self, row: np.ndarray, items: list) -> tuple[np.ndarray, np.ndarray]:
        real = [it for it in items if it is not None]
        # a share made only of padding still needs the image shape: read example 0 once
        shape = real[0][0].shape if real else self._read(0)[0].shape
        images = np.zeros((len(items),) + shape, dtype=np.uint8)
        labels = np.full((len(items),), -1, dtype=np.int32)
        for j, it in enumerate(items):
            if it is None:
                continue
            img, lab = it
            if img.shape != shape:
                raise ValueError(
                    f"example {row[j]} has shape {img.shape}, others {shape}: give the "
                    "source a fixed image_size or HostLoader a resizing transform=.")
            if img.dtype != np.uint8:
                raise ValueError(f"example {row[j]} is {img.dtype}; uint8 pixels expected.")
            images[j] = img
            labels[j] = lab
        return images, labels

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        pool = cf.ThreadPoolExecutor(max_workers=self.num_workers,
                                     thread_name_prefix="mfdjax-data")
        pending: collections.deque = collections.deque()
        rows = iter(self.indices)
        try:
            def submit_next() -> bool:
                row = next(rows, None)
                if row is None:
                    return False
                pending.append((row, [pool.submit(self._read, i) for i in row]))
                return True

            for _ in range(self.prefetch):
                if not submit_next():
                    break
            while pending:
                row, futures = pending.popleft()
                submit_next()
                yield self._assemble(row, [f.result() for f in futures])
        finally:
            for _, futures in pending:
                for f in futures:
                    f.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
