"""On-device augmentation and normalisation of uint8 image batches.

Pure ``jnp``: jittable, vmappable, reproducible from the PRNG key, no Python
loop over examples. Meant to run INSIDE the jitted train step on the uint8
batch gathered on the device (:class:`mfdjax.data.DeviceDataset`), so the host
sends (or keeps) bytes, not float32 images.

Units: ``mean`` and ``std`` are per-channel values in **0-255 pixel units**
(the convention of :class:`mfdjax.data.ArrayDataset`); torchvision's
``Normalize(m, s)`` after ``ToTensor()`` equals ``normalize(x, 255*m, 255*s)``.

The training recipe of the MFD paper / the POD paper (Sec. 4.1, "standard data
enhancement"): zero-pad 4 pixels on each side, random crop back to H x W,
horizontal flip with probability 0.5; test images are only normalised. The
zero padding is applied to the raw pixels, before normalisation, as
torchvision's ``RandomCrop(32, padding=4)`` does in the authors' PyTorch code,
so padded pixels become ``-mean/std`` after normalisation.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["augment", "normalize", "random_crop", "random_flip"]


def _check_images(images, name: str = "images") -> jax.Array:
    if not hasattr(images, "shape") or not hasattr(images, "dtype"):
        images = jnp.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"{name} must be a batch of NHWC images of shape (B, H, W, C), got shape "
            f"{tuple(images.shape)}; add a batch axis with images[None] for one image.")
    dt = jnp.dtype(images.dtype)
    if not (jnp.issubdtype(dt, jnp.integer) or jnp.issubdtype(dt, jnp.floating)):
        raise ValueError(f"{name} must be uint8 (or real-valued 0-255) pixels, got dtype {dt}.")
    return jnp.asarray(images)


def _channel_vector(value, name: str, channels: int) -> np.ndarray:
    if value is None:
        raise ValueError(
            f"{name} is required: per-channel values in 0-255 units, e.g. dataset.{name} "
            "of an ArrayDataset.")
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a float or a sequence of {channels} floats.") from err
    if arr.size == 1:
        arr = np.repeat(arr, channels)
    if arr.size != channels:
        raise ValueError(
            f"{name} has {arr.size} values but the images have {channels} channels; give one "
            "value per channel (or one value for all).")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr.tolist()}.")
    return arr


def normalize(images, mean: float | Sequence[float], std: float | Sequence[float], *,
              dtype=jnp.float32) -> jax.Array:
    """Per-channel standardisation of uint8 pixels (the evaluation transform).

    .. math::

       y_{bhwc} = \\frac{x_{bhwc} - \\mu_c}{\\sigma_c}

    Args:
      images: (B, H, W, C) uint8 (or real-valued, 0-255) pixels.
      mean: mu, a float or C floats, 0-255 units.
      std: sigma, a float or C positive floats, 0-255 units.
      dtype: output dtype (float32; the arithmetic is float32 in any case).

    Returns:
      (B, H, W, C) array of ``dtype``.
    """
    images = _check_images(images)
    c = images.shape[-1]
    mu = _channel_vector(mean, "mean", c)
    sigma = _channel_vector(std, "std", c)
    if np.any(sigma <= 0):
        raise ValueError(f"std must be > 0 in every channel, got {sigma.tolist()}.")
    x = images.astype(jnp.float32)
    y = (x - jnp.asarray(mu, jnp.float32)) * jnp.asarray(1.0 / sigma, jnp.float32)
    return y.astype(dtype)


def _crop_offsets(key, batch: int, pad: int) -> jax.Array:
    """(B, 2) int32 top-left offsets (row, col) into the padded images, uniform in [0, 2 pad]."""
    return jax.random.randint(key, (batch, 2), 0, 2 * pad + 1, dtype=jnp.int32)


def random_crop(key, images, *, pad: int = 4) -> jax.Array:
    """Zero-pads ``pad`` pixels on each side, then crops a random H x W window per example.

    .. math::

       y_b = \\operatorname{pad}_p(x_b)[r_b : r_b + H,\\; c_b : c_b + W],\\qquad
       r_b, c_b \\sim \\mathcal{U}\\{0, \\dots, 2p\\}

    One ``lax.dynamic_slice`` per example under ``jax.vmap`` (a single gather).

    Args:
      key: PRNG key.
      images: (B, H, W, C) images, any dtype (padding value 0).
      pad: p >= 0, padding on each side.

    Returns:
      (B, H, W, C) array, same dtype as ``images``.
    """
    images = _check_images(images)
    if isinstance(pad, bool) or not isinstance(pad, (int, np.integer)) or pad < 0:
        raise ValueError(f"pad must be an int >= 0, got {pad!r}.")
    if pad == 0:
        return images
    b, h, w, c = images.shape
    padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    offsets = _crop_offsets(key, b, pad)

    def crop(img, off):
        return lax.dynamic_slice(img, (off[0], off[1], 0), (h, w, c))

    return jax.vmap(crop)(padded, offsets)


def random_flip(key, images, *, prob: float = 0.5) -> jax.Array:
    """Mirrors each image left-right (the W axis) with probability ``prob``.

    Args:
      key: PRNG key.
      images: (B, H, W, C).
      prob: flip probability in [0, 1].

    Returns:
      (B, H, W, C) array, same dtype.
    """
    images = _check_images(images)
    if not 0.0 <= float(prob) <= 1.0:
        raise ValueError(f"prob must be in [0, 1], got {prob}.")
    flip = jax.random.bernoulli(key, prob, (images.shape[0],))
    return jnp.where(flip[:, None, None, None], images[:, :, ::-1, :], images)


def augment(key, images, *, pad: int = 4, flip: bool = True,
            mean: float | Sequence[float], std: float | Sequence[float],
            dtype=jnp.float32) -> jax.Array:
    """The papers' training augmentation, then normalisation.

    .. math::

       y_b = \\frac{\\operatorname{flip}_{f_b}\\big(\\operatorname{crop}_{r_b,c_b}
       (\\operatorname{pad}_p(x_b))\\big) - \\mu}{\\sigma},\\qquad
       f_b \\sim \\operatorname{Bernoulli}(0.5)

    Source: the POD paper, Sec. 4.1 ("the training images are filled with 4
    pixels, randomly cropped to the original size, and horizontally flipped
    with a probability of 0.5"), the same recipe in the MFD paper's experiments.
    The key is split into a crop key and a flip key, so the result is a pure
    function of ``(key, images)``.

    Args:
      key: PRNG key (one per step; e.g. ``jax.random.fold_in(key, step)``).
      images: (B, H, W, C) uint8 pixels (0-255).
      pad: zero padding on each side before the random crop (0 disables).
      flip: random horizontal flip with p = 0.5.
      mean: C floats (or one), 0-255 units.
      std: C positive floats (or one), 0-255 units.
      dtype: output dtype (float32 default).

    Returns:
      (B, H, W, C) array of ``dtype``, normalised.
    """
    images = _check_images(images)
    k_crop, k_flip = jax.random.split(key)
    x = random_crop(k_crop, images, pad=pad)
    if flip:
        x = random_flip(k_flip, x)
    return normalize(x, mean, std, dtype=dtype)
