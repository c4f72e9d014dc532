"""Datasets in: readers for the formats the papers' data comes in, no downloads.

Two entry points:

* :func:`open_source` -> a random-access source (``len(src)``,
  ``src[i] -> (image uint8 (H, W, C), label int)``, plus ``num_classes``,
  ``name``, ``mean``, ``std``, ``class_names``). Large datasets (ImageNet via
  TFDS, big image folders) stay on disk and are read one example at a time by
  :class:`mfdjax.data.HostLoader`.
* :func:`load_dataset` -> :class:`ArrayDataset`, the whole split in memory as
  uint8 NumPy arrays (the small datasets: Fashion-MNIST, MNIST, digits,
  CIFAR-10/100, small image folders), ready for
  :class:`mfdjax.data.DeviceDataset`.

Names: ``"fashion_mnist"`` (default, Debian's ``dataset-fashion-mnist``),
``"mnist"``, ``"digits"`` (scikit-learn), ``"cifar10"``, ``"cifar100"`` (the
CIFAR *python* archives), ``"image_folder"`` and ``"tfds:<name>"``.

``mean`` / ``std`` are per-channel statistics of the TRAINING split in 0-255
pixel units (also for a test split, so train and test are normalised alike).

A missing or damaged file raises :class:`DatasetNotFoundError` (a
``FileNotFoundError``) or :class:`CorruptDatasetError` (a ``ValueError``) whose
message says what was expected and how to get it.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import io
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = [
    "ArrayDataset",
    "CorruptDatasetError",
    "DatasetNotFoundError",
    "DATASET_NAMES",
    "FASHION_MNIST_DIR",
    "load_dataset",
    "open_source",
    "read_idx",
    "read_idx_header",
]

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
DATASET_NAMES = ("fashion_mnist", "mnist", "digits", "cifar10", "cifar100", "image_folder",
                 "tfds:<name>")


class DatasetNotFoundError(FileNotFoundError):
    """A data file is missing; the message says where it was looked for and how to get it."""


class CorruptDatasetError(ValueError):
    """A data file exists but is not what was expected (magic, sizes, truncation)."""


# --------------------------------------------------------------------------------------
# The in-memory dataset.
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class ArrayDataset:
    """One split of a dataset, in memory.

    Attributes:
      images: (N, H, W, C) uint8 NumPy array, NHWC.
      labels: (N,) int32 NumPy array, values in ``[0, num_classes)``.
      num_classes: K.
      name: dataset name (e.g. ``"fashion_mnist"``).
      mean: C floats, per-channel mean of the TRAINING split, 0-255 units.
      std: C floats, per-channel standard deviation of the training split, 0-255.
      class_names: optional K strings, index = label.
      split: the split this is (``"train"``, ``"test"``, ...).

    It is also a random-access source: ``len(ds)``, ``ds[i] -> (image, label)``.
    """

    images: np.ndarray
    labels: np.ndarray
    num_classes: int
    name: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...] | None = None
    split: str = ""

    def __post_init__(self):
        images = np.asarray(self.images)
        labels = np.asarray(self.labels)
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(
                f"images must be a uint8 array of shape (N, H, W, C), got {images.dtype} "
                f"{images.shape}; add a channel axis with images[..., None] for grayscale.")
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be an integer array of shape (N,), got "
                             f"{labels.dtype} {labels.shape}.")
        if labels.shape[0] != images.shape[0]:
            raise ValueError(f"images ({images.shape[0]}) and labels ({labels.shape[0]}) "
                             "must have the same number of examples.")
        k = int(self.num_classes)
        if k < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}.")
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(f"labels must lie in [0, num_classes={k}), got range "
                             f"[{labels.min()}, {labels.max()}].")
        c = images.shape[-1]
        mean = _channel_tuple(self.mean, "mean", c)
        std = _channel_tuple(self.std, "std", c)
        if any(s <= 0 for s in std):
            raise ValueError(f"std must be > 0 in every channel, got {std}.")
        names = None
        if self.class_names is not None:
            names = tuple(str(n) for n in self.class_names)
            if len(names) != k:
                raise ValueError(f"class_names has {len(names)} entries, num_classes is {k}.")
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "labels", labels.astype(np.int32, copy=False))
        object.__setattr__(self, "num_classes", k)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)
        object.__setattr__(self, "class_names", names)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.images[index], int(self.labels[index])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C)."""
        return tuple(self.images.shape[1:])

    def take(self, indices) -> "ArrayDataset":
        """A new ArrayDataset holding ``images[indices]`` (same metadata)."""
        idx = np.asarray(indices)
        return dataclasses.replace(self, images=self.images[idx], labels=self.labels[idx])

    def __repr__(self) -> str:
        return (f"ArrayDataset(name={self.name!r}, split={self.split!r}, n={len(self)}, "
                f"image_shape={self.image_shape}, num_classes={self.num_classes})")


