"""Readers on real data (Debian Fashion-MNIST, sklearn digits) and on tiny files in tmp_path."""

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from mfdjax.data import (
    FASHION_MNIST_DIR,
    ArrayDataset,
    CorruptDatasetError,
    DatasetNotFoundError,
    load_dataset,
    open_source,
    read_idx,
    read_idx_header,
)

HAVE_FMNIST = Path(FASHION_MNIST_DIR, "t10k-images-idx3-ubyte.gz").is_file()
needs_fmnist = pytest.mark.skipif(not HAVE_FMNIST,
                                  reason="apt-get install dataset-fashion-mnist")


# ----------------------------------------------------------------------------- real data
@needs_fmnist
def test_fashion_mnist_headers_real_files():
    d = Path(FASHION_MNIST_DIR)
    assert read_idx_header(d / "train-images-idx3-ubyte.gz") == (np.uint8, (60000, 28, 28))
    assert read_idx_header(d / "train-labels-idx1-ubyte.gz") == (np.uint8, (60000,))
    assert read_idx_header(d / "t10k-images-idx3-ubyte.gz") == (np.uint8, (10000, 28, 28))
    assert read_idx_header(d / "t10k-labels-idx1-ubyte.gz") == (np.uint8, (10000,))
    train_labels = read_idx(d / "train-labels-idx1-ubyte.gz")  # 60 kB: read it all
    np.testing.assert_array_equal(np.bincount(train_labels, minlength=10), np.full(10, 6000))


@needs_fmnist
def test_fashion_mnist_test_split_real():
    ds = load_dataset("fashion_mnist", "test")
    assert isinstance(ds, ArrayDataset)
    assert ds.images.shape == (10000, 28, 28, 1) and ds.images.dtype == np.uint8
    assert ds.labels.dtype == np.int32 and ds.num_classes == 10
    np.testing.assert_array_equal(np.bincount(ds.labels, minlength=10), np.full(10, 1000))
    assert ds.images.max() == 255 and ds.images.min() == 0
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    # the published training mean/std (0.2860, 0.3530 in 0-1 units)
    assert abs(ds.mean[0] / 255 - 0.2860) < 1e-3 and abs(ds.std[0] / 255 - 0.3530) < 1e-3
    # test-split stats are close to (not equal to) the training ones
    assert abs(ds.images.mean() - ds.mean[0]) < 2.0


@needs_fmnist
def test_fashion_mnist_train_slice_real():
    ds = load_dataset("fashion_mnist", "train", limit=500)
    assert ds.images.shape == (500, 28, 28, 1)
    assert set(np.unique(ds.labels)) == set(range(10))
    src = open_source("fashion_mnist", "train", limit=3)
    img, lab = src[2]
    assert img.shape == (28, 28, 1) and lab == ds.labels[2]
    np.testing.assert_array_equal(img, ds.images[2])


def test_digits_split_is_deterministic_stratified_partition():
    tr, te = load_dataset("digits", "train"), load_dataset("digits", "test")
    al = load_dataset("digits", "all")
    assert len(tr) + len(te) == len(al) == 1797
    assert tr.images.shape[1:] == (8, 8, 1) and tr.images.dtype == np.uint8
    assert tr.images.max() == 255  # 16 -> 255
    assert np.all(np.isin(np.unique(al.images), np.rint(np.arange(17) * 255 / 16)))
    frac = np.bincount(te.labels) / np.bincount(al.labels)
    assert np.all(np.abs(frac - 0.2) < 0.01)  # stratified
    assert tr.mean == te.mean and tr.std == te.std  # both from the training split
    np.testing.assert_allclose(tr.mean[0], tr.images.mean(), rtol=1e-9)
    again = load_dataset("digits", "test")
    np.testing.assert_array_equal(again.images, te.images)
    other = load_dataset("digits", "test", split_seed=1)
    assert not np.array_equal(other.labels, te.labels) or not np.array_equal(
        other.images, te.images)
    # train + test is a partition of all 1797 examples (as a multiset of (image, label))
    def rows(ds):
        return sorted(im.tobytes() + bytes([lab]) for im, lab in zip(ds.images, ds.labels))
    assert sorted(rows(tr) + rows(te)) == rows(al)


