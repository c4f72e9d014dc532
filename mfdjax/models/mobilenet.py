"""MobileNetV2 (torchvision definition) that sows its features.

Architecture: Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks"
(CVPR 2018), Table 2, as torchvision builds it: 3x3 stride-2 conv (32) + BN + ReLU6;
17 inverted residual blocks with settings (t, c, n, s) = (1,16,1,1), (6,24,2,2),
(6,32,3,2), (6,64,4,2), (6,96,3,1), (6,160,3,2), (6,320,1,1) (expand 1x1 + BN + ReLU6
when t != 1, depthwise 3x3 + BN + ReLU6, linear 1x1 projection + BN, identity shortcut
when stride 1 and in == out); a 1x1 conv to 1280 + BN + ReLU6; global average pool
(D = 1280). Channels rounded to multiples of 8 after ``width_mult``. Conv init
kaiming-normal fan-out. With ``stem="imagenet"`` and the 1000-class linear head:
3,504,872 trainable parameters, as torchvision. Deviation: torchvision's dropout 0.2
before the classifier is ``dropout_rate`` here and defaults to 0 (the heads are
shared by all families and the papers' CIFAR runs give no dropout); set it to 0.2
(and pass a ``"dropout"`` rng) for the torchvision recipe.

Stem (``stem=``), the analogue of ResNet's (overall down-sampling 32 / 8 / 16 as for
ResNet): the papers only say the first layers were adapted to small images
(the MFD paper and the POD paper, section IV), so this follows the common CIFAR
MobileNetV2 (first conv stride 1, and the first stride-2 block group, c=24, at stride 1):

* ``"imagenet"``: first conv stride 2, the c=24 group stride 2 (torchvision);
* ``"cifar"``: first conv stride 1, the c=24 group stride 1 (32x32 -> 4x4 at the end);
* ``"cifar_pool"``: first conv stride 1, the c=24 group stride 2 (64x64 -> 4x4).

Module names follow torchvision's ``features[i]``: ``features00`` (first conv),
``features01``..``features17`` (inverted residuals), ``features18`` (1x1 to 1280).

Sown features (all under those module names, sorting in network order):

* ``"stages"`` (5 maps, by feature-map size in the ImageNet layout, the MFD paper
  section IV-C): the last map at each resolution, i.e. the outputs of ``features01``
  (16 ch, /2), ``features03`` (24 ch, /4), ``features06`` (32 ch, /8), ``features13``
  (96 ch, /16) and ``features18`` (1280 ch, /32), each sown as ``out``. The same
  tensors are used with the CIFAR stems (where some of them share a resolution).
* ``"blocks"`` (17 maps): every inverted residual block's output (``out``).
* ``"layers"`` (1 + 2 + 16 * 3 + 1 = 52 maps): the first conv's ReLU6 map, then per block
  ``act1_expand`` (ReLU6 after the expansion; absent when t = 1), ``act2_dw`` (ReLU6 after
  the depthwise conv) and ``out`` (the linear-bottleneck output after the residual add;
  MobileNetV2 has no activation there), and the last conv's ReLU6 map.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mfdjax.models.common import check_level, sow_feature
from mfdjax.models.layers import ConvBN, build_classifier, check_image, check_stem, relu6
from mfdjax.models.registry import register

__all__ = ["InvertedResidual", "MobileNetV2", "TORCHVISION_SETTING"]

TORCHVISION_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's ``_make_divisible``: round to a multiple of ``divisor``, losing <= 10%."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


# conv + BN + ReLU6 (``act=False``: conv + BN, the linear bottleneck's projection).
_ConvBNAct = functools.partial(ConvBN, activation=relu6)


class _StemOrLast(nn.Module):
    """conv+BN+ReLU6 sowing its output as ``out`` (layers; stages when ``stage_end``)."""

    features_out: int
    kernel: int
    strides: int = 1
    stage_end: bool = False
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, features: str | None = None) -> jax.Array:
        y = _ConvBNAct(self.features_out, self.kernel, self.strides, dtype=self.dtype,
                       name="cba")(x, train)
        sow_feature(self, features, "layers", "out", y)
        if self.stage_end:
            sow_feature(self, features, "stages", "out", y)
        return y


class InvertedResidual(nn.Module):
    """Expand (1x1, x t) + depthwise 3x3 (stride) + linear 1x1 projection (+ x if shapes match)."""

    features_out: int
    strides: int
    expand_ratio: int
    stage_end: bool = False
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, features: str | None = None) -> jax.Array:
        in_ch = x.shape[-1]
        hidden = int(round(in_ch * self.expand_ratio))
        y = x
        if self.expand_ratio != 1:
            y = _ConvBNAct(hidden, 1, dtype=self.dtype, name="expand")(y, train)
            sow_feature(self, features, "layers", "act1_expand", y)
        y = _ConvBNAct(hidden, 3, self.strides, groups=hidden, dtype=self.dtype,
                       name="depthwise")(y, train)
        sow_feature(self, features, "layers", "act2_dw", y)
        y = _ConvBNAct(self.features_out, 1, act=False, dtype=self.dtype, name="project")(y, train)
        if self.strides == 1 and in_ch == self.features_out:
            y = x + y
        sow_feature(self, features, "layers", "out", y)
        sow_feature(self, features, "blocks", "out", y)
        if self.stage_end:
            sow_feature(self, features, "stages", "out", y)
        return y


class MobileNetV2(nn.Module):
    """MobileNetV2 backbone: ``__call__(x, *, train, features=None) -> (B, D)``.

    Inverted residual (Sandler et al. 2018, Table 1):
    :math:`y = x + \\mathrm{BN}(W_p\\,\\mathrm{ReLU6}(\\mathrm{BN}(\\mathrm{DW}(
    \\mathrm{ReLU6}(\\mathrm{BN}(W_e x))))))` (the ``x +`` only at stride 1 with equal
    channels); pooled feature ``D = make_divisible(1280 * max(1, width_mult))``.

    Attributes:
      width_mult: channel multiplier (1.0).
      setting: (t, c, n, s) rows; the ImageNet layout must down-sample at exactly four
        block groups (for the five-stage split).
      stem_features, last_features: 32 and 1280 (scaled by width_mult as torchvision).
      stem: "imagenet" | "cifar" | "cifar_pool" (module docstring).
      dropout_rate: dropout on the pooled feature when training (torchvision 0.2; 0 here).
      dtype: computation dtype; params float32.

    ``x`` is (B, H, W, C) float; returns the (B, D) float32 feature.
    References: Sandler et al. 2018 Table 2; the MFD paper, section IV.
    """

    width_mult: float = 1.0
    setting: Sequence[Sequence[int]] = TORCHVISION_SETTING
    stem_features: int = 32
    last_features: int = 1280
    stem: str = "imagenet"
    dropout_rate: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, features: str | None = None) -> jax.Array:
        check_level(features)
        check_stem(self.stem)
        check_image(x)
        strides = [row[3] for row in self.setting]
        down = [i for i, s in enumerate(strides) if s == 2]
        if len(down) != 4:
            raise ValueError("`setting` must have exactly four groups with stride 2 (the "
                             f"five-stage split), got strides {strides}.")
        first_down = down[0]
        if self.stem != "imagenet":
            strides[first_down] = 1 if self.stem == "cifar" else 2
        # Block index (over all blocks) that ends each stage in the ImageNet layout:
        # The last block before each stride-2 group.
        ends, idx = set(), 0
        for g, row in enumerate(self.setting):
            if g in down:
                ends.add(idx)  # features{idx}: the last block before group g (0 = stem)
            idx += row[2]
        x = x.astype(self.dtype)
        in_ch = make_divisible(self.stem_features * self.width_mult)
        last_ch = make_divisible(self.last_features * max(1.0, self.width_mult))
        x = _StemOrLast(in_ch, 3, 2 if self.stem == "imagenet" else 1, stage_end=0 in ends,
                        dtype=self.dtype, name="features00")(x, train=train, features=features)
        i = 1
        for g, (t, c, n, _) in enumerate(self.setting):
            out_ch = make_divisible(c * self.width_mult)
            for b in range(n):
                x = InvertedResidual(out_ch, strides[g] if b == 0 else 1, t, stage_end=i in ends,
                                     dtype=self.dtype, name=f"features{i:02d}")(
                                         x, train=train, features=features)
                i += 1
        x = _StemOrLast(last_ch, 1, stage_end=True, dtype=self.dtype,
                        name=f"features{i:02d}")(x, train=train, features=features)
        x = jnp.mean(x.astype(jnp.float32), axis=(1, 2))
        if self.dropout_rate > 0:
            x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return x


def _factory(name: str, **defaults):
    @register(name)
    def factory(*, num_classes: int, stem: str = "imagenet", head: str = "linear",
                head_kwargs: dict | None = None, dtype: Any = jnp.float32, **options):
        check_stem(stem)
        cfg = dict(defaults)
        cfg.update(options)
        return build_classifier(MobileNetV2(stem=stem, dtype=dtype, **cfg),
                                num_classes=num_classes, head=head, head_kwargs=head_kwargs)

    factory.__name__ = name
    fields = ", ".join(f"{k}={v!r}" for k, v in defaults.items())
    factory.__doc__ = (f"``{name}``: MobileNetV2({fields})"
                       " + head. Keyword-only: num_classes, stem, head, head_kwargs, dtype, "
                       "and any MobileNetV2 field (width_mult, dropout_rate, ...).")
    return factory


_factory("mobilenet_v2")
_factory("mobilenet_v2_mini", setting=((1, 8, 1, 1), (2, 8, 1, 2), (2, 8, 1, 2), (2, 16, 1, 2),
                                       (2, 16, 1, 1), (2, 24, 1, 2), (2, 24, 1, 1)),
         stem_features=8, last_features=32)