def _channel_tuple(value, name: str, channels: int) -> tuple[float, ...]:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, channels)
    if arr.size != channels or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be {channels} finite floats (0-255 units), got {value!r}.")
    return tuple(float(v) for v in arr)


def channel_stats(images: np.ndarray, *, chunk: int = 4096) -> tuple[tuple, tuple]:
    """Per-channel mean and (population) std of (N, H, W, C) pixels, 0-255 units (float64)."""
    c = images.shape[-1]
    total = np.zeros(c)
    total_sq = np.zeros(c)
    count = 0
    for start in range(0, images.shape[0], chunk):
        x = images[start:start + chunk].reshape(-1, c).astype(np.float64)
        total += x.sum(0)
        total_sq += np.square(x).sum(0)
        count += x.shape[0]
    mean = total / max(count, 1)
    var = np.maximum(total_sq / max(count, 1) - np.square(mean), 0.0)
    std = np.sqrt(var)
    std = np.where(std > 0, std, 1.0)  # a constant channel: normalise by 1, not 0
    return tuple(mean.tolist()), tuple(std.tolist())


# --------------------------------------------------------------------------------------
# IDX (MNIST, Fashion-MNIST).
# --------------------------------------------------------------------------------------

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


def read_idx(path, *, count: int | None = None) -> np.ndarray:
    """Reads an IDX array (the MNIST format), gzip-compressed or not.

    Format (http://yann.lecun.com/exdb/mnist/): magic ``0x0000TTDD`` (TT the
    type code, 0x08 = uint8; DD the number of dims), DD big-endian uint32 dims,
    then the data, row-major.

    Args:
      path: the file.
      count: read only the first ``count`` entries along axis 0 (a gzip file
        is then decompressed only that far).

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


# --------------------------------------------------------------------------------------
# scikit-learn digits.
# --------------------------------------------------------------------------------------


def _digits_split(labels: np.ndarray, test_fraction: float, split_seed: int) -> np.ndarray:
    """Boolean test mask: a stratified, seeded split (round(fraction * n_c) per class)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([0x64696769, split_seed])))
    test = np.zeros(labels.shape[0], dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = int(round(test_fraction * idx.size))
        test[rng.permutation(idx)[:k]] = True
    return test


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as read-only (N, 8, 8, 1) uint8 images and (N,) int32 labels (cached)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # scikit-learn is a test extra, not a core dependency
        raise DatasetNotFoundError(
            "digits needs scikit-learn: `pip install scikit-learn` (or mfdjax[test]).") from err
    bunch = load_digits()
    # 0-16 integer intensities -> 0-255 uint8 (x * 255 / 16, rounded).
    images = np.rint(bunch.images.astype(np.float64) * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int32)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def _load_digits(split: str, *, test_fraction: float = 0.2, split_seed: int = 0
                 ) -> ArrayDataset:
    if split not in ("train", "test", "all"):
        raise ValueError(f"digits: split must be 'train', 'test' or 'all', got {split!r}.")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"digits: test_fraction must be in (0, 1), got {test_fraction}.")
    images, labels = _digits_arrays()
    test = _digits_split(labels, test_fraction, split_seed)
    mean, std = channel_stats(images[~test])
    if split != "all":
        keep = test if split == "test" else ~test
        images, labels = images[keep], labels[keep]
    return ArrayDataset(images=images, labels=labels, num_classes=10, name="digits",
                        mean=mean, std=std, class_names=tuple(str(i) for i in range(10)),
                        split=split)


