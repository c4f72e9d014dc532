"""The per-source modules keep the public import paths of mfdjax.data and mfdjax.data.datasets."""

import mfdjax.data
import mfdjax.data.datasets as datasets
from mfdjax.data.sources import cifar, common, digits, idx, image_folder, tfds


def test_public_names_are_the_source_modules_objects():
    assert datasets.ArrayDataset is common.ArrayDataset is mfdjax.data.ArrayDataset
    assert datasets.DatasetNotFoundError is common.DatasetNotFoundError
    assert datasets.CorruptDatasetError is mfdjax.data.CorruptDatasetError
    assert datasets.read_idx is idx.read_idx and datasets.FASHION_MNIST_DIR == idx.FASHION_MNIST_DIR
    assert datasets.ImageFolderSource is image_folder.ImageFolderSource
    assert datasets.TfdsSource is tfds.TfdsSource
    assert datasets.channel_stats is common.channel_stats
    for name in datasets.__all__:
        assert hasattr(datasets, name), name
    for name in mfdjax.data.__all__:
        assert hasattr(mfdjax.data, name), name


def test_each_source_module_holds_only_its_source():
    # Loaders of other formats do not leak into a source module.
    assert not hasattr(cifar, "read_idx") and not hasattr(idx, "_load_cifar")
    assert hasattr(digits, "_load_digits") and not hasattr(digits, "TfdsSource")
