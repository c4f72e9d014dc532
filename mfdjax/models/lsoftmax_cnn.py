"""The CNN of the L-Softmax paper, the backbone of the W-Softmax experiments.

Architecture: Liu et al., "Large-Margin Softmax Loss for Convolutional Neural Networks"
(ICML 2016), Table 1, with the W-Softmax paper's choices (its section 4,
"CNN Setup"): every conv has stride 1 and is followed by PReLU, then BatchNorm
("Batch normalization is used after PReLU"); no dropout; xavier (Glorot-uniform) init.

``config="mnist"`` (28x28x1)::

    conv1.x [3x3, 64] x 3, max-pool 2x2/2, conv2.x [3x3, 64] x 3, max-pool,
    conv3.x [3x3, 64] x 3, max-pool, FC 256

``config="cifar"`` (32x32x3)::

    conv0.x [3x3, 64] x 1, conv1.x [3x3, 64] x 4, max-pool 2x2/2,
    conv2.x [3x3, 96] x 4, max-pool, conv3.x [3x3, 128] x 4, max-pool, FC 256

The W-Softmax paper does not print the table; it is transcribed from the L-Softmax paper
(``conv0.x`` is "N/A" for MNIST there). Convs use padding 1, pools are 'VALID' (28 -> 14
-> 7 -> 3). Decision where both papers are silent: the FC 256 layer is followed by PReLU
(``fc_activation=True``, like every other hidden layer) and no BN; its output is the
(B, 256) feature handed to the head (the W-Softmax / L-Softmax layer).

There is one layout per ``config``: no ImageNet stem. The factory accepts ``stem=None``
or ``"cifar"`` (the layout already starts with a stride-1 3x3 conv) and rejects the rest.

Sown features (names sort in network order):

* ``"stages"``: each conv unit's output (after its last conv+PReLU+BN, before the pool),
  ``conv{k}/out``, then the FC feature ``fc_out`` (B, 256): 5 maps for "cifar"
  (conv0..conv3 + FC), 4 for "mnist" (conv1..conv3 + FC).
* ``"blocks"``: each conv unit's output (4 for "cifar", 3 for "mnist").
* ``"layers"``: every conv layer's PReLU+BN output ``conv{k}/layer{i}/out``, then the FC
  feature: 13 + 1 = 14 for "cifar", 9 + 1 = 10 for "mnist".
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mfdjax.models.common import check_level, sow_feature
from mfdjax.models.registry import register
from mfdjax.models.layers import build_classifier, check_image, max_pool2d

__all__ = ["CONFIGS", "LSoftmaxCNN", "PReLU"]

# (conv0, conv1, conv2, conv3) units as (channels, number of convs); None = absent.
CONFIGS = {
    "mnist": (None, (64, 3), (64, 3), (64, 3)),
    "cifar": ((64, 1), (64, 4), (96, 4), (128, 4)),
}
_xavier = nn.initializers.xavier_uniform()


class PReLU(nn.Module):
    """Channel-wise PReLU :math:`f(x) = \\max(x, 0) + a_c \\min(x, 0)`, a_c init 0.25.

    He et al. 2015 (as Caffe's PReLU layer, channel_shared=false).
    """

    init: float = 0.25

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        a = self.param("alpha", nn.initializers.constant(self.init), (x.shape[-1],), jnp.float32)
        return jnp.where(x >= 0, x, a.astype(x.dtype) * x)


class _ConvPReLUBN(nn.Module):
    features: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, features: str | None = None) -> jax.Array:
        x = nn.Conv(self.features, (3, 3), padding=((1, 1), (1, 1)), dtype=self.dtype,
                    param_dtype=jnp.float32, kernel_init=_xavier, name="conv")(x)
        x = PReLU(name="prelu")(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                         dtype=self.dtype, param_dtype=jnp.float32, name="bn")(x)
        sow_feature(self, features, "layers", "out", x)
        return x


class _ConvUnit(nn.Module):
    features: int
    n_convs: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, features: str | None = None) -> jax.Array:
        for i in range(self.n_convs):
            x = _ConvPReLUBN(self.features, dtype=self.dtype, name=f"layer{i}")(
                x, train=train, features=features)
        sow_feature(self, features, "blocks", "out", x)
        sow_feature(self, features, "stages", "out", x)
        return x


class LSoftmaxCNN(nn.Module):
    """L-Softmax-paper CNN backbone: ``__call__(x, *, train, features=None) -> (B, fc_dim)``.

    Each layer computes :math:`\\mathrm{BN}(\\mathrm{PReLU}(W * x + b))`; the feature is
    :math:`f = \\mathrm{PReLU}(W_{fc}\\,\\mathrm{vec}(A_3) + b_{fc})` of dimension ``fc_dim``.

    Attributes:
      config: "mnist" | "cifar" (Liu et al. 2016 Table 1), or
      units: explicit (conv0, conv1, conv2, conv3) as (channels, n_convs) or None;
        overrides ``config``.
      fc_dim: FC width (256).
      fc_activation: PReLU after the FC layer (True).
      dtype: computation dtype; params float32.

    ``x`` is (B, H, W, C) float; returns the (B, fc_dim) float32 feature.
    References: Liu et al. 2016 (ICML) Table 1; the W-Softmax paper, section 4.
    """

    config: str = "cifar"
    units: Sequence[Any] | None = None
    fc_dim: int = 256
    fc_activation: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, features: str | None = None) -> jax.Array:
        check_level(features)
        check_image(x)
        if self.units is None and self.config not in CONFIGS:
            raise ValueError(f"`config` must be one of {tuple(CONFIGS)}, got {self.config!r}.")
        units = self.units if self.units is not None else CONFIGS[self.config]
        if len(units) != 4:
            raise ValueError(f"`units` must have 4 entries (conv0..conv3), got {len(units)}.")
        x = x.astype(self.dtype)
        for k, unit in enumerate(units):
            if unit is None:
                continue
            ch, n = unit
            x = _ConvUnit(ch, n, dtype=self.dtype, name=f"conv{k}")(x, train=train,
                                                                    features=features)
            if k > 0:
                x = max_pool2d(x, 2, 2)
        x = x.reshape(x.shape[0], -1)
        x = nn.Dense(self.fc_dim, dtype=self.dtype, param_dtype=jnp.float32,
                     kernel_init=_xavier, name="fc")(x)
        if self.fc_activation:
            x = PReLU(name="fc_prelu")(x)
        x = x.astype(jnp.float32)
        sow_feature(self, features, "stages", "fc_out", x)
        sow_feature(self, features, "layers", "fc_out", x)
        return x


def _check_stem(stem):
    if stem not in (None, "cifar"):
        raise ValueError("the L-Softmax CNN has a single stride-1 layout per `config`: pass "
                         f"stem=None or 'cifar', got {stem!r}.")


def _factory(name: str, **defaults):
    @register(name)
    def factory(*, num_classes: int, stem: str | None = None, head: str = "linear",
                head_kwargs: dict | None = None, dtype: Any = jnp.float32, **options):
        _check_stem(stem)
        cfg = dict(defaults)
        cfg.update(options)
        return build_classifier(LSoftmaxCNN(dtype=dtype, **cfg), num_classes=num_classes,
                                head=head, head_kwargs=head_kwargs)

    factory.__name__ = name
    fields = ", ".join(f"{k}={v!r}" for k, v in defaults.items())
    factory.__doc__ = (f"``{name}``: LSoftmaxCNN({fields})"
                       " + head. Keyword-only: num_classes, config ('mnist'|'cifar'), stem "
                       "(None|'cifar'), head, head_kwargs, dtype, fc_dim, fc_activation.")
    return factory


_factory("lsoftmax_cnn", config="cifar")
_factory("lsoftmax_cnn_mini", units=((8, 1), (8, 1), (8, 1), (16, 1)), fc_dim=16)
