"""Host transforms (ImageNet recipe) and their reproducibility through HostLoader."""

import functools

import numpy as np
import pytest

from mfdjax.data import HostLoader, random_resized_crop, resize_center_crop


class _VariableSizeSource:
    """Images of different shapes, each a horizontal ramp (so flips are visible)."""

    num_classes = 3

    def __init__(self, n=12):
        rng = np.random.default_rng(0)
        self.shapes = [(int(rng.integers(20, 60)), int(rng.integers(20, 60))) for _ in range(n)]

    def __len__(self):
        return len(self.shapes)

    def __getitem__(self, i):
        h, w = self.shapes[i]
        ramp = np.linspace(0, 255, w).astype(np.uint8)
        return np.broadcast_to(ramp[None, :, None], (h, w, 3)).copy(), i % 3


def test_resize_center_crop_geometry():
    img = np.zeros((40, 80, 3), np.uint8)
    img[:, 30:50] = 255  # a centred white band
    out = resize_center_crop(img, size=16, resize=20)  # 40x80 -> 20x40 -> centre 16x16
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    assert out[:, 8].min() > 200  # the band stays in the centre
    assert out[:, 0].max() < 60
    with pytest.raises(ValueError, match="resize"):
        resize_center_crop(img, size=32, resize=20)


def test_random_resized_crop_shapes_flip_and_determinism():
    src = _VariableSizeSource()
    img = src[0][0]
    outs = [random_resized_crop(img, np.random.default_rng(s), size=24) for s in range(200)]
    assert all(o.shape == (24, 24, 3) and o.dtype == np.uint8 for o in outs)
    increasing = np.mean([o[0, -1, 0] > o[0, 0, 0] for o in outs])
    assert 0.35 < increasing < 0.65  # flipped about half the time
    again = random_resized_crop(img, np.random.default_rng(7), size=24)
    np.testing.assert_array_equal(again, outs[7])
    gray = random_resized_crop(img[..., :1], np.random.default_rng(0), size=8, flip=False)
    assert gray.shape == (8, 8, 1) and gray[0, -1, 0] >= gray[0, 0, 0]


def test_host_loader_transform_reproducible_across_workers_and_resume():
    src = _VariableSizeSource()
    t = functools.partial(random_resized_crop, size=16)
    a = list(HostLoader(src, 4, seed=3, epoch=1, num_workers=1, transform=t))
    b = list(HostLoader(src, 4, seed=3, epoch=1, num_workers=4, transform=t))
    c = list(HostLoader(src, 4, seed=3, epoch=1, start_step=2, transform=t))
    d = list(HostLoader(src, 4, seed=3, epoch=2, transform=t))
    assert len(a) == 3 and a[0][0].shape == (4, 16, 16, 3)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    np.testing.assert_array_equal(c[0][0], a[2][0])
    assert not np.array_equal(d[0][0], a[0][0])
    with pytest.raises(ValueError, match="shape"):
        list(HostLoader(src, 4, seed=3, epoch=1))  # variable sizes without a transform
