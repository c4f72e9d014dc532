"""batch_indices / epoch_permutation / process_slice: reproducible, resumable, partitioned."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mfdjax.data import batch_indices, epoch_permutation, num_batches, process_slice


def test_permutation_is_pure_function_of_seed_and_epoch():
    a = epoch_permutation(1000, 3, 7)
    b = epoch_permutation(1000, 3, 7)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.sort(a), np.arange(1000))
    assert not np.array_equal(a, epoch_permutation(1000, 3, 8))  # other epoch
    assert not np.array_equal(a, epoch_permutation(1000, 4, 7))  # other seed
    assert not np.array_equal(a, np.arange(1000))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), b=st.integers(1, 64), seed=st.integers(0, 2**31),
       epoch=st.integers(0, 1000))
def test_batch_indices_shapes_and_permutation(n, b, seed, epoch):
    if b > n:
        with pytest.raises(ValueError, match="batch_size"):
            batch_indices(n, b, seed=seed, epoch=epoch)
    else:
        idx = batch_indices(n, b, seed=seed, epoch=epoch)
        assert idx.dtype == np.int32 and idx.shape == (n // b, b)
        assert len(np.unique(idx)) == idx.size  # no repeats within an epoch
        assert idx.min() >= 0 and idx.max() < n
        np.testing.assert_array_equal(idx.ravel(), epoch_permutation(n, seed, epoch)[:idx.size])
    full = batch_indices(n, b, seed=seed, epoch=epoch, drop_remainder=False)
    assert full.shape == (-(-n // b), b) == (num_batches(n, b, drop_remainder=False), b)
    real = full[full >= 0]
    np.testing.assert_array_equal(np.sort(real), np.arange(n))  # every example exactly once
    assert np.all(full.ravel()[n:] == -1)  # padding only at the end


def test_resume_mid_epoch_equals_tail():
    full = batch_indices(1003, 32, seed=11, epoch=5)
    for start in (0, 1, 17, full.shape[0] - 1):
        resumed = batch_indices(1003, 32, seed=11, epoch=5)[start:]
        np.testing.assert_array_equal(resumed, full[start:])
    assert not np.array_equal(full, batch_indices(1003, 32, seed=11, epoch=6))


def test_no_shuffle_is_natural_order():
    idx = batch_indices(10, 4, seed=0, epoch=0, shuffle=False, drop_remainder=False)
    np.testing.assert_array_equal(idx, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, -1, -1]])


@pytest.mark.parametrize("procs", [1, 2, 4, 8])
def test_process_slices_partition_global_batch(procs):
    idx = batch_indices(500, 64, seed=1, epoch=2)
    parts = [process_slice(idx, p, procs) for p in range(procs)]
    assert all(p.shape == (idx.shape[0], 64 // procs) for p in parts)
    np.testing.assert_array_equal(np.concatenate(parts, axis=-1), idx)
    np.testing.assert_array_equal(process_slice(idx[3], 0, procs), parts[0][3])


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_examples=10, batch_size=0, seed=0, epoch=0), "batch_size"),
    (dict(num_examples=10, batch_size=2, seed=-1, epoch=0), "seed"),
    (dict(num_examples=10, batch_size=2, seed=0, epoch=1.5), "epoch"),
    (dict(num_examples=0, batch_size=1, seed=0, epoch=0), "num_examples"),
])
def test_bad_arguments(kwargs, match):
    n, b = kwargs.pop("num_examples"), kwargs.pop("batch_size")
    with pytest.raises(ValueError, match=match):
        batch_indices(n, b, **kwargs)


def test_process_slice_errors():
    idx = np.zeros((2, 10), np.int32)
    with pytest.raises(ValueError, match="divisible"):
        process_slice(idx, 0, 3)
    with pytest.raises(ValueError, match="process_index"):
        process_slice(idx, 2, 2)