# --------------------------------------------------------------------------------------
# CIFAR-10 / CIFAR-100 python archives.
# --------------------------------------------------------------------------------------

_CIFAR = {
    "cifar10": dict(archive="cifar-10-python.tar.gz", folder="cifar-10-batches-py",
                    train=[f"data_batch_{i}" for i in range(1, 6)], test=["test_batch"],
                    meta="batches.meta", url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                    # training-split statistics (0-1 units x 255)
                    mean=(0.4914 * 255, 0.4822 * 255, 0.4465 * 255),
                    std=(0.2470 * 255, 0.2435 * 255, 0.2616 * 255)),
    "cifar100": dict(archive="cifar-100-python.tar.gz", folder="cifar-100-python",
                     train=["train"], test=["test"], meta="meta",
                     url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                     mean=(0.5071 * 255, 0.4865 * 255, 0.4409 * 255),
                     std=(0.2673 * 255, 0.2564 * 255, 0.2762 * 255)),
}


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR batches allowing only NumPy arrays and builtins (no code)."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")


def _unpickle(raw: bytes, where: str) -> dict:
    try:
        obj = _CifarUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as err:  # noqa: BLE001 - any unpickling failure means a bad file
        raise CorruptDatasetError(f"{where}: not a CIFAR python batch ({err}).") from err
    if not isinstance(obj, dict):
        raise CorruptDatasetError(f"{where}: expected a pickled dict, got {type(obj).__name__}.")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _cifar_files(name: str, data_dir, members: Sequence[str]) -> dict[str, bytes]:
    info = _CIFAR[name]
    how = (f"download {info['url']} and pass data_dir= the folder holding {info['archive']} "
           f"(or its extracted {info['folder']}/ folder); nothing is downloaded automatically")
    if data_dir is None:
        raise DatasetNotFoundError(f"{name}: data_dir is required: {how}.")
    data_dir = Path(data_dir)
    for folder in (data_dir / info["folder"], data_dir):
        if all((folder / m).is_file() for m in members):
            return {m: (folder / m).read_bytes() for m in members}
    archive = data_dir / info["archive"] if data_dir.is_dir() else data_dir
    if archive.is_file():
        try:
            with tarfile.open(archive, "r:*") as tar:
                out = {}
                for m in members:
                    try:
                        f = tar.extractfile(f"{info['folder']}/{m}")
                    except KeyError as err:
                        raise CorruptDatasetError(
                            f"{archive}: no member {info['folder']}/{m}; is this the CIFAR "
                            f"*python* archive ({info['archive']})?") from err
                    out[m] = f.read()
                return out
        except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
            raise CorruptDatasetError(
                f"{archive}: unreadable or truncated archive ({type(err).__name__}: {err}); "
                f"{how}.") from err
    raise DatasetNotFoundError(f"{name}: found neither {data_dir / info['archive']} nor "
                               f"{data_dir / info['folder']}/ with {list(members)}: {how}.")


