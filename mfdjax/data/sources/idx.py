"""IDX files (MNIST, Fashion-MNIST), read with NumPy; gzip or plain."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from mfdjax.data.sources.common import ArrayDataset, CorruptDatasetError, DatasetNotFoundError

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


_IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _open_maybe_gzip(path: Path):
    with open(path, "rb") as f:
        head = f.read(2)
    if head == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return open(path, "rb")


def _read_exact(f, n: int, path: Path, what: str) -> bytes:
    try:
        data = f.read(n)
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as err:
        raise CorruptDatasetError(
            f"{path}: could not read {what} ({type(err).__name__}: {err}); the file is "
            "truncated or damaged: download / reinstall it.") from err
    if len(data) != n:
        raise CorruptDatasetError(
            f"{path}: truncated: expected {n} bytes of {what}, got {len(data)}; the file is "
            "incomplete: download / reinstall it.")
    return data


def _parse_idx_header(f, path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    magic = _read_exact(f, 4, path, "the IDX magic number")
    if magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_DTYPES or not 1 <= magic[3] <= 4:
        raise CorruptDatasetError(
            f"{path}: not an IDX file: magic number 0x{magic.hex()} (expected 0x000008NN, "
            "e.g. 0x00000803 for images, 0x00000801 for labels).")
    ndim = magic[3]
    dims = tuple(int(d) for d in np.frombuffer(_read_exact(f, 4 * ndim, path, "the IDX dims"),
                                               dtype=">u4"))
    return _IDX_DTYPES[magic[2]], dims


def read_idx_header(path) -> tuple[np.dtype, tuple[int, ...]]:
    """(dtype, dims) of an IDX file (``.gz`` or uncompressed), reading only the header."""
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"IDX file not found: {path}.")
    with _open_maybe_gzip(path) as f:
        return _parse_idx_header(f, path)


# gzip's DEFLATE cannot expand a stream more than ~1032-fold: a header whose data could
# not fit in the file, even at that ratio, is a lie, refused before anything is allocated.
_GZIP_MAX_RATIO = 1032


def _check_declared_size(path: Path, dims: tuple, dtype, nbytes: int, max_bytes: int) -> None:
    """Refuses a header whose declared data cannot be in the file or exceeds the budget."""
    total = int(np.prod(dims, dtype=np.float64)) * dtype.itemsize
    on_disk = path.stat().st_size
    header = 4 + 4 * len(dims)
    possible = (on_disk * _GZIP_MAX_RATIO if path.suffix == ".gz" else on_disk - header)
    if total > possible:
        raise CorruptDatasetError(
            f"{path}: the header declares {dims} ({total:,} bytes of data) but the file has "
            f"{on_disk:,} bytes, which cannot hold them; the header is wrong or the file is "
            "truncated: download / reinstall it.")
    if nbytes > max_bytes:
        raise CorruptDatasetError(
            f"{path}: reading {dims} needs {nbytes / 2**30:.1f} GiB, over the budget of "
            f"{max_bytes / 2**30:.1f} GiB; take fewer images (dataset.train_subset) or raise "
            "max_bytes.")


def read_idx(path, *, count: int | None = None, max_bytes: int = 4 << 30) -> np.ndarray:
    """Reads an IDX array (the MNIST format), gzip-compressed or not.

    Format (http://yann.lecun.com/exdb/mnist/): magic ``0x0000TTDD`` (TT the
    type code, 0x08 = uint8; DD the number of dims), DD big-endian uint32 dims,
    then the data, row-major.

    Args:
      path: the file.
      count: read only the first ``count`` entries along axis 0 (a gzip file
        is then decompressed only that far).
      max_bytes: refuse to read more data than this (the header is checked against
        it, and against what the file can hold, before anything is allocated).

    Returns:
      array of shape ``dims`` (``(count,) + dims[1:]`` with ``count``), native
      byte order.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"IDX file not found: {path}.")
    with _open_maybe_gzip(path) as f:
        dtype, dims = _parse_idx_header(f, path)
        n = dims[0] if count is None else min(int(count), dims[0])
        shape = (n,) + dims[1:]
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        _check_declared_size(path, dims, dtype, nbytes, max_bytes)
        data = _read_exact(f, nbytes, path, f"the IDX data {shape}")
        if count is None:
            try:
                extra = f.read(1)
            except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as err:
                raise CorruptDatasetError(f"{path}: damaged after the data ({err}).") from err
            if extra:
                raise CorruptDatasetError(
                    f"{path}: {nbytes} bytes of data expected after the header {dims}, but "
                    "the file is longer: wrong sizes in the header?")
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


_FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                    "Sneaker", "Bag", "Ankle boot")
# Training-split statistics, 0-255 units. Fashion-MNIST: measured on Debian's train file
# (72.9404, 90.0212 = 0.28604, 0.35302 in 0-1 units). MNIST: the usual 0.1307, 0.3081.
_IDX_INFO = {
    "fashion_mnist": dict(mean=(72.94035223214286,), std=(90.02118235130526,),
                          class_names=_FASHION_CLASSES,
                          fix="install Debian's package: `apt-get install dataset-fashion-mnist` "
                              f"(files in {FASHION_MNIST_DIR}), or pass data_dir= a folder "
                              "holding the four IDX files from "
                              "https://github.com/zalandoresearch/fashion-mnist"),
    "mnist": dict(mean=(0.1307 * 255,), std=(0.3081 * 255,),
                  class_names=tuple(str(i) for i in range(10)),
                  fix="pass data_dir= a folder holding the four MNIST IDX files "
                      "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                      "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz)"),
}
_IDX_SPLITS = {"train": "train", "test": "t10k", "t10k": "t10k"}


def _find_idx_file(data_dir: Path, prefix: str, kind: str, idx: str, name: str) -> Path:
    stems = [f"{prefix}-{kind}-{idx}-ubyte", f"{prefix}-{kind}.{idx}-ubyte"]
    candidates = [data_dir / (s + ext) for s in stems for ext in (".gz", "")]
    for c in candidates:
        if c.is_file():
            return c
    raise DatasetNotFoundError(
        f"{name}: no {prefix} {kind} file in {data_dir} (looked for "
        f"{', '.join(c.name for c in candidates)}). To get it: {_IDX_INFO[name]['fix']}.")


def _load_idx_dataset(name: str, split: str, data_dir, *, limit: int | None = None
                      ) -> ArrayDataset:
    if split not in _IDX_SPLITS:
        raise ValueError(f"{name}: split must be 'train' or 'test', got {split!r}.")
    if data_dir is None:
        if name == "mnist":
            raise DatasetNotFoundError(f"mnist: data_dir is required: {_IDX_INFO[name]['fix']}.")
        data_dir = FASHION_MNIST_DIR
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DatasetNotFoundError(
            f"{name}: data directory {data_dir} does not exist. To get the data: "
            f"{_IDX_INFO[name]['fix']}.")
    prefix = _IDX_SPLITS[split]
    img_path = _find_idx_file(data_dir, prefix, "images", "idx3", name)
    lbl_path = _find_idx_file(data_dir, prefix, "labels", "idx1", name)
    img_dtype, img_dims = read_idx_header(img_path)
    lbl_dtype, lbl_dims = read_idx_header(lbl_path)
    if img_dtype != np.uint8 or len(img_dims) != 3 or img_dims[1:] != (28, 28):
        raise CorruptDatasetError(
            f"{img_path}: expected uint8 images of shape (N, 28, 28), header says "
            f"{img_dtype} {img_dims}.")
    if lbl_dtype != np.uint8 or len(lbl_dims) != 1:
        raise CorruptDatasetError(
            f"{lbl_path}: expected uint8 labels of shape (N,), header says {lbl_dtype} {lbl_dims}.")
    if img_dims[0] == 0:
        raise CorruptDatasetError(f"{img_path}: the header declares 0 images; the file is "
                                  "empty or damaged: download / reinstall it.")
    if img_dims[0] != lbl_dims[0]:
        raise CorruptDatasetError(
            f"{name} {split}: {img_dims[0]} images ({img_path.name}) but {lbl_dims[0]} labels "
            f"({lbl_path.name}); the files do not belong together.")
    images = read_idx(img_path, count=limit)[..., None]
    labels = read_idx(lbl_path, count=limit).astype(np.int32)
    if labels.size and labels.max() > 9:
        raise CorruptDatasetError(f"{lbl_path}: labels must be 0-9, found {labels.max()}.")
    info = _IDX_INFO[name]
    return ArrayDataset(images=images, labels=labels, num_classes=10, name=name,
                        mean=info["mean"], std=info["std"], class_names=info["class_names"],
                        split=split)
