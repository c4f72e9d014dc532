"""DeviceDataset (gather inside jit, sharded) and HostLoader (order, resume, processes)."""

import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from mfdjax.data import (
    DeviceDataset,
    HostLoader,
    augment,
    batch_indices,
    load_dataset,
)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "train")


def test_device_dataset_gather_in_jit_matches_numpy(digits):
    data = DeviceDataset(digits)
    assert len(data) == len(digits) and data.image_shape == (8, 8, 1)
    assert data.images.sharding.is_fully_replicated and len(data.images.sharding.device_set) == 8
    idx = batch_indices(len(digits), 64, seed=0, epoch=1)

    @jax.jit
    def step(d, i, key):
        images, labels = d.gather(i)
        return augment(key, images, mean=d.mean, std=d.std), images, labels

    mesh = Mesh(np.array(jax.devices()), ("data",))
    for t in (0, 5):
        i = jax.device_put(idx[t], NamedSharding(mesh, P("data")))  # batch sharded
        x, images, labels = step(data, i, jax.random.key(t))
        np.testing.assert_array_equal(np.asarray(images), digits.images[idx[t]])
        np.testing.assert_array_equal(np.asarray(labels), digits.labels[idx[t]])
        assert x.shape == (64, 8, 8, 1) and x.dtype == jnp.float32
    # padded evaluation batches: -1 rows are valid gathers, masked by the caller
    last = batch_indices(len(digits), 64, seed=0, epoch=0, drop_remainder=False)[-1]
    images, labels = jax.jit(DeviceDataset.gather)(data, last)
    mask = last >= 0
    np.testing.assert_array_equal(np.asarray(labels)[mask], digits.labels[last[mask]])


def test_device_dataset_custom_sharding(digits):
    small = digits.take(np.arange(16))
    mesh = Mesh(np.array(jax.devices()), ("data",))
    data = DeviceDataset(small, sharding=NamedSharding(mesh, P("data")))
    assert not data.images.sharding.is_fully_replicated
    images, labels = jax.jit(lambda d, i: d.gather(i))(data, jnp.arange(15, -1, -1))
    np.testing.assert_array_equal(np.asarray(images), small.images[::-1])
    leaves, treedef = jax.tree.flatten(data)
    assert len(leaves) == 2
    back = jax.tree.unflatten(treedef, leaves)
    assert back.mean == data.mean and back.num_classes == 10


class _CountingSource:
    """A slow-ish source recording which indices were read and from how many threads."""

    def __init__(self, ds):
        self.ds = ds
        self.threads = set()
        self.lock = threading.Lock()

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        with self.lock:
            self.threads.add(threading.get_ident())
        return self.ds[i]


def test_host_loader_order_equals_batch_indices_and_resumes(digits):
    src = _CountingSource(digits)
    idx = batch_indices(len(digits), 100, seed=4, epoch=2)
    batches = list(HostLoader(src, 100, seed=4, epoch=2, num_workers=3))
    assert len(batches) == idx.shape[0]
    for (images, labels), row in zip(batches, idx):
        assert images.dtype == np.uint8 and labels.dtype == np.int32
        np.testing.assert_array_equal(images, digits.images[row])
        np.testing.assert_array_equal(labels, digits.labels[row])
    assert len(src.threads) > 1  # the reads ran in the pool
    resumed = HostLoader(src, 100, seed=4, epoch=2, start_step=9)
    assert len(resumed) == idx.shape[0] - 9
    for (images, _), (want, _) in zip(resumed, batches[9:]):
        np.testing.assert_array_equal(images, want)


def test_host_loader_process_shares_and_padding(digits):
    small = digits.take(np.arange(50))
    full = batch_indices(50, 16, seed=1, epoch=0, drop_remainder=False)
    shares = [list(HostLoader(small, 16, seed=1, epoch=0, process_index=p, process_count=2,
                              drop_remainder=False)) for p in range(2)]
    for t in range(full.shape[0]):
        labels = np.concatenate([shares[p][t][1] for p in range(2)])
        images = np.concatenate([shares[p][t][0] for p in range(2)])
        row = full[t]
        np.testing.assert_array_equal(labels[row >= 0], small.labels[row[row >= 0]])
        assert np.all(labels[row < 0] == -1) and np.all(images[row < 0] == 0)
        np.testing.assert_array_equal(shares[0][t][1], labels[:8])
    assert sum(int((s[1] >= 0).sum()) for share in shares for s in share) == 50


def test_host_loader_stops_early_and_bad_args(digits):
    it = iter(HostLoader(digits, 10, seed=0, epoch=0, prefetch=3))
    next(it)
    it.close()  # generator cleanup shuts the pool down without hanging
    with pytest.raises(ValueError, match="start_step"):
        HostLoader(digits, 10, seed=0, epoch=0, start_step=10_000)
    with pytest.raises(ValueError, match="divisible"):
        HostLoader(digits, 10, seed=0, epoch=0, process_count=3)
