"""IDX files whose headers lie, or that are far larger than what is trained on: a
clear error before any allocation, and only the examples needed are read."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from mfdjax.data import load_dataset
from mfdjax.data.sources.common import CorruptDatasetError


def _write_pair(folder, n_images: int, *, declared: int | None = None, chunk: int = 10_000):
    """A gzip IDX train pair of zero images / labels (``declared`` overrides the header)."""
    folder.mkdir(parents=True, exist_ok=True)
    header_n = n_images if declared is None else declared
    with gzip.open(folder / "train-images-idx3-ubyte.gz", "wb", compresslevel=1) as f:
        f.write(struct.pack(">BBBBIII", 0, 0, 8, 3, header_n, 28, 28))
        zeros = bytes(chunk * 784)
        for start in range(0, n_images, chunk):
            f.write(zeros[: min(chunk, n_images - start) * 784])
    with gzip.open(folder / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">BBBBI", 0, 0, 8, 1, header_n))
        f.write(bytes(n_images))
    return folder


def test_a_header_declaring_2_to_the_31_images_is_refused_before_allocating(tmp_path):
    folder = _write_pair(tmp_path / "lie", 10, declared=2 ** 31)
    with pytest.raises(CorruptDatasetError, match="cannot hold them"):
        load_dataset("fashion_mnist", "train", data_dir=str(folder))


def test_zero_images_is_a_named_error(tmp_path):
    folder = _write_pair(tmp_path / "empty", 0)
    with pytest.raises(CorruptDatasetError, match="declares 0 images"):
        load_dataset("fashion_mnist", "train", data_dir=str(folder))


@pytest.mark.slow
def test_a_subset_of_a_huge_split_reads_only_the_subset(tmp_path):
    """1,000,000 zero images (1.5 MB of gzip, 784 MB raw); the trainer's feed with
    train_subset=256 stays far below the raw size (peak RSS of a child process)."""
    folder = _write_pair(tmp_path / "huge", 1_000_000, chunk=50_000)
    assert os.path.getsize(folder / "train-images-idx3-ubyte.gz") < 8 << 20
    code = (
        "import sys\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from tests.train._tiny import tiny_config\n"
        "from mfdjax.train.feed import Feed\n"
        "c = tiny_config(dataset__name='fashion_mnist', dataset__train_subset=256,\n"
        "                dataset__test_subset=256)\n"
        "c.dataset.data_dir = sys.argv[1]\n"
        "c.dataset.test_split = 'train'\n"
        "f = Feed(c)\n"
        "assert f.num_train == 256, f.num_train\n"
        # VmHWM: this process's own peak (ru_maxrss would carry the forking pytest
        # worker's peak across exec).
        "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-c", code, str(folder), root],
                          env=dict(os.environ, JAX_PLATFORMS="cpu"), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    peak_mb = int(proc.stdout.split()[-1]) / 1024
    assert peak_mb < 600, f"peak RSS {peak_mb:.0f} MB: the whole split was read"