def _load_cifar(name: str, split: str, data_dir, *, label_mode: str = "fine") -> ArrayDataset:
    info = _CIFAR[name]
    if split not in ("train", "test"):
        raise ValueError(f"{name}: split must be 'train' or 'test', got {split!r}.")
    if name == "cifar100" and label_mode not in ("fine", "coarse"):
        raise ValueError(f"cifar100: label_mode must be 'fine' (100) or 'coarse' (20), "
                         f"got {label_mode!r}.")
    members = list(info[split]) + [info["meta"]]
    raw = _cifar_files(name, data_dir, members)
    label_key = "labels" if name == "cifar10" else f"{label_mode}_labels"
    images, labels = [], []
    for m in info[split]:
        batch = _unpickle(raw[m], m)
        if "data" not in batch or label_key not in batch:
            raise CorruptDatasetError(f"{m}: expected keys 'data' and '{label_key}', found "
                                      f"{sorted(batch)}.")
        data = np.asarray(batch["data"])
        lab = np.asarray(batch[label_key], dtype=np.int64)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            raise CorruptDatasetError(f"{m}: expected uint8 data of shape (N, 3072), got "
                                      f"{data.dtype} {data.shape}.")
        if lab.shape != (data.shape[0],):
            raise CorruptDatasetError(f"{m}: {data.shape[0]} images but {lab.shape} labels.")
        # rows are 1024 R, 1024 G, 1024 B values of a 32x32 image, row-major
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(lab)
    meta = _unpickle(raw[info["meta"]], info["meta"])
    names_key = "label_names" if name == "cifar10" else f"{label_mode}_label_names"
    names = meta.get(names_key)
    class_names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names) \
        if names is not None else None
    k = len(class_names) if class_names else (10 if name == "cifar10" else
                                              (100 if label_mode == "fine" else 20))
    return ArrayDataset(images=np.ascontiguousarray(np.concatenate(images)),
                        labels=np.concatenate(labels).astype(np.int32), num_classes=k,
                        name=name, mean=info["mean"], std=info["std"],
                        class_names=class_names, split=split)


# --------------------------------------------------------------------------------------
# Image folders: data_dir/<split>/<class>/*.png|jpg.
# --------------------------------------------------------------------------------------

_IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".ppm", ".pgm")


def _size_pair(image_size) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if isinstance(image_size, (int, np.integer)):
        return int(image_size), int(image_size)
    h, w = image_size
    return int(h), int(w)


