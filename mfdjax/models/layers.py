"""Building blocks shared by the CNN families: conv+BN, stem names, input checks.

One place for what ResNet/ResNeXt, DenseNet, MobileNetV2 and the L-Softmax CNN
have in common, so no family imports another.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from mfdjax.models.heads import Classifier, make_head

__all__ = ["STEMS", "ConvBN", "build_classifier", "check_image", "check_stem",
           "conv_kernel_init", "relu6"]


def relu6(x: jax.Array) -> jax.Array:
    """min(max(x, 0), 6) (MobileNetV2's activation)."""
    return jnp.clip(x, 0, 6)


STEMS = ("imagenet", "cifar", "cifar_pool")

# torchvision: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu").
conv_kernel_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def check_stem(stem: str) -> None:
    """Raises a ValueError unless ``stem`` is one of :data:`STEMS`."""
    if stem not in STEMS:
        raise ValueError(f"`stem` must be one of {STEMS}, got {stem!r}.")


def check_image(x: jax.Array) -> None:
    """Images must be a floating NHWC batch (B, H, W, C)."""
    if getattr(x, "ndim", None) != 4:
        raise ValueError(
            f"`x` must be an NHWC image batch of shape (B, H, W, C), got shape "
            f"{getattr(x, 'shape', None)}; add a batch or channel axis.")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f"`x` must be floating (got {x.dtype}); cast the images, "
                         "e.g. x.astype(jnp.float32) / 255.")


def build_classifier(backbone: nn.Module, *, num_classes: int, head: str,
                     head_kwargs: dict | None) -> Classifier:
    """``Classifier(backbone, make_head(head, num_classes, **head_kwargs))``."""
    return Classifier(backbone=backbone, head=make_head(head, num_classes, **(head_kwargs or {})))


class ConvBN(nn.Module):
    """conv (no bias) + BatchNorm (+ ``activation`` when ``act``), torchvision padding.

    ResNet/ResNeXt use it with ReLU, MobileNetV2 with ReLU6."""

    features: int
    kernel: int
    strides: int = 1
    groups: int = 1
    act: bool = True
    zero_gamma: bool = False
    dtype: Any = jnp.float32
    bn_momentum: float = 0.9
    bn_eps: float = 1e-5
    activation: Callable[[jax.Array], jax.Array] = nn.relu

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        pad = self.kernel // 2
        x = nn.Conv(self.features, (self.kernel, self.kernel), strides=self.strides,
                    padding=((pad, pad), (pad, pad)), feature_group_count=self.groups,
                    use_bias=False, dtype=self.dtype, param_dtype=jnp.float32,
                    kernel_init=conv_kernel_init, name="conv")(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                         epsilon=self.bn_eps, dtype=self.dtype, param_dtype=jnp.float32,
                         scale_init=(nn.initializers.zeros if self.zero_gamma
                                     else nn.initializers.ones), name="bn")(x)
        return self.activation(x) if self.act else x
