"""Feeding: in-memory and streamed (HostLoader) modes give the same batches."""

from __future__ import annotations

import numpy as np
import pytest

from mfdjax.train.feed import Feed
from tests.train._tiny import tiny_config


def test_streaming_matches_in_memory():
    cfg = tiny_config(dataset__train_subset=300, dataset__test_subset=100)
    mem = Feed(cfg)
    cfg_s = tiny_config(dataset__train_subset=300, dataset__test_subset=100,
                        dataset__streaming=True, dataset__num_workers=2)
    stream = Feed(cfg_s)
    assert (mem.num_train, mem.num_test, mem.num_classes) == (300, 100, 10)
    assert (stream.num_train, stream.num_test) == (300, 100)
    assert mem.image_shape == stream.image_shape == (8, 8, 1)
    np.testing.assert_allclose(mem.mean, stream.mean)
    for epoch, start in ((0, 0), (1, 2)):
        a = list(mem.train_batches(epoch, start, 64))
        b = list(stream.train_batches(epoch, start, 64))
        assert len(a) == len(b) == 4 - start
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x["image"], y["image"])
            np.testing.assert_array_equal(x["label"], y["label"])
    a, b = list(mem.eval_batches(64)), list(stream.eval_batches(64))
    assert len(a) == len(b) == 2
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x["mask"], y["mask"])
        m = x["mask"] > 0
        np.testing.assert_array_equal(x["image"][m], y["image"][m])
        np.testing.assert_array_equal(x["label"][m], y["label"][m])
    assert a[-1]["mask"].sum() == 100 - 64
    np.testing.assert_array_equal(mem.fixed_images(16), stream.fixed_images(16))


def test_transforms_need_streaming():
    with pytest.raises(ValueError, match="streaming=True"):
        Feed(tiny_config(dataset__train_transform="random_resized_crop"))