class ImageFolderSource:
    """Random-access source over ``data_dir/<split>/<class>/**/<image>`` (decoded with PIL).

    Classes are the sorted sub-folder names of ``data_dir/train`` when it exists
    (so train and test share one label order even if a test folder lacks a
    class), else of ``data_dir/<split>``; ``classes=`` overrides. Files are
    sorted within a class. ``image_size`` (int or (H, W)) resizes with bilinear
    filtering; ``mode`` is a PIL mode ("RGB" or "L").

    Images may sit at any depth below the class folder (Tiny ImageNet's
    ``train/<wnid>/images/*.JPEG``). A split folder holding ``images/`` and
    ``<split>_annotations.txt`` (Tiny ImageNet's ``val/``: tab-separated file
    name, class id, box) is read through the annotations.
    """

    def __init__(self, data_dir, split: str, *, image_size=None, mode: str = "RGB",
                 classes: Sequence[str] | None = None, mean=None, std=None,
                 name: str = "image_folder", stats_sample: int = 2000):
        if data_dir is None:
            raise DatasetNotFoundError(
                "image_folder: data_dir is required: a folder with <split>/<class>/*.png|jpg "
                "(e.g. data_dir/train/cat/0001.png).")
        if mode not in ("RGB", "L"):
            raise ValueError(f"image_folder: mode must be 'RGB' or 'L', got {mode!r}.")
        self.root = Path(data_dir)
        split_dir = self.root / split
        if not split_dir.is_dir():
            raise DatasetNotFoundError(
                f"image_folder: {split_dir} does not exist; expected data_dir/<split>/<class>/"
                "<image> (e.g. data_dir/train/cat/0001.png).")
        # Tiny ImageNet's val/ layout: val/images/*.JPEG + val/val_annotations.txt
        # (tab-separated: file name, class id, box).
        annotations = split_dir / f"{split}_annotations.txt"
        annotated = annotations.is_file() and (split_dir / "images").is_dir()
        pairs: list[tuple[Path, str]] = []
        if annotated:
            for line in annotations.read_text().splitlines():
                parts = line.split("\t")
                if len(parts) >= 2:
                    pairs.append((split_dir / "images" / parts[0], parts[1]))
        if classes is None:
            if (self.root / "train").is_dir():
                ref = self.root / "train"
                classes = sorted(p.name for p in ref.iterdir() if p.is_dir())
            elif annotated:
                classes = sorted({c for _, c in pairs})
            else:
                classes = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
        self.class_names = tuple(classes)
        if not self.class_names:
            raise DatasetNotFoundError(f"image_folder: no class folders in {split_dir}.")
        index = {c: i for i, c in enumerate(self.class_names)}
        if not annotated:
            # data_dir/<split>/<class>/**/<image>, any depth (Tiny ImageNet's train/<wnid>/images)
            for c in sorted(p.name for p in split_dir.iterdir() if p.is_dir()):
                for f in sorted((split_dir / c).rglob("*")):
                    if f.suffix.lower() in _IMAGE_EXTS and f.is_file():
                        pairs.append((f, c))
        files, labels = [], []
        for f, c in sorted(pairs, key=lambda fc: (index.get(fc[1], -1), str(fc[0]))):
            if c not in index:
                raise CorruptDatasetError(
                    f"image_folder: class {c!r} of {f} is not among the training classes "
                    f"{list(self.class_names)[:10]}{'...' if len(self.class_names) > 10 else ''}.")
            files.append(f)
            labels.append(index[c])
        if not files:
            raise DatasetNotFoundError(f"image_folder: no images ({', '.join(_IMAGE_EXTS)}) "
                                       f"under {split_dir}/<class>/.")
        self.files = files
        self.labels = np.asarray(labels, dtype=np.int32)
        self.num_classes = len(self.class_names)
        self.name = name
        self.split = split
        self.mode = mode
        self.image_size = _size_pair(image_size)
        if mean is None or std is None:
            stats_src = self
            if split != "train" and (self.root / "train").is_dir():
                stats_src = ImageFolderSource(self.root, "train", image_size=image_size,
                                              mode=mode, classes=self.class_names,
                                              mean=0.0, std=1.0, name=name)
            m, s = _sampled_stats(stats_src, stats_sample)
            mean = m if mean is None else mean
            std = s if std is None else std
        channels = 3 if mode == "RGB" else 1
        self.mean = _channel_tuple(mean, "mean", channels)
        self.std = _channel_tuple(std, "std", channels)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        from PIL import Image, UnidentifiedImageError

        path = self.files[int(index)]
        try:
            with Image.open(path) as im:
                im = im.convert(self.mode)
                if self.image_size is not None and im.size != self.image_size[::-1]:
                    im = im.resize(self.image_size[::-1], Image.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
        except (UnidentifiedImageError, OSError) as err:
            raise CorruptDatasetError(f"{path}: cannot decode image ({err}).") from err
        if arr.ndim == 2:
            arr = arr[..., None]
        return arr, int(self.labels[int(index)])


def _sampled_stats(source, max_examples: int) -> tuple[tuple, tuple]:
    """Channel mean/std over an evenly spaced, deterministic sample of a source."""
    n = len(source)
    idx = np.unique(np.linspace(0, n - 1, num=min(n, max_examples)).astype(np.int64))
    total = total_sq = None
    count = 0
    for i in idx:
        x = np.asarray(source[int(i)][0], dtype=np.float64)
        x = x.reshape(-1, x.shape[-1])
        total = x.sum(0) if total is None else total + x.sum(0)
        total_sq = np.square(x).sum(0) if total_sq is None else total_sq + np.square(x).sum(0)
        count += x.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean ** 2, 0.0))
    std = np.where(std > 0, std, 1.0)
    return tuple(mean.tolist()), tuple(std.tolist())