# ------------------------------------------------------------------------------- IDX
def _idx_bytes(arr: np.ndarray) -> bytes:
    code = {np.dtype(np.uint8): 0x08}[arr.dtype]
    return bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def _write_idx_set(folder: Path, n=12, gz=True, prefix="train"):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, (n,), dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for kind, idx, arr in (("images", "idx3", images), ("labels", "idx1", labels)):
        path = folder / f"{prefix}-{kind}-{idx}-ubyte{'.gz' if gz else ''}"
        raw = _idx_bytes(arr)
        path.write_bytes(gzip.compress(raw) if gz else raw)
    return images, labels


@pytest.mark.parametrize("gz", [True, False])
def test_idx_roundtrip_gz_and_plain(tmp_path, gz):
    images, labels = _write_idx_set(tmp_path, gz=gz, prefix="t10k")
    ds = load_dataset("mnist", "test", data_dir=tmp_path)
    np.testing.assert_array_equal(ds.images[..., 0], images)
    np.testing.assert_array_equal(ds.labels, labels)
    fm = load_dataset("fashion_mnist", "test", data_dir=tmp_path, limit=5)
    np.testing.assert_array_equal(fm.images[..., 0], images[:5])


def test_idx_wrong_magic(tmp_path):
    _write_idx_set(tmp_path)
    p = tmp_path / "train-images-idx3-ubyte.gz"
    raw = bytearray(gzip.decompress(p.read_bytes()))
    raw[0:4] = b"\x12\x34\x08\x03"
    p.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(CorruptDatasetError, match="magic"):
        load_dataset("fashion_mnist", "train", data_dir=tmp_path)


def test_idx_truncated_gzip(tmp_path):
    _write_idx_set(tmp_path)
    p = tmp_path / "train-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[:300])
    with pytest.raises(CorruptDatasetError, match="truncated|damaged"):
        load_dataset("fashion_mnist", "train", data_dir=tmp_path)


def test_idx_truncated_plain_and_too_long(tmp_path):
    images, _ = _write_idx_set(tmp_path, gz=False)
    p = tmp_path / "train-images-idx3-ubyte"
    full = p.read_bytes()
    p.write_bytes(full[:-10])
    # An uncompressed file is checked against its header before reading: "truncated".
    with pytest.raises(CorruptDatasetError, match="truncated"):
        read_idx(p)
    p.write_bytes(full + b"\0")
    with pytest.raises(CorruptDatasetError, match="longer"):
        read_idx(p)


def test_idx_mismatched_counts_and_dims(tmp_path):
    _write_idx_set(tmp_path, n=12)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(_idx_bytes(np.zeros(11, np.uint8))))
    with pytest.raises(CorruptDatasetError, match="12 images .* 11 labels"):
        load_dataset("fashion_mnist", "train", data_dir=tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(_idx_bytes(np.zeros((11, 32, 32), np.uint8))))
    with pytest.raises(CorruptDatasetError, match=r"\(N, 28, 28\)"):
        load_dataset("fashion_mnist", "train", data_dir=tmp_path)


