"""Benchmark: the image-folder input path with HostLoader (threads) vs grain's DataLoader.

The path measured is the ImageNet one: JPEG decode (PIL, through
:class:`mfdjax.data.ImageFolderSource`) + RandomResizedCrop(224) + flip
(:func:`mfdjax.data.random_resized_crop`) + batching to uint8 (b, 224, 224, 3).
Images are synthetic ImageNet-sized JPEGs (500x375 and 375x500, smooth content
plus noise, quality 90) written to a temporary folder. Both loaders read the same
source with the same transform; each configuration reads one epoch, and the
configurations are interleaved and repeated, so a changing machine load hits all
of them alike. Reported: images/s, median over the repeats.

grain is not a dependency of mfdjax; install it to run this::

    pip install grain
    nice -n 5 python benchmarks/bench_loader_grain.py --images 160 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def write_jpegs(root: Path, n: int, seed: int = 0) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(n):
        h, w = (375, 500) if i % 2 else (500, 375)
        low = rng.uniform(0, 255, size=(h // 25 + 1, w // 25 + 1, 3)).astype(np.uint8)
        img = Image.fromarray(low).resize((w, h), Image.BILINEAR)
        arr = np.asarray(img, dtype=np.int16) + rng.integers(-12, 13, size=(h, w, 3))
        out = root / "train" / f"class{i % 4}"
        out.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(out / f"{i:05d}.jpg",
                                                                    quality=90)


def run_hostloader(source, batch: int, workers: int, transform) -> int:
    from mfdjax.data import HostLoader

    seen = 0
    for images, _ in HostLoader(source, batch, seed=0, epoch=0, num_workers=workers,
                                prefetch=2, transform=transform):
        seen += images.shape[0]
    return seen


def run_grain(source, batch: int, workers: int, transform) -> int:
    import grain.python as gp
    from absl import flags

    if not flags.FLAGS.is_parsed():  # grain's worker processes read absl flags
        flags.FLAGS.mark_as_parsed()

    class Crop(gp.RandomMapTransform):
        def random_map(self, element, rng: np.random.Generator):
            image, label = element
            return transform(np.asarray(image), rng), np.int32(label)

    loader = gp.DataLoader(
        data_source=source,
        sampler=gp.IndexSampler(num_records=len(source), shard_options=gp.NoSharding(),
                                shuffle=True, num_epochs=1, seed=0),
        operations=[Crop(), gp.Batch(batch_size=batch, drop_remainder=True)],
        worker_count=workers)
    seen = 0
    for images, _ in loader:
        seen += images.shape[0]
    return seen


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=160)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--workers", default="2", help="comma-separated worker counts")
    args = p.parse_args(argv)

    from mfdjax.data import ImageFolderSource, random_resized_crop

    workers = [int(w) for w in args.workers.split(",")]
    configs = [(f"HostLoader threads={w}", run_hostloader, w) for w in workers]
    configs += [(f"grain DataLoader worker_count={w}", run_grain, w) for w in [0] + workers]
    with tempfile.TemporaryDirectory() as tmp:
        write_jpegs(Path(tmp), args.images)
        source = ImageFolderSource(tmp, "train", mean=127.0, std=64.0)
        times = {name: [] for name, _, _ in configs}
        for _ in range(args.repeats):
            for name, fn, w in configs:
                t0 = time.perf_counter()
                seen = fn(source, args.batch, w, random_resized_crop)
                times[name].append(seen / (time.perf_counter() - t0))
    print(f"{args.images} JPEGs, batch {args.batch}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    for name, rates in times.items():
        print(f"{name:36s} {statistics.median(rates):8.1f} images/s  "
              f"(runs: {', '.join(f'{r:.0f}' for r in rates)})")


if __name__ == "__main__":
    main()
