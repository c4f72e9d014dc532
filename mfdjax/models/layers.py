"""Building blocks shared by the CNN families: conv+BN, stem names, input checks.

One place for what ResNet/ResNeXt, DenseNet, MobileNetV2 and the L-Softmax CNN
have in common, so no family imports another.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterator

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from mfdjax.models.heads import Classifier, make_head

__all__ = ["STEMS", "Conv2D", "ConvBN", "build_classifier", "check_image", "check_stem",
           "conv2d", "conv_impl", "max_pool2d",
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


# --- 2-D convolution whose 1x1 weight gradient is a matrix product -------------------
#
# XLA:CPU differentiates a convolution's kernel with another convolution whose window is
# the whole feature map (batch and channels swapped, both operands transposed first).
# For the 1x1 convolutions that make up two thirds of a ResNet50 bottleneck that path
# ran at ~15 GFLOP/s on the 2-core CPU and, with its transposes, took over half of the
# training step, while the same product as one matrix multiply (positions contracted)
# runs at the BLAS rate. ``conv2d`` keeps XLA's convolution for the output and for the
# input gradient and, for 1x1 kernels, gives the kernel's tangent as an einsum, so the
# reverse pass gets a dot_general. A custom JVP (not a VJP), so forward mode, jvp-of-grad
# and every transformation still work. Measurements: BUILD_NOTES.md, section 14.

_CONV_IMPLS = ("auto", "xla", "dot")
_conv_impl_override: list[str] = []


@contextlib.contextmanager
def conv_impl(impl: str) -> Iterator[None]:
    """Within the block, models trace their 1x1 convolutions with ``impl``.

    ``"auto"`` (the default outside any block): the einsum kernel tangent on the CPU
    backend, XLA's convolution elsewhere (cuDNN's weight gradient is fast); ``"xla"``:
    always XLA's; ``"dot"``: always the einsum. The same switch picks the max-pool
    formulation of :func:`max_pool2d`. Decided at trace time, so wrap the first call of
    a jitted function (its compile), e.g. to benchmark both."""
    if impl not in _CONV_IMPLS:
        raise ValueError(f"`impl` must be one of {_CONV_IMPLS}, got {impl!r}.")
    _conv_impl_override.append(impl)
    try:
        yield
    finally:
        _conv_impl_override.pop()


def _resolve_impl() -> str:
    impl = _conv_impl_override[-1] if _conv_impl_override else "auto"
    if impl == "auto":
        return "dot" if jax.default_backend() == "cpu" else "xla"
    return impl


def _xla_conv(x, w, stride: int, pad: int, groups: int):
    return lax.conv_general_dilated(x, w, (stride, stride), ((pad, pad), (pad, pad)),
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                    feature_group_count=groups)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _conv1x1(x, w, stride: int):
    return _xla_conv(x, w, stride, 0, 1)


@_conv1x1.defjvp
def _conv1x1_jvp(stride, primals, tangents):
    x, w = primals
    dx, dw = tangents
    xs = x[:, ::stride, ::stride, :] if stride > 1 else x
    tangent = (_xla_conv(dx, w, stride, 0, 1)
               + jnp.einsum("nhwc,cd->nhwd", xs, dw[0, 0]).astype(x.dtype))
    return _conv1x1(x, w, stride), tangent


def conv2d(x: jax.Array, w: jax.Array, *, stride: int = 1, pad: int = 0,
           groups: int = 1) -> jax.Array:
    """NHWC x HWIO convolution, symmetric zero padding ``pad``; same values as
    ``lax.conv_general_dilated``. 1x1 ungrouped kernels differentiate their kernel with
    a matrix product (see :func:`conv_impl`)."""
    if (w.shape[0] == w.shape[1] == 1 and pad == 0 and groups == 1
            and _resolve_impl() == "dot"):
        return _conv1x1(x, w, stride)
    return _xla_conv(x, w, stride, pad, groups)


def max_pool2d(x: jax.Array, window: int, stride: int, pad: int = 0) -> jax.Array:
    """Max-pool of an NHWC batch (square window, symmetric -inf padding), the values of
    ``flax.linen.max_pool``.

    On the CPU (see :func:`conv_impl`) it is the maximum of the ``window**2`` strided
    slices: XLA:CPU lowers the gradient of a reduce-window max to an index-tracking
    reduce-window over four int32 iotas of the padded input plus a scatter; the slice
    chain differentiates into fused selects (with the 1x1 change, 0.94x of the default
    Fashion-MNIST step). The two agree except where a window holds tied maxima: there
    the chain splits the gradient between the tied entries, XLA's (and PyTorch's) gives
    it to one.
    """
    if _resolve_impl() == "xla":
        return nn.max_pool(x, (window, window), strides=(stride, stride),
                           padding=((pad, pad), (pad, pad)))
    n, h, w, c = x.shape
    ho, wo = (h + 2 * pad - window) // stride + 1, (w + 2 * pad - window) // stride + 1
    if pad:
        x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=-jnp.inf)
    out = None
    for i in range(window):
        for j in range(window):
            part = lax.slice(x, (0, i, j, 0), (n, i + stride * (ho - 1) + 1,
                                               j + stride * (wo - 1) + 1, c),
                             (1, stride, stride, 1))
            out = part if out is None else jnp.maximum(out, part)
    return out


class Conv2D(nn.Module):
    """``nn.Conv`` for square kernels, no bias, symmetric padding: the same parameter
    (``kernel``, HWIO) and values, computed by :func:`conv2d`."""

    features: int
    kernel: int
    strides: int = 1
    padding: int = 0
    groups: int = 1
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    kernel_init: Callable = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        cin = x.shape[-1]
        if cin % self.groups:
            raise ValueError(f"input channels {cin} not divisible by `groups`={self.groups}.")
        w = self.param("kernel", self.kernel_init,
                       (self.kernel, self.kernel, cin // self.groups, self.features),
                       self.param_dtype)
        x, w = nn.dtypes.promote_dtype(x, w, dtype=self.dtype)
        return conv2d(x, w, stride=self.strides, pad=self.padding, groups=self.groups)


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
        x = Conv2D(self.features, self.kernel, strides=self.strides, padding=pad,
                   groups=self.groups, dtype=self.dtype, param_dtype=jnp.float32,
                   kernel_init=conv_kernel_init, name="conv")(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                         epsilon=self.bn_eps, dtype=self.dtype, param_dtype=jnp.float32,
                         scale_init=(nn.initializers.zeros if self.zero_gamma
                                     else nn.initializers.ones), name="bn")(x)
        return self.activation(x) if self.act else x
