"""The "tfds:<name>" path through tfds.data_source, under tfds.testing.mock_data."""

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from mfdjax.data import DatasetNotFoundError, HostLoader, load_dataset, open_source  # noqa: E402


def test_tfds_cifar10_mock_materialise_and_stream():
    with tfds.testing.mock_data(num_examples=12):
        src = open_source("tfds:cifar10", "train")
        assert len(src) == 12 and src.num_classes == 10 and src.image_shape == (32, 32, 3)
        assert abs(src.mean[2] / 255 - 0.4465) < 1e-6  # CIFAR-10 training statistics
        ds = load_dataset("tfds:cifar10", "train")
        assert ds.images.shape == (12, 32, 32, 3) and ds.images.dtype == np.uint8
        assert ds.labels.dtype == np.int32 and ds.labels.max() < 10
        for i in (0, 7, 11):  # single-index access (the only kind the mock supports)
            img, lab = src[i]
            np.testing.assert_array_equal(img, ds.images[i])
            assert lab == ds.labels[i]
        batches = list(HostLoader(src, 4, seed=0, epoch=0, num_workers=2))
        assert len(batches) == 3
        np.testing.assert_array_equal(np.sort(np.concatenate([b[1] for b in batches])),
                                      np.sort(ds.labels))
        small = load_dataset("tfds:cifar10", "test", limit=5)
        assert len(small) == 5


def test_tfds_num_classes_subset_keeps_first_classes(tmp_path):
    with tfds.testing.mock_data(num_examples=40):
        full = open_source("tfds:cifar10", "train")
        labels = np.array([full[i][1] for i in range(len(full))])
        cache = tmp_path / "idx.npy"
        sub = open_source("tfds:cifar10", "train", num_classes_subset=4, index_cache=cache)
        assert sub.num_classes == 4 and len(sub.class_names) == 4
        assert len(sub) == int((labels < 4).sum())
        got = np.array([sub[i][1] for i in range(len(sub))])
        np.testing.assert_array_equal(got, labels[labels < 4])
        np.testing.assert_array_equal(np.load(cache), np.flatnonzero(labels < 4))
        with pytest.raises(ValueError, match="num_classes_subset"):
            open_source("tfds:cifar10", "train", num_classes_subset=11)


def test_tfds_not_prepared_says_how(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="tfds build"):
        open_source("tfds:cifar10", "train", data_dir=tmp_path)
