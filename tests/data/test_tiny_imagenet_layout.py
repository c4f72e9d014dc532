"""The official Tiny ImageNet folder (tiny-imagenet-200 as unpacked) read by the image folder.

Layout: ``wnids.txt``, ``words.txt``, ``train/<wnid>/images/<wnid>_<k>.JPEG`` with
``train/<wnid>/<wnid>_boxes.txt``, ``val/images/val_<k>.JPEG`` labelled only by
``val/val_annotations.txt`` (tab-separated: file, wnid, box), and an unlabelled
``test/images``. Each class gets its own grey level so a mis-paired label shows.
"""

from __future__ import annotations

import numpy as np
import pytest

from mfdjax.configs import load_config
from mfdjax.data import load_dataset

WNIDS = ("n01443537", "n01629819", "n01641577")
LEVEL = {w: 40 + 80 * i for i, w in enumerate(WNIDS)}


def _jpeg(path, level):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((64, 64, 3), level, np.uint8)).save(path, "JPEG", quality=95)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-imagenet-200")
    (root / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    (root / "words.txt").write_text("".join(f"{w}\tthing {i}\n" for i, w in enumerate(WNIDS)))
    for w in WNIDS:
        for k in range(2):
            _jpeg(root / "train" / w / "images" / f"{w}_{k}.JPEG", LEVEL[w])
        (root / "train" / w / f"{w}_boxes.txt").write_text(
            "".join(f"{w}_{k}.JPEG\t0\t0\t63\t63\n" for k in range(2)))
    # val: the labels live only in the annotations, in an order unrelated to the classes.
    val_labels = [WNIDS[2], WNIDS[0], WNIDS[1], WNIDS[2], WNIDS[0]]
    for k, w in enumerate(val_labels):
        _jpeg(root / "val" / "images" / f"val_{k}.JPEG", LEVEL[w])
    (root / "val" / "val_annotations.txt").write_text(
        "".join(f"val_{k}.JPEG\t{w}\t0\t0\t63\t63\n" for k, w in enumerate(val_labels)))
    _jpeg(root / "test" / "images" / "test_0.JPEG", 0)
    return root, val_labels


def test_val_split_is_labelled_by_its_annotations(tiny_root):
    root, val_labels = tiny_root
    val = load_dataset("image_folder", "val", data_dir=str(root), image_size=64)
    train = load_dataset("image_folder", "train", data_dir=str(root), image_size=64)
    assert len(val) == len(val_labels) and len(train) == 2 * len(WNIDS)
    # Classes are the sorted wnids of train/; every image's grey level is its class's.
    for ds in (val, train):
        for i in range(len(ds)):
            image, label = ds[i]
            assert abs(float(np.mean(image)) - LEVEL[WNIDS[label]]) < 3, (i, label)
    assert sorted(val.labels.tolist()) == sorted(WNIDS.index(w) for w in val_labels)


def test_the_tiny_imagenet_configs_test_on_the_val_split():
    c = load_config("mfd_tiny_imagenet:resnet50,mfd")
    assert (c.dataset.name, c.dataset.test_split, c.dataset.options.image_size) == (
        "image_folder", "val", 64)
