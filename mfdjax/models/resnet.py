"""ResNet 18/34/50/101/152 and ResNeXt50_32x4d (torchvision definitions) that sow their features.

Architecture: He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016),
ResNeXt: Xie et al. (CVPR 2017), exactly as torchvision builds them (stride on the
3x3 conv of the bottleneck, "ResNet v1.5"; 1x1 conv + BN projection shortcut when the
shape changes; kaiming-normal fan-out conv init; BN gamma 1, beta 0). With
``stem="imagenet"`` and the 1000-class linear head every model has torchvision's
trainable parameter count (resnet50: 25,557,032).

Stem (``stem=``), one option of the same module (the MFD paper, section IV, the POD paper
section 4):

* ``"imagenet"``: 7x7 stride-2 conv (pad 3) + BN + ReLU + 3x3 stride-2 max-pool (pad 1);
* ``"cifar"``: 3x3 stride-1 conv (pad 1) + BN + ReLU, no max-pool (32x32 inputs);
* ``"cifar_pool"``: the 3x3 stride-1 conv followed by the max-pool (Tiny ImageNet 64x64).

Sown features (``features=``, see :mod:`mfdjax.models.common`), names under the
backbone's scope, in network order:

* ``"stages"`` (5 maps, the MFD paper, section III-B / Table I): ``stage0`` = stem output
  (after the max-pool when there is one, i.e. the input of the first residual stage),
  ``stage1``..``stage4`` = the output of each residual stage (after its last add+ReLU).
* ``"blocks"`` (sum(stage_sizes) maps): every residual block's output (after add+ReLU),
  sown as ``out`` inside block ``stage{s}_block{bb}`` (s = 1..4, bb = 00, 01, ...).
* ``"layers"`` (the reference code's placement): the stem output (``stage0``, the same tensor as at
  "stages"), then inside every block
  each post-ReLU map: BasicBlock ``act1`` (conv1+BN+ReLU) and ``out`` (add+ReLU);
  Bottleneck ``act1``, ``act2`` (conv2+BN+ReLU) and ``out``. ResNet50: 1 + 16 * 3 = 49.

Names sort in network order too (zero-padded block indices), so
:func:`~mfdjax.models.collect_features` gives network order even after a JAX
transformation (jit outputs, ``eval_shape``, ``tree.map``) has sorted the dict keys.

``dtype`` sets the computation dtype (e.g. ``jnp.bfloat16``); parameters stay float32 and
the pooled feature is returned in float32.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mfdjax.models.common import check_level, sow_feature
from mfdjax.models.layers import (STEMS, ConvBN, build_classifier, check_image, check_stem,
                                   max_pool2d)
from mfdjax.models.registry import register

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "STEMS", "build_classifier", "check_stem"]

class BasicBlock(nn.Module):
    """Two 3x3 conv+BN, identity or 1x1-conv+BN shortcut, add, ReLU. Output ``planes`` channels."""

    planes: int
    strides: int = 1
    groups: int = 1
    base_width: int = 64
    zero_init_residual: bool = False
    dtype: Any = jnp.float32
    expansion = 1

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, features: str | None = None) -> jax.Array:
        if self.groups != 1 or self.base_width != 64:
            raise ValueError("BasicBlock supports only groups=1 and width_per_group=64 "
                             "(as torchvision); use block='bottleneck' for ResNeXt.")
        cb = functools.partial(ConvBN, dtype=self.dtype)
        y = cb(self.planes, 3, self.strides, name="conv1")(x, train)
        sow_feature(self, features, "layers", "act1", y)
        y = cb(self.planes, 3, act=False, zero_gamma=self.zero_init_residual,
               name="conv2")(y, train)
        if self.strides != 1 or x.shape[-1] != self.planes:
            x = cb(self.planes, 1, self.strides, act=False, name="downsample")(x, train)
        y = nn.relu(y + x)
        sow_feature(self, features, "layers", "out", y)
        sow_feature(self, features, "blocks", "out", y)
        return y


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (stride, groups), 1x1 expand (x4), each conv+BN; shortcut; add; ReLU.

    Inner width ``int(planes * base_width / 64) * groups`` (torchvision; ResNeXt50_32x4d:
    groups 32, base_width 4).
    """

    planes: int
    strides: int = 1
    groups: int = 1
    base_width: int = 64
    zero_init_residual: bool = False
    dtype: Any = jnp.float32
    expansion = 4

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, features: str | None = None) -> jax.Array:
        width = int(self.planes * (self.base_width / 64.0)) * self.groups
        out_ch = self.planes * self.expansion
        cb = functools.partial(ConvBN, dtype=self.dtype)
        y = cb(width, 1, name="conv1")(x, train)
        sow_feature(self, features, "layers", "act1", y)
        y = cb(width, 3, self.strides, groups=self.groups, name="conv2")(y, train)
        sow_feature(self, features, "layers", "act2", y)
        y = cb(out_ch, 1, act=False, zero_gamma=self.zero_init_residual, name="conv3")(y, train)
        if self.strides != 1 or x.shape[-1] != out_ch:
            x = cb(out_ch, 1, self.strides, act=False, name="downsample")(x, train)
        y = nn.relu(y + x)
        sow_feature(self, features, "layers", "out", y)
        sow_feature(self, features, "blocks", "out", y)
        return y


_BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(nn.Module):
    """ResNet / ResNeXt backbone: ``__call__(x, *, train, features=None) -> (B, D)``.

    The pooled feature is the global average of the last stage,
    :math:`f = \\frac{1}{HW}\\sum_{h,w} A_4[:, h, w, :]`, of dimension
    ``D = widths[-1] * expansion`` (512 for BasicBlock nets, 2048 for Bottleneck nets).

    Attributes:
      stage_sizes: blocks per stage, e.g. (3, 4, 6, 3) for ResNet50.
      block: "basic" or "bottleneck".
      widths: the four stages' ``planes`` (torchvision: 64, 128, 256, 512).
      stem_width: stem conv channels (torchvision: 64).
      groups, width_per_group: ResNeXt cardinality and base width (1, 64 for ResNet).
      stem: "imagenet" | "cifar" | "cifar_pool" (module docstring).
      zero_init_residual: zero-init the last BN gamma of each block (torchvision: off).
      dtype: computation dtype; params are float32.

    Args of ``__call__``: ``x`` (B, H, W, C) float images; ``train`` selects batch
    statistics (and updates ``batch_stats``) vs running averages; ``features`` one of
    None / "stages" / "blocks" / "layers". Returns the (B, D) float32 feature.

    References: He et al. 2016 (Table 1); the MFD paper, section IV (CIFAR stem).
    """

    stage_sizes: Sequence[int] = (2, 2, 2, 2)
    block: str = "basic"
    widths: Sequence[int] = (64, 128, 256, 512)
    stem_width: int = 64
    groups: int = 1
    width_per_group: int = 64
    stem: str = "imagenet"
    zero_init_residual: bool = False
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, features: str | None = None) -> jax.Array:
        check_level(features)
        check_stem(self.stem)
        check_image(x)
        if self.block not in _BLOCKS:
            raise ValueError(f"`block` must be one of {tuple(_BLOCKS)}, got {self.block!r}.")
        if len(self.stage_sizes) != len(self.widths):
            raise ValueError("`stage_sizes` and `widths` must have the same length, got "
                             f"{len(self.stage_sizes)} and {len(self.widths)}.")
        block_cls = _BLOCKS[self.block]
        x = x.astype(self.dtype)
        if self.stem == "imagenet":
            x = ConvBN(self.stem_width, 7, 2, dtype=self.dtype, name="stem")(x, train)
        else:
            x = ConvBN(self.stem_width, 3, 1, dtype=self.dtype, name="stem")(x, train)
        if self.stem in ("imagenet", "cifar_pool"):
            x = max_pool2d(x, 3, 2, 1)
        sow_feature(self, features, "stages", "stage0", x)
        sow_feature(self, features, "layers", "stage0", x)
        for s, (n_blocks, planes) in enumerate(zip(self.stage_sizes, self.widths)):
            for b in range(n_blocks):
                strides = 2 if (s > 0 and b == 0) else 1
                x = block_cls(planes, strides=strides, groups=self.groups,
                              base_width=self.width_per_group,
                              zero_init_residual=self.zero_init_residual, dtype=self.dtype,
                              name=f"stage{s + 1}_block{b:02d}")(
                                  x, train=train, features=features)
            sow_feature(self, features, "stages", f"stage{s + 1}", x)
        return jnp.mean(x.astype(jnp.float32), axis=(1, 2))


def _factory(name: str, *, stage_sizes, block, **defaults):
    """Registers ``name`` as a factory of Classifier(ResNet(...), head)."""

    @register(name)
    def factory(*, num_classes: int, stem: str = "imagenet", head: str = "linear",
                head_kwargs: dict | None = None, dtype: Any = jnp.float32, **options):
        check_stem(stem)
        cfg = dict(defaults)
        cfg.update(options)
        backbone = ResNet(stage_sizes=tuple(stage_sizes), block=block, stem=stem,
                          dtype=dtype, **cfg)
        return build_classifier(backbone, num_classes=num_classes, head=head,
                                head_kwargs=head_kwargs)

    factory.__name__ = name
    factory.__doc__ = (f"``{name}``: ResNet(stage_sizes={tuple(stage_sizes)}, block={block!r}"
                       f"{''.join(f', {k}={v!r}' for k, v in defaults.items())}) + head.\n\n"
                       "Keyword-only: num_classes, stem ('imagenet'|'cifar'|'cifar_pool'), "
                       "head ('linear'|'cosine'|'pod'), head_kwargs, dtype, and any ResNet "
                       "field (e.g. zero_init_residual=True).")
    return factory


# torchvision definitions.
_factory("resnet18", stage_sizes=(2, 2, 2, 2), block="basic")
_factory("resnet34", stage_sizes=(3, 4, 6, 3), block="basic")
_factory("resnet50", stage_sizes=(3, 4, 6, 3), block="bottleneck")
_factory("resnet101", stage_sizes=(3, 4, 23, 3), block="bottleneck")
_factory("resnet152", stage_sizes=(3, 8, 36, 3), block="bottleneck")
_factory("resnext50_32x4d", stage_sizes=(3, 4, 6, 3), block="bottleneck", groups=32,
         width_per_group=4)

# CPU-sized backbone for the default Fashion-MNIST experiment (28x28x1, stem="cifar"):
# ResNet18's layout with one BasicBlock per stage and widths 16/32/64/128 (D = 128).
_factory("resnet_cifar_small", stage_sizes=(1, 1, 1, 1), block="basic",
         widths=(16, 32, 64, 128), stem_width=16)

# Tiny test configurations of the same code.
_factory("resnet_mini", stage_sizes=(1, 1, 1, 1), block="basic", widths=(8, 16, 16, 32),
         stem_width=8)
_factory("resnet_bottleneck_mini", stage_sizes=(1, 1, 1, 1), block="bottleneck",
         widths=(4, 8, 8, 16), stem_width=8)
_factory("resnext_mini", stage_sizes=(1, 1, 1, 1), block="bottleneck", widths=(4, 8, 8, 16),
         stem_width=8, groups=4, width_per_group=16)
