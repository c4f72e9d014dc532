"""augment / normalize / random_crop / random_flip against NumPy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mfdjax.data import augment, normalize, random_crop, random_flip
from mfdjax.data.augment import _crop_offsets

MEAN = (120.0, 110.0, 100.0)
STD = (60.0, 50.0, 40.0)


def _images(b=16, h=9, w=7, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(b, h, w, c), dtype=np.uint8)


def test_normalize_matches_numpy():
    x = _images()
    got = normalize(x, MEAN, STD)
    assert got.dtype == jnp.float32 and got.shape == x.shape
    want = (x.astype(np.float64) - np.array(MEAN)) / np.array(STD)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6, atol=1e-6)
    # one value broadcast to all channels
    np.testing.assert_allclose(np.asarray(normalize(x, 127.5, 128.0)), (x - 127.5) / 128.0,
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("pad", [1, 4])
def test_crop_is_shifted_window_of_zero_padded_image(pad):
    x = _images()
    key = jax.random.key(3)
    got = np.asarray(jax.jit(lambda k, v: random_crop(k, v, pad=pad))(key, x))
    offsets = np.asarray(_crop_offsets(key, x.shape[0], pad))
    assert offsets.min() >= 0 and offsets.max() <= 2 * pad
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    h, w = x.shape[1:3]
    for b, (r, c) in enumerate(offsets):
        np.testing.assert_array_equal(got[b], padded[b, r:r + h, c:c + w])
    assert len({tuple(o) for o in offsets}) > 1  # offsets differ across examples


def test_augment_without_flip_equals_normalized_crop():
    x = _images()
    key = jax.random.key(5)
    got = jax.jit(lambda k, v: augment(k, v, pad=4, flip=False, mean=MEAN, std=STD))(key, x)
    k_crop, _ = jax.random.split(key)
    want = normalize(jax.jit(lambda k, v: random_crop(k, v, pad=4))(k_crop, x), MEAN, STD)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    # padded pixels are raw zeros, i.e. -mean/std after normalisation
    offsets = np.asarray(_crop_offsets(k_crop, x.shape[0], 4))
    b = int(np.argmax(offsets[:, 0]))  # pick one with a top border if there is one
    if offsets[b, 0] < 4:
        np.testing.assert_allclose(np.asarray(got)[b, 0, 0], -np.array(MEAN) / np.array(STD),
                                   rtol=1e-6)


def test_flip_probability_and_content():
    x = _images(b=2000, h=3, w=5, c=1, seed=1)
    out = np.asarray(random_flip(jax.random.key(0), x))
    flipped = np.all(out == x[:, :, ::-1], axis=(1, 2, 3))
    kept = np.all(out == x, axis=(1, 2, 3))
    assert np.all(flipped | kept)
    frac = np.mean(flipped & ~kept)
    assert 0.44 < frac < 0.56, frac


def test_augment_deterministic_shapes_and_vmappable():
    x = _images()
    aug = jax.jit(lambda kk, v: augment(kk, v, mean=MEAN, std=STD))
    k = jax.random.key(9)
    a = aug(k, x)
    assert a.shape == x.shape and a.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(a), np.asarray(aug(k, x)))  # same key, same batch
    assert not np.array_equal(np.asarray(a), np.asarray(aug(jax.random.key(10), x)))
    keys = jax.random.split(k, 2)
    stacked = jax.jit(jax.vmap(aug, in_axes=(0, None)))(keys, x)
    assert stacked.shape == (2,) + x.shape
    np.testing.assert_allclose(np.asarray(stacked[1]), np.asarray(aug(keys[1], x)), rtol=1e-6)


def test_bad_inputs():
    x = _images()
    with pytest.raises(ValueError, match="images"):
        augment(jax.random.key(0), x[0], mean=MEAN, std=STD)
    with pytest.raises(ValueError, match="std"):
        normalize(x, MEAN, (1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="channels"):
        normalize(x, (1.0, 2.0), STD)
    with pytest.raises(ValueError, match="pad"):
        random_crop(jax.random.key(0), x, pad=-1)