# --------------------------------------------------------------------------------------
# TensorFlow Datasets (array_record, random access, no TensorFlow).
# --------------------------------------------------------------------------------------

# Training-split statistics, 0-255 units.
_TFDS_STATS = {
    "cifar10": _CIFAR["cifar10"], "cifar100": _CIFAR["cifar100"],
    "fashion_mnist": _IDX_INFO["fashion_mnist"], "mnist": _IDX_INFO["mnist"],
    # ImageNet: the torchvision constants (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225).
    "imagenet2012": dict(mean=(0.485 * 255, 0.456 * 255, 0.406 * 255),
                         std=(0.229 * 255, 0.224 * 255, 0.225 * 255)),
}


class TfdsSource:
    """Random-access view of ``tfds.data_source(name, split=..., data_dir=...)``.

    Items come back as ``(image uint8 (H, W, C), label int)`` from the record's
    ``image_key`` / ``label_key`` features. ``num_classes_subset=N`` keeps only
    the examples with label < N, i.e. the first N classes in TFDS's label order
    (for ``imagenet2012`` the sorted WordNet ids n01440764, ...): the POD paper
    Table 3 calls its ImageNet(N) "the top N classes of ImageNet dataset"
    without saying how they were picked; the first N of the standard class
    order is the reading adopted here. Selecting them needs every label once
    (a full pass over the split); pass ``index_cache=`` a ``.npy`` path to
    keep the selected indices between runs.
    """

    def __init__(self, name: str, split: str, *, data_dir=None, image_key: str = "image",
                 label_key: str = "label", num_classes_subset: int | None = None,
                 index_cache=None, mean=None, std=None):
        try:
            import tensorflow_datasets as tfds
        except ImportError as err:
            raise DatasetNotFoundError(
                "tfds: datasets need `pip install tensorflow-datasets`.") from err
        try:
            self._src = tfds.data_source(name, split=split, data_dir=data_dir)
        except Exception as err:  # noqa: BLE001 - tfds raises many types for "not prepared"
            raise DatasetNotFoundError(
                f"tfds:{name} split {split!r} is not available under data_dir={data_dir!r} "
                f"({type(err).__name__}: {err}). Prepare it once with TensorFlow installed: "
                f"`tfds build {name} --file_format=array_record` (or "
                f"tfds.builder('{name}').download_and_prepare(file_format='array_record')); "
                "this machine has no network for the download.") from err
        self.name = f"tfds:{name}"
        self.split = split
        self.image_key, self.label_key = image_key, label_key
        feats = getattr(self._src, "dataset_info", None)
        feats = feats.features if feats is not None else None
        label_feat = feats[label_key] if feats is not None and label_key in feats else None
        num_classes = getattr(label_feat, "num_classes", None)
        names = getattr(label_feat, "names", None)
        image_feat = feats[image_key] if feats is not None and image_key in feats else None
        self.image_shape = tuple(image_feat.shape) if image_feat is not None else None
        if num_classes is None:
            raise CorruptDatasetError(
                f"tfds:{name}: feature {label_key!r} has no num_classes (a ClassLabel is "
                "expected); pass label_key= the class-label feature.")
        self._indices = None
        if num_classes_subset is not None:
            k = int(num_classes_subset)
            if not 1 <= k <= num_classes:
                raise ValueError(f"num_classes_subset must be in [1, {num_classes}], got {k}.")
            self._indices = self._subset_indices(k, index_cache)
            num_classes = k
            names = names[:k] if names else names
        self.num_classes = int(num_classes)
        self.class_names = tuple(names) if names else None
        base = name.split("/")[0].split(":")[0]
        stats = _TFDS_STATS.get(base)
        if mean is None or std is None:
            if stats is not None:
                m, s = stats["mean"], stats["std"]
            else:
                m, s = _sampled_stats(self, 1000)
            mean = m if mean is None else mean
            std = s if std is None else std
        c = self.image_shape[-1] if self.image_shape else len(np.atleast_1d(mean))
        self.mean = _channel_tuple(mean, "mean", c)
        self.std = _channel_tuple(std, "std", c)

    def _subset_indices(self, k: int, index_cache) -> np.ndarray:
        if index_cache is not None and Path(index_cache).is_file():
            return np.load(index_cache)
        n = len(self._src)
        keep = np.fromiter((int(self._src[i][self.label_key]) < k for i in range(n)),
                           dtype=bool, count=n)
        idx = np.flatnonzero(keep).astype(np.int64)
        if index_cache is not None:
            np.save(index_cache, idx)
        return idx

    def __len__(self) -> int:
        return len(self._src) if self._indices is None else int(self._indices.size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        i = int(index)
        if self._indices is not None:
            i = int(self._indices[i])
        rec = self._src[i]
        image = np.asarray(rec[self.image_key])
        if image.ndim == 2:
            image = image[..., None]
        if image.dtype != np.uint8:
            raise CorruptDatasetError(f"{self.name}: feature {self.image_key!r} is "
                                      f"{image.dtype}, uint8 expected.")
        return image, int(rec[self.label_key])


# --------------------------------------------------------------------------------------
# Entry points.
# --------------------------------------------------------------------------------------


def open_source(name: str = "fashion_mnist", split: str = "train", *, data_dir=None,
                **options) -> Any:
    """A random-access source for one split: ``len``, ``src[i] -> (image, label)``.

    The in-memory datasets return their :class:`ArrayDataset` (which is such a
    source); ``"image_folder"`` and ``"tfds:<name>"`` return lazy sources that
    decode one example per access (for :class:`mfdjax.data.HostLoader`).

    Args:
      name: one of :data:`DATASET_NAMES`.
      split: ``"train"`` / ``"test"`` (tfds: any TFDS split string, e.g.
        ``"validation"`` or ``"train[:10%]"``).
      data_dir: where the files are (see :func:`load_dataset`).
      **options: per-dataset options (see :func:`load_dataset`).

    Returns:
      an object with ``__len__``, ``__getitem__``, ``num_classes``, ``name``,
      ``mean``, ``std``, ``class_names``.
    """
    if not isinstance(name, str):
        raise ValueError(f"name must be a string, one of {DATASET_NAMES}, got {name!r}.")
    if name.startswith("tfds:"):
        _check_options(name, options, _TFDS_OPTIONS)
        return TfdsSource(name[5:], split, data_dir=data_dir, **options)
    if name == "image_folder":
        _check_options(name, options, _FOLDER_OPTIONS)
        return ImageFolderSource(data_dir, split, **options)
    return _load_in_memory(name, split, data_dir, **options)


_TFDS_OPTIONS = ("image_key", "label_key", "num_classes_subset", "index_cache", "mean", "std")
_FOLDER_OPTIONS = ("image_size", "mode", "classes", "mean", "std", "name", "stats_sample")
_MEMORY_OPTIONS = {"fashion_mnist": (), "mnist": (), "cifar10": (),
                   "digits": ("test_fraction", "split_seed"), "cifar100": ("label_mode",)}


def _check_options(name: str, options: dict, allowed: Sequence[str]) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"{name}: unknown option(s) {unknown}; {name} accepts "
                         f"{sorted(allowed) + ['limit'] if allowed else ['limit']}.")


