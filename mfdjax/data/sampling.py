"""Reproducible, resumable example order: one permutation per (seed, epoch).

The order of examples is a *pure function* of ``(seed, epoch)``: nothing is
carried from one epoch to the next, so a run restored at ``(epoch, step)``
rebuilds exactly the batches it would have seen (``batch_indices(...)[step:]``)
without replaying the earlier epochs or saving any sampler state in the
checkpoint.

Multi-host: every process computes the same *global* index array and keeps its
own contiguous slice of each global batch (:func:`process_slice`), the layout
``jax.make_array_from_process_local_data`` expects for a batch sharded on a
``'data'`` mesh axis whose devices are ordered by process.
"""

from __future__ import annotations

import numpy as np

__all__ = ["epoch_permutation", "batch_indices", "num_batches", "process_slice"]

# Mixed into the SeedSequence so that the shuffling stream is independent of
# any other use of the same user seed (e.g. jax.random.key(seed) for init).
_STREAM_TAG = 0x6D666464  # "mfdd"


def _check_nonneg_int(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a Python int, got {value!r} ({type(value).__name__}).")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}.")
    return int(value)


def epoch_permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of the examples for one epoch.

    .. math::

          \\pi_{s,e} = \\operatorname{permutation}\\big(\\mathrm{PCG64}(\\mathrm{SeedSequence}
          ([\\text{tag}, s, e]))\\big)

    A pure function of ``(seed, epoch)``: two calls with the same arguments give
    the same permutation, different epochs / seeds give independent ones.
    (NumPy's ``Generator`` streams are stable within a NumPy version; NumPy does
    not promise bit-identical streams across versions, so resume with the same
    environment.)

    Args:
        num_examples: N, the dataset size (>= 1).
        seed: non-negative int, the run's data seed.
        epoch: non-negative int, the epoch number (0-based).

    Returns:
        int64 array of shape (N,), a permutation of ``0..N-1``.
    """
    n = _check_nonneg_int(num_examples, "num_examples")
    if n == 0:
        raise ValueError("num_examples must be >= 1 (the dataset is empty).")
    s = _check_nonneg_int(seed, "seed")
    e = _check_nonneg_int(epoch, "epoch")
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([_STREAM_TAG, s, e])))
    return rng.permutation(n)


def num_batches(num_examples: int, batch_size: int, *, drop_remainder: bool = True) -> int:
    """Steps per epoch: ``N // B`` with ``drop_remainder`` else ``ceil(N / B)``."""
    n = _check_nonneg_int(num_examples, "num_examples")
    b = _check_nonneg_int(batch_size, "batch_size")
    if b == 0:
        raise ValueError("batch_size must be >= 1.")
    return n // b if drop_remainder else -(-n // b)


def batch_indices(num_examples: int, batch_size: int, *, seed: int, epoch: int,
                                    drop_remainder: bool = True, shuffle: bool = True) -> np.ndarray:
    """All batches of one epoch as a (steps, batch_size) index array.

    Row ``t`` holds the example indices of step ``t`` of epoch ``epoch``:

    .. math::

          I_{t, j} = \\pi_{s,e}(t B + j), \\qquad 0 \\le t < \\lfloor N / B \\rfloor,\\;
          0 \\le j < B

    (:func:`epoch_permutation`; the identity when ``shuffle=False``). To resume
    mid-epoch at step ``t0`` use ``batch_indices(...)[t0:]``: the result depends
    only on ``(num_examples, batch_size, seed, epoch)``.

    With ``drop_remainder=False`` the last, partial batch is kept and padded
    with ``-1``; ``indices >= 0`` is then the mask of real examples (use it for
    evaluation, where every example must count exactly once).
    :meth:`mfdjax.data.DeviceDataset.gather` and :class:`mfdjax.data.HostLoader`
    accept the padded rows.

    Args:
        num_examples: N, dataset size.
        batch_size: B, GLOBAL batch size (all processes together).
        seed: non-negative int, data seed.
        epoch: non-negative int, epoch number.
        drop_remainder: drop the last ``N mod B`` examples of the (shuffled) epoch
            (the training default; each epoch drops different examples).
        shuffle: ``False`` keeps the natural order ``0..N-1`` (evaluation).

    Returns:
        int32 array of shape (steps, B).
    """
    n = _check_nonneg_int(num_examples, "num_examples")
    steps = num_batches(n, batch_size, drop_remainder=drop_remainder)
    if n >= 2**31:
        raise ValueError(f"num_examples={n} does not fit int32 indices.")
    if steps == 0:
        raise ValueError(
                f"batch_size={batch_size} is larger than num_examples={n} with drop_remainder=True: "
                "an epoch would have no batch. Lower batch_size or pass drop_remainder=False.")
    if shuffle:
        order = epoch_permutation(n, seed, epoch)
    else:  # seed/epoch still validated, so a typo is not silent.
        _check_nonneg_int(seed, "seed")
        _check_nonneg_int(epoch, "epoch")
        order = np.arange(n)
    total = steps * batch_size
    if total <= n:
        flat = order[:total]
    else:
        flat = np.full((total,), -1, dtype=np.int64)
        flat[:n] = order
    return flat.astype(np.int32).reshape(steps, batch_size)


def process_slice(indices: np.ndarray, process_index: int, process_count: int) -> np.ndarray:
    """This process's contiguous share of each global batch.

    Process ``p`` of ``P`` keeps columns ``[p B/P, (p+1) B/P)`` of every batch,
    so concatenating the slices of all processes in process order gives back the
    global batch (the layout ``jax.make_array_from_process_local_data`` expects).

    Args:
        indices: (..., B) global batch indices, e.g. the output of
            :func:`batch_indices` (steps, B) or one row (B,).
        process_index: p, in ``[0, P)`` (``jax.process_index()``).
        process_count: P (``jax.process_count()``); must divide B.

    Returns:
        array of shape (..., B // P), a view of ``indices``.
    """
    indices = np.asarray(indices)
    if indices.ndim < 1:
        raise ValueError("indices must have at least one axis (the batch axis, last).")
    p = _check_nonneg_int(process_index, "process_index")
    count = _check_nonneg_int(process_count, "process_count")
    if count == 0:
        raise ValueError("process_count must be >= 1.")
    if p >= count:
        raise ValueError(f"process_index={p} must be < process_count={count}.")
    b = indices.shape[-1]
    if b % count:
        raise ValueError(
                f"the global batch size {b} (last axis of indices) must be divisible by "
                f"process_count={count}; choose a batch size that is a multiple of it.")
    per = b // count
    return indices[..., p * per:(p + 1) * per]
