"""DenseNet121 (torchvision definition) that sows its features.

Architecture: Huang et al., "Densely Connected Convolutional Networks" (CVPR 2017),
DenseNet-BC as torchvision builds it: growth rate 32, blocks (6, 12, 24, 16), 64 stem
features, bottleneck width ``bn_size * growth = 128``, compression 0.5, no dropout;
each dense layer is BN-ReLU-conv1x1-BN-ReLU-conv3x3 and its ``growth`` new maps are
concatenated to its input; a transition is BN-ReLU-conv1x1-avgpool2; the network ends
with BN + ReLU + global average pool (D = 1024). Conv kernels: kaiming-normal fan-in
(torchvision's ``nn.init.kaiming_normal_`` default). With ``stem="imagenet"`` and the
1000-class linear head: 7,978,856 trainable parameters, as torchvision.

Stem (``stem=``), the ResNet analogue (the MFD paper, section IV changes the first conv
of DenseNet121 like ResNet50's):

* ``"imagenet"``: 7x7 stride-2 conv + BN + ReLU + 3x3 stride-2 max-pool;
* ``"cifar"``: 3x3 stride-1 conv + BN + ReLU, no max-pool;
* ``"cifar_pool"``: the 3x3 stride-1 conv + BN + ReLU + the max-pool.

Sown features (names under the backbone's scope; they sort in network order):

* ``"stages"`` (5 maps, by feature-map size, the MFD paper, section IV-C):
  ``stage0`` = stem output (after the max-pool when there is one; 64 channels);
  stages 1-3 = the BN+ReLU map of dense block k's full output (the transition's first
  activation, at the block's resolution: 256, 512, 1024 channels), sown as
  ``stage{k}_transition/act``; stage 4 = the final BN+ReLU map (``stage4_out``, 1024
  channels, the map that is pooled).
* ``"blocks"`` (58 maps for DenseNet121): every dense layer's output, i.e. its ``growth``
  new channels, ``stage{k}_layer{ii}/out``.
* ``"layers"`` (1 + 2 * 58 + 3 + 1 = 121 maps): the stem output, each dense layer's two
  post-activation maps (``act1`` = BN+ReLU of its concatenated input, ``act2`` = BN+ReLU
  of its 1x1 bottleneck), each transition's BN+ReLU, and the final BN+ReLU.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mfdjax.models.common import check_level, sow_feature
from mfdjax.models.registry import register
from mfdjax.models.layers import Conv2D, build_classifier, check_image, check_stem, max_pool2d

__all__ = ["DenseLayer", "DenseNet", "Transition"]

# torchvision densenet: nn.init.kaiming_normal_(w) (fan_in, gain sqrt(2)).
_conv_init = nn.initializers.variance_scaling(2.0, "fan_in", "normal")


def _bn(train: bool, dtype: Any, name: str) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                        dtype=dtype, param_dtype=jnp.float32, name=name)


def _conv(features: int, kernel: int, dtype: Any, name: str, strides: int = 1) -> Conv2D:
    return Conv2D(features, kernel, strides=strides, padding=kernel // 2, dtype=dtype,
                  param_dtype=jnp.float32, kernel_init=_conv_init, name=name)


class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1(bn_size*growth)-BN-ReLU-conv3x3(growth); returns the ``growth`` new maps."""

    growth: int
    bn_size: int = 4
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, features: str | None = None) -> jax.Array:
        y = nn.relu(_bn(train, self.dtype, "norm1")(x))
        sow_feature(self, features, "layers", "act1", y)
        y = _conv(self.bn_size * self.growth, 1, self.dtype, "conv1")(y)
        y = nn.relu(_bn(train, self.dtype, "norm2")(y))
        sow_feature(self, features, "layers", "act2", y)
        y = _conv(self.growth, 3, self.dtype, "conv2")(y)
        sow_feature(self, features, "blocks", "out", y)
        return y


class Transition(nn.Module):
    """BN-ReLU-conv1x1(features)-avgpool 2x2/2; sows the BN+ReLU map (a stage end)."""

    features_out: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, features: str | None = None) -> jax.Array:
        y = nn.relu(_bn(train, self.dtype, "norm")(x))
        sow_feature(self, features, "stages", "act", y)
        sow_feature(self, features, "layers", "act", y)
        y = _conv(self.features_out, 1, self.dtype, "conv")(y)
        return nn.avg_pool(y, (2, 2), strides=(2, 2))