def _load_in_memory(name, split, data_dir, *, limit: int | None = None, **options):
    if name not in _MEMORY_OPTIONS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASET_NAMES)}.")
    _check_options(name, options, _MEMORY_OPTIONS[name])
    if limit is not None and int(limit) < 1:
        raise ValueError(f"limit must be >= 1 (or None for all), got {limit}.")
    if name in _IDX_INFO:
        return _load_idx_dataset(name, split, data_dir, limit=limit)
    if name == "digits":
        ds = _load_digits(split, **options)
    else:
        ds = _load_cifar(name, split, data_dir, **options)
    return ds if limit is None else ds.take(np.arange(min(int(limit), len(ds))))


def load_dataset(name: str = "fashion_mnist", split: str = "train", *, data_dir=None,
                 max_bytes: int = 4 << 30, **options) -> ArrayDataset:
    """Loads one split into memory as uint8 arrays.

    Args:
      name: ``"fashion_mnist"`` (default; IDX files, ``data_dir`` defaults to
        :data:`FASHION_MNIST_DIR` from Debian's ``dataset-fashion-mnist``),
        ``"mnist"`` (IDX, ``data_dir`` required), ``"digits"`` (scikit-learn's
        8x8 digits, 0-16 scaled to 0-255; options ``test_fraction=0.2``,
        ``split_seed=0``: a stratified seeded split, ``split="all"`` for all
        1797), ``"cifar10"`` / ``"cifar100"`` (``data_dir`` holding
        ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz`` or the
        extracted folder; cifar100 option ``label_mode="fine"|"coarse"``),
        ``"image_folder"`` (``data_dir/<split>/<class>/*``; options
        ``image_size``, ``mode``, ``classes``, ``mean``, ``std``) or
        ``"tfds:<name>"`` (a prepared TFDS dataset read with
        ``tfds.data_source``; options ``image_key``, ``label_key``,
        ``num_classes_subset``, ``index_cache``, ``mean``, ``std``).
      split: ``"train"`` or ``"test"`` (tfds: any TFDS split).
      data_dir: folder of the files (overrides the default).
      max_bytes: refuse to materialise more than this many image bytes; use
        :func:`open_source` + :class:`mfdjax.data.HostLoader` for such datasets.
      **options: ``limit=n`` keeps the first n examples (all names), plus the
        per-dataset options above.

    Returns:
      :class:`ArrayDataset` with images (N, H, W, C) uint8, labels (N,) int32.
    """
    if isinstance(name, str) and (name.startswith("tfds:") or name == "image_folder"):
        limit = options.pop("limit", None)
        src = open_source(name, split, data_dir=data_dir, **options)
        return materialize(src, limit=limit, max_bytes=max_bytes, split=split)
    return open_source(name, split, data_dir=data_dir, **options)


