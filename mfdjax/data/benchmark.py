"""Input-pipeline throughput: ``python -m mfdjax.data.benchmark [--quick]``.

Measures, on the default JAX backend, with synthetic uint8 data of the
papers' shapes (the content does not change the cost):

* ``augment``: jitted pad-4 crop + flip + normalise, images/s;
* ``gather+augment``: one jitted step that gathers a batch from a
  :class:`~mfdjax.data.DeviceDataset` of 50,000 CIFAR-sized images (as the
  train step does) and augments it, images/s;
* ``HostLoader``: host batches/s from an in-memory source (thread pool);
* ``load_dataset('fashion_mnist')``: seconds to read Debian's train split,
  when the files are installed.

Each figure is the median of ``--repeats`` timed runs after a warm-up (and
after compilation), ``block_until_ready`` included. Each step's output is
reduced with a mean (a consumer of every pixel, as the model is), otherwise
XLA would prune the unused pixels and the figure would mean nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from mfdjax.data.augment import augment
from mfdjax.data.datasets import FASHION_MNIST_DIR, ArrayDataset, load_dataset
from mfdjax.data.device import DeviceDataset
from mfdjax.data.loader import HostLoader
from mfdjax.data.sampling import batch_indices


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up (compiles)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_augment(batch: int, shape: tuple[int, int, int], steps: int, repeats: int) -> float:
    x = jnp.asarray(np.random.default_rng(0).integers(0, 256, (batch,) + shape, dtype=np.uint8))
    mean, std = (120.0,) * shape[-1], (60.0,) * shape[-1]

    @jax.jit
    def run(key, x):
        def body(i, acc):
            y = augment(jax.random.fold_in(key, i), x, mean=mean, std=std)
            return acc + jnp.mean(y)  # consume every pixel (else XLA prunes the work)
        return jax.lax.fori_loop(0, steps, body, jnp.float32(0))

    key = jax.random.key(0)
    t = _median_time(lambda: run(key, x).block_until_ready(), repeats)
    return batch * steps / t


def bench_gather_augment(n: int, batch: int, shape, steps: int, repeats: int) -> float:
    rng = np.random.default_rng(0)
    ds = ArrayDataset(images=rng.integers(0, 256, (n,) + shape, dtype=np.uint8),
                      labels=rng.integers(0, 10, n).astype(np.int32), num_classes=10,
                      name="synthetic", mean=(120.0,) * shape[-1], std=(60.0,) * shape[-1])
    data = DeviceDataset(ds, sharding=jax.sharding.SingleDeviceSharding(jax.devices()[0]))
    idx = jnp.asarray(batch_indices(n, batch, seed=0, epoch=0)[:steps])

    @jax.jit
    def run(data, idx, key):
        def body(i, acc):
            images, labels = data.gather(idx[i])
            y = augment(jax.random.fold_in(key, i), images, mean=data.mean, std=data.std)
            return acc + jnp.mean(y) + jnp.mean(labels)
        return jax.lax.fori_loop(0, idx.shape[0], body, jnp.float32(0))

    key = jax.random.key(0)
    t = _median_time(lambda: run(data, idx, key).block_until_ready(), repeats)
    return batch * idx.shape[0] / t


def bench_host_loader(n: int, batch: int, shape, workers: int, repeats: int) -> float:
    rng = np.random.default_rng(0)
    ds = ArrayDataset(images=rng.integers(0, 256, (n,) + shape, dtype=np.uint8),
                      labels=rng.integers(0, 10, n).astype(np.int32), num_classes=10,
                      name="synthetic", mean=(120.0,) * shape[-1], std=(60.0,) * shape[-1])
    loader = HostLoader(ds, batch, seed=0, epoch=0, num_workers=workers)
    t = _median_time(lambda: [None for _ in loader], repeats)
    return len(loader) / t


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    steps = 5 if args.quick else 50
    print(f"backend={jax.default_backend()} device={jax.devices()[0].device_kind} "
          f"jax={jax.__version__}")
    for batch, shape in ((128, (32, 32, 3)), (1024, (32, 32, 3)), (128, (28, 28, 1))):
        ips = bench_augment(batch, shape, steps, args.repeats)
        print(f"augment           batch={batch:5d} shape={shape}: {ips:12,.0f} images/s")
    n = 5_000 if args.quick else 50_000
    for batch in (128, 1024):
        ips = bench_gather_augment(n, batch, (32, 32, 3), min(steps, n // batch), args.repeats)
        print(f"gather+augment    batch={batch:5d} N={n} (32, 32, 3): {ips:12,.0f} images/s")
    for workers in (1, 4):
        bps = bench_host_loader(2_000 if args.quick else 20_000, 128, (32, 32, 3), workers,
                                args.repeats)
        print(f"HostLoader        batch=  128 workers={workers}: {bps:10,.1f} batches/s "
              f"({bps * 128:,.0f} images/s)")
    if Path(FASHION_MNIST_DIR, "train-images-idx3-ubyte.gz").is_file():
        t0 = time.perf_counter()
        ds = load_dataset("fashion_mnist", "train")
        print(f"load_dataset('fashion_mnist', 'train'): {time.perf_counter() - t0:.2f} s "
              f"({len(ds)} images)")


if __name__ == "__main__":
    main()
