"""CIFAR-10 / CIFAR-100 python archives (``.tar.gz`` or the extracted folder)."""

from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

from mfdjax.data.sources.common import ArrayDataset, CorruptDatasetError, DatasetNotFoundError


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