def materialize(source, *, limit: int | None = None, max_bytes: int = 4 << 30,
                split: str = "") -> ArrayDataset:
    """Reads every example of a random-access source into an :class:`ArrayDataset`."""
    if limit is not None and int(limit) < 1:
        raise ValueError(f"limit must be >= 1 (or None for all), got {limit}.")
    n = len(source) if limit is None else min(int(limit), len(source))
    if n == 0:
        raise DatasetNotFoundError(f"{source.name}: the split is empty.")
    first, _ = source[0]
    if first.nbytes * n > max_bytes:
        raise ValueError(
            f"{source.name}: {n} images of {first.shape} need about {first.nbytes * n / 2**30:.1f} "
            f"GiB (> max_bytes={max_bytes}); stream it with open_source(...) and HostLoader, or "
            "raise max_bytes.")
    images = np.empty((n,) + first.shape, dtype=np.uint8)
    labels = np.empty((n,), dtype=np.int32)
    for i in range(n):
        img, lab = source[i]
        if img.shape != first.shape:
            raise CorruptDatasetError(
                f"{source.name}: example {i} has shape {img.shape}, example 0 {first.shape}; "
                "give image_size= (image_folder) or stream with a resizing HostLoader transform.")
        images[i] = img
        labels[i] = lab
    return ArrayDataset(images=images, labels=labels, num_classes=source.num_classes,
                        name=source.name, mean=source.mean, std=source.std,
                        class_names=source.class_names, split=split)