def test_missing_files_mention_the_fix(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion_mnist", "train", data_dir=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="data_dir"):
        load_dataset("mnist", "train")
    with pytest.raises(DatasetNotFoundError, match="cifar-10-python.tar.gz"):
        load_dataset("cifar10", "train", data_dir=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="cifar-100-python.tar.gz"):
        load_dataset("cifar100", "test", data_dir=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="<class>"):
        load_dataset("image_folder", "train", data_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("cifar11", "train")
    with pytest.raises(ValueError, match="split"):
        load_dataset("digits", "validation")
    with pytest.raises(ValueError, match="label_mode"):
        load_dataset("digits", "train", label_mode="fine")
    with pytest.raises(ValueError, match="limit"):
        load_dataset("digits", "train", limit=0)


# ------------------------------------------------------------------------------ CIFAR
def _cifar_batch(n, key, k, seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    d = {b"data": data, b"batch_label": b"x"}
    if isinstance(key, tuple):
        d[b"fine_labels"] = rng.integers(0, 100, n).tolist()
        d[b"coarse_labels"] = rng.integers(0, 20, n).tolist()
    else:
        d[b"labels"] = rng.integers(0, k, n).tolist()
    return d


def _write_cifar(tmp_path, name, *, extracted=False):
    if name == "cifar10":
        folder, arch = "cifar-10-batches-py", "cifar-10-python.tar.gz"
        members = {f"data_batch_{i}": _cifar_batch(3, "labels", 10, i) for i in range(1, 6)}
        members["test_batch"] = _cifar_batch(4, "labels", 10, 9)
        members["batches.meta"] = {b"label_names": [f"c{i}".encode() for i in range(10)]}
    else:
        folder, arch = "cifar-100-python", "cifar-100-python.tar.gz"
        members = {"train": _cifar_batch(5, ("f",), 100, 1), "test": _cifar_batch(4, ("f",), 100, 2),
                   "meta": {b"fine_label_names": [f"f{i}".encode() for i in range(100)],
                            b"coarse_label_names": [f"g{i}".encode() for i in range(20)]}}
    if extracted:
        (tmp_path / folder).mkdir()
        for m, obj in members.items():
            (tmp_path / folder / m).write_bytes(pickle.dumps(obj, protocol=2))
    else:
        with tarfile.open(tmp_path / arch, "w:gz") as tar:
            for m, obj in members.items():
                raw = pickle.dumps(obj, protocol=2)
                info = tarfile.TarInfo(f"{folder}/{m}")
                info.size = len(raw)
                tar.addfile(info, io.BytesIO(raw))
    return members


@pytest.mark.parametrize("extracted", [False, True])
def test_cifar10_reader(tmp_path, extracted):
    members = _write_cifar(tmp_path, "cifar10", extracted=extracted)
    tr = load_dataset("cifar10", "train", data_dir=tmp_path)
    assert tr.images.shape == (15, 32, 32, 3) and tr.num_classes == 10
    raw = members["data_batch_2"][b"data"][1]  # example 4 = batch 2, row 1
    np.testing.assert_array_equal(tr.images[4, :, :, 0].ravel(), raw[:1024])  # red plane
    np.testing.assert_array_equal(tr.images[4, 5, 7], raw[[5 * 32 + 7, 1024 + 5 * 32 + 7,
                                                           2048 + 5 * 32 + 7]])
    assert tr.labels[4] == members["data_batch_2"][b"labels"][1]
    te = load_dataset("cifar10", "test", data_dir=tmp_path)
    assert len(te) == 4 and te.class_names[3] == "c3"
    assert abs(te.mean[0] / 255 - 0.4914) < 1e-6


@pytest.mark.parametrize("mode, k", [("fine", 100), ("coarse", 20)])
def test_cifar100_label_modes(tmp_path, mode, k):
    members = _write_cifar(tmp_path, "cifar100")
    ds = load_dataset("cifar100", "train", data_dir=tmp_path, label_mode=mode)
    assert ds.num_classes == k and len(ds) == 5 and len(ds.class_names) == k
    np.testing.assert_array_equal(ds.labels, members["train"][f"{mode}_labels".encode()])


def test_cifar_corrupt_archive_and_unsafe_pickle(tmp_path):
    _write_cifar(tmp_path, "cifar10")
    arch = tmp_path / "cifar-10-python.tar.gz"
    arch.write_bytes(arch.read_bytes()[:200])
    with pytest.raises(CorruptDatasetError, match="truncated|unreadable"):
        load_dataset("cifar10", "train", data_dir=tmp_path)
    arch.unlink()

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for m in [f"data_batch_{i}" for i in range(1, 6)] + ["batches.meta"]:
        (folder / m).write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(CorruptDatasetError, match="refusing"):
        load_dataset("cifar10", "train", data_dir=tmp_path)


# ------------------------------------------------------------------------ image folder
def _write_folder(root: Path, sizes=((6, 5),), classes=("b_dog", "a_cat", "c_eel"), per=3):
    from PIL import Image

    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", per), ("test", 1)):
        for ci, c in enumerate(classes):
            (root / split / c).mkdir(parents=True)
            for j in range(n):
                h, w = sizes[j % len(sizes)]
                arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                Image.fromarray(arr).save(root / split / c / f"{j:03d}.png")
                arrays[(split, c, j)] = arr
    (root / "train" / "a_cat" / "notes.txt").write_text("not an image")
    return arrays


def test_image_folder_reader(tmp_path):
    arrays = _write_folder(tmp_path)
    ds = load_dataset("image_folder", "train", data_dir=tmp_path)
    assert ds.class_names == ("a_cat", "b_dog", "c_eel")  # sorted
    assert ds.images.shape == (9, 6, 5, 3) and len(ds) == 9
    np.testing.assert_array_equal(ds.labels, [0, 0, 0, 1, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(ds.images[4], arrays[("train", "b_dog", 1)])  # PNG lossless
    np.testing.assert_allclose(ds.mean, ds.images.reshape(-1, 3).mean(0), rtol=1e-9)
    te = load_dataset("image_folder", "test", data_dir=tmp_path)
    assert te.mean == ds.mean and te.std == ds.std  # test split uses training statistics
    gray = load_dataset("image_folder", "test", data_dir=tmp_path, image_size=4, mode="L")
    assert gray.images.shape == (3, 4, 4, 1)


def test_image_folder_mixed_sizes_need_image_size(tmp_path):
    _write_folder(tmp_path, sizes=((6, 5), (7, 7)))
    src = open_source("image_folder", "train", data_dir=tmp_path)
    assert src[0][0].shape == (6, 5, 3) and src[1][0].shape == (7, 7, 3)
    with pytest.raises(CorruptDatasetError, match="image_size"):
        load_dataset("image_folder", "train", data_dir=tmp_path)
    ds = load_dataset("image_folder", "train", data_dir=tmp_path, image_size=(8, 4))
    assert ds.images.shape == (9, 8, 4, 3)
    (tmp_path / "train" / "a_cat" / "bad.png").write_bytes(b"garbage")
    with pytest.raises(CorruptDatasetError, match="decode"):
        load_dataset("image_folder", "train", data_dir=tmp_path, image_size=4)


def test_array_dataset_validation():
    imgs = np.zeros((3, 2, 2, 1), np.uint8)
    with pytest.raises(ValueError, match="labels must lie"):
        ArrayDataset(imgs, np.array([0, 1, 5]), 3, "x", (0.0,), (1.0,))
    with pytest.raises(ValueError, match="uint8"):
        ArrayDataset(imgs.astype(np.float32), np.array([0, 1, 2]), 3, "x", (0.0,), (1.0,))
    with pytest.raises(ValueError, match="std"):
        ArrayDataset(imgs, np.array([0, 1, 2]), 3, "x", (0.0,), (0.0,))


def test_image_folder_tiny_imagenet_layout(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    wnids = ("n02", "n01")
    train_arrays = {}
    for w in wnids:
        (tmp_path / "train" / w / "images").mkdir(parents=True)
        (tmp_path / "train" / w / f"{w}_boxes.txt").write_text("ignored")
        for j in range(2):
            arr = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(arr).save(tmp_path / "train" / w / "images" / f"{w}_{j}.png")
            train_arrays[(w, j)] = arr
    (tmp_path / "val" / "images").mkdir(parents=True)
    lines = []
    for j, w in enumerate(("n02", "n01", "n01")):
        Image.fromarray(np.full((8, 8, 3), j, np.uint8)).save(
            tmp_path / "val" / "images" / f"val_{j}.png")
        lines.append(f"val_{j}.png\t{w}\t0\t0\t7\t7")
    (tmp_path / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    tr = load_dataset("image_folder", "train", data_dir=tmp_path)
    assert tr.class_names == ("n01", "n02") and len(tr) == 4
    np.testing.assert_array_equal(tr.labels, [0, 0, 1, 1])
    np.testing.assert_array_equal(tr.images[2], train_arrays[("n02", 0)])
    va = load_dataset("image_folder", "val", data_dir=tmp_path)
    assert va.class_names == tr.class_names and len(va) == 3
    # sorted by class then file: val_1 (n01), val_2 (n01), val_0 (n02)
    np.testing.assert_array_equal(va.labels, [0, 0, 1])
    np.testing.assert_array_equal(va.images[:, 0, 0, 0], [1, 2, 0])
