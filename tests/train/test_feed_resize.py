"""dataset.resize after dataset.classes / train_fraction / the subsets: only the kept images
are resized, and they are the images (and labels) a resize of the whole split would keep."""

from __future__ import annotations

import numpy as np
from PIL import Image

from mfdjax.configs import apply_overrides, load_config
from mfdjax.train.feed import Feed


def test_resize_of_a_subset_matches_the_whole_split():
    pick = ["dataset.classes=(3,1,2)", "dataset.train_fraction=0.5"]
    small = load_config("default:softmax")
    apply_overrides(small, pick + ["dataset.resize=40", "dataset.train_subset=300",
                                   "dataset.test_subset=100"])
    f = Feed(small)
    assert f.train.images.shape == (300, 40, 40, 1) and f.test.images.shape == (100, 40, 40, 1)
    assert f.num_classes == 3 and f.image_shape == (40, 40, 1)
    full = load_config("default:softmax")
    apply_overrides(full, pick)
    g = Feed(full)                                   # classes + fraction, no resize
    np.testing.assert_array_equal(f.train.labels, g.train.labels[:300])
    np.testing.assert_array_equal(f.test.labels, g.test.labels[:100])
    for i in (0, 7, 299):
        want = Image.fromarray(g.train.images[i][..., 0]).resize((40, 40), Image.BILINEAR)
        np.testing.assert_array_equal(f.train.images[i][..., 0], np.asarray(want))