class DenseNet(nn.Module):
    """DenseNet-BC backbone: ``__call__(x, *, train, features=None) -> (B, D)``.

    Dense connectivity (Huang et al. 2017, eq. 2):
    :math:`x_\\ell = H_\\ell([x_0, x_1, \\ldots, x_{\\ell-1}])`, with :math:`H_\\ell` the
    BN-ReLU-Conv(1x1)-BN-ReLU-Conv(3x3) bottleneck; the pooled feature is
    :math:`f = \\frac{1}{HW}\\sum_{h,w} \\mathrm{ReLU}(\\mathrm{BN}(A))[:, h, w, :]`,
    ``D = (num_init_features + ...)`` = 1024 for DenseNet121.

    Attributes:
      growth_rate: new channels per dense layer (32).
      block_config: dense layers per block ((6, 12, 24, 16) for DenseNet121).
      num_init_features: stem channels (64).
      bn_size: bottleneck multiplier (4).
      compression: transition channel factor (0.5, torchvision's ``// 2``).
      stem: "imagenet" | "cifar" | "cifar_pool".
      dtype: computation dtype; params float32.

    ``x`` is (B, H, W, C) float; returns the (B, D) float32 feature.
    References: Huang et al. 2017 Table 1; the MFD paper, section IV.
    """

    growth_rate: int = 32
    block_config: Sequence[int] = (6, 12, 24, 16)
    num_init_features: int = 64
    bn_size: int = 4
    compression: float = 0.5
    stem: str = "imagenet"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, features: str | None = None) -> jax.Array:
        check_level(features)
        check_stem(self.stem)
        check_image(x)
        if len(self.block_config) != 4:
            raise ValueError("`block_config` must have 4 entries (the five-stage split needs "
                             f"4 dense blocks), got {tuple(self.block_config)}.")
        x = x.astype(self.dtype)
        if self.stem == "imagenet":
            x = _conv(self.num_init_features, 7, self.dtype, "stem_conv", strides=2)(x)
        else:
            x = _conv(self.num_init_features, 3, self.dtype, "stem_conv")(x)
        x = nn.relu(_bn(train, self.dtype, "stem_norm")(x))
        if self.stem in ("imagenet", "cifar_pool"):
            x = max_pool2d(x, 3, 2, 1)
        sow_feature(self, features, "stages", "stage0", x)
        sow_feature(self, features, "layers", "stage0", x)
        for k, n_layers in enumerate(self.block_config, start=1):
            for i in range(n_layers):
                new = DenseLayer(self.growth_rate, self.bn_size, dtype=self.dtype,
                                 name=f"stage{k}_layer{i:02d}")(x, train=train, features=features)
                x = jnp.concatenate([x, new], axis=-1)
            if k < len(self.block_config):
                x = Transition(int(x.shape[-1] * self.compression), dtype=self.dtype,
                               name=f"stage{k}_transition")(x, train=train, features=features)
        x = nn.relu(_bn(train, self.dtype, "stage4_norm")(x))
        sow_feature(self, features, "stages", "stage4_out", x)
        sow_feature(self, features, "layers", "stage4_out", x)
        return jnp.mean(x.astype(jnp.float32), axis=(1, 2))


def _factory(name: str, **defaults):
    @register(name)
    def factory(*, num_classes: int, stem: str = "imagenet", head: str = "linear",
                head_kwargs: dict | None = None, dtype: Any = jnp.float32, **options):
        check_stem(stem)
        cfg = dict(defaults)
        cfg.update(options)
        return build_classifier(DenseNet(stem=stem, dtype=dtype, **cfg), num_classes=num_classes,
                                head=head, head_kwargs=head_kwargs)

    factory.__name__ = name
    fields = ", ".join(f"{k}={v!r}" for k, v in defaults.items())
    factory.__doc__ = (f"``{name}``: DenseNet({fields})"
                       " + head. Keyword-only: num_classes, stem, head, head_kwargs, dtype, "
                       "and any DenseNet field.")
    return factory


_factory("densenet121", growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64)
_factory("densenet_mini", growth_rate=4, block_config=(2, 2, 2, 2), num_init_features=8,
         bn_size=2)
