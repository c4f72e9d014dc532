"""Host-side per-image transforms for variable-size images (ImageNet recipe).

Used as ``HostLoader(..., transform=fn)``; each ``fn(image, rng)`` takes a
uint8 (H, W, C) image and a ``np.random.Generator`` that HostLoader derives
from ``(seed, epoch, example index)``, so the result does not depend on thread
timing and a resumed run redoes the same crops.

the POD paper, Sec. 4.1 (ImageNet): "the training images are randomly cropped to
different sizes and aspect ratios, scaled to 224 x 224, and flipped
horizontally with a probability of 0.5. The test images are scaled to 256
proportionally with a small side length, and then the center is cropped to
224 x 224" (torchvision's RandomResizedCrop + RandomHorizontalFlip, and
Resize(256) + CenterCrop(224)). Normalisation then runs on the device
(:func:`mfdjax.data.normalize`).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["random_resized_crop", "resize_center_crop"]


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    squeeze = image.ndim == 3 and image.shape[-1] == 1
    im = Image.fromarray(image[..., 0] if squeeze else image)
    out = np.asarray(im.resize((width, height), Image.BILINEAR), dtype=np.uint8)
    return out[..., None] if out.ndim == 2 else out


def resize_center_crop(image: np.ndarray, rng: np.random.Generator | None = None, *,
                       size: int = 224, resize: int = 256) -> np.ndarray:
    """Evaluation transform: shorter side to ``resize`` (aspect kept), centre ``size`` crop.

    Args:
      image: (H, W, C) uint8.
      rng: unused (deterministic); present for the HostLoader signature.
      size: output side.
      resize: shorter side after resizing (>= size).

    Returns:
      (size, size, C) uint8.
    """
    if resize < size:
        raise ValueError(f"resize ({resize}) must be >= size ({size}).")
    h, w = image.shape[:2]
    scale = resize / min(h, w)
    nh, nw = max(resize, round(h * scale)), max(resize, round(w * scale))
    out = _resize(image, nh, nw)
    top, left = (nh - size) // 2, (nw - size) // 2
    return out[top:top + size, left:left + size]


def random_resized_crop(image: np.ndarray, rng: np.random.Generator, *, size: int = 224,
                        scale: tuple[float, float] = (0.08, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3),
                        flip: bool = True) -> np.ndarray:
    """Training transform: torchvision's RandomResizedCrop(size) + horizontal flip p = 0.5.

    A crop of area ``s * H * W`` (``s ~ U(scale)``) and aspect ratio ``r``
    (``log r ~ U(log ratio)``) at a uniform position; up to 10 tries, then the
    centre crop of the largest in-range aspect ratio; resized to size x size.

    Args:
      image: (H, W, C) uint8.
      rng: NumPy generator (HostLoader passes one per example).
      size: output side.
      scale: range of the crop's area fraction.
      ratio: range of the crop's aspect ratio (width / height).
      flip: mirror left-right with probability 0.5.

    Returns:
      (size, size, C) uint8.
    """
    h, w = image.shape[:2]
    area = h * w
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        r = math.exp(rng.uniform(*log_ratio))
        cw = int(round(math.sqrt(target * r)))
        ch = int(round(math.sqrt(target / r)))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(rng.integers(0, h - ch + 1))
            left = int(rng.integers(0, w - cw + 1))
            break
    else:  # fallback: central crop with the ratio clipped to the range
        in_ratio = w / h
        if in_ratio < ratio[0]:
            cw, ch = w, int(round(w / ratio[0]))
        elif in_ratio > ratio[1]:
            ch, cw = h, int(round(h * ratio[1]))
        else:
            cw, ch = w, h
        top, left = (h - ch) // 2, (w - cw) // 2
    out = _resize(image[top:top + ch, left:left + cw], size, size)
    if flip and rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)
