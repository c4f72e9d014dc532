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


# --- 2-D convolution and max-pool, with CPU formulations of their gradients ----------
#
# XLA:CPU is slow at three things the CNNs here need, so on the CPU backend the package
# writes them another way (same values, the same maths; measurements and the rule for
# each in benchmarks/README.md):
#
# * A convolution's kernel gradient: XLA:CPU computes it with another convolution whose
#   window is the whole feature map (batch and channels swapped, both operands
#   transposed). For 1x1 kernels ``conv2d`` keeps XLA's convolution for the output and
#   the input gradient and gives the kernel's tangent as an einsum, so the reverse pass
#   gets one dot_general over all positions (a custom JVP, not a VJP, so forward mode
#   and every transformation still work).
# * Convolutions on small maps (at most 16 output positions, e.g. the 4x4 and 2x2 stages
#   of a CIFAR-sized network): XLA:CPU's library convolutions run these, and above all
#   their input gradients, at a few GFLOP/s. ``conv2d`` writes them as one im2col matrix product (the k*k shifted
#   slices side by side, contracted with the kernel reshaped to (k*k*Cin, Cout)); plain
#   jnp, so autodiff gives a dot for the kernel gradient and a dot plus padded adds for
#   the input gradient.
# * A max-pool's gradient: XLA:CPU differentiates a reduce-window max through an
#   index-tracking reduce-window plus a scatter. ``max_pool2d`` takes the maximum of
#   separable strided slices and gives its tangent through the index of each window's
#   first maximum (a custom JVP), whose transpose is a few fused selects and pads.

_CONV_IMPLS = ("auto", "xla", "dot", "matmul")
_conv_impl_override: list[str] = []
# On the CPU, a convolution with at most this many output positions per image is one
# im2col matmul (16: the 4x4 and 2x2 stages of CIFAR-sized networks; measured per layer
# and per step, benchmarks/README.md).
IM2COL_MAX_POSITIONS = 16


@contextlib.contextmanager
def conv_impl(impl: str) -> Iterator[None]:
    """Within the block, models trace their convolutions and max-pools with ``impl``.

    ``"auto"`` (the default outside any block): ``"matmul"`` on the CPU backend,
    ``"xla"`` elsewhere (cuDNN's convolutions and their gradients are fast);
    ``"xla"``: XLA's convolution and ``flax.linen.max_pool`` everywhere;
    ``"dot"``: the 1x1 kernel tangent as an einsum and the max-pool as a chain of
    slice maxima (the CPU formulation of mfdjax 0.1.0, kept so that benchmarks can set
    it beside the current one); ``"matmul"``: the 1x1 kernel tangent as an einsum,
    convolutions with at most :data:`IM2COL_MAX_POSITIONS` output positions as one
    im2col matmul, and the max-pool
    with a first-maximum tangent. Decided at trace time, so wrap the first call of a
    jitted function (its compile), e.g. to benchmark both."""
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
        return "matmul" if jax.default_backend() == "cpu" else "xla"
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


def _out_size(size: int, k: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - k) // stride + 1


def _window(xp, i: int, j: int, stride: int, ho: int, wo: int):
    """The (ho, wo) strided slice of ``xp`` that starts at row ``i``, column ``j``."""
    n, c = xp.shape[0], xp.shape[-1]
    return lax.slice(xp, (0, i, j, 0), (n, i + stride * (ho - 1) + 1,
                                        j + stride * (wo - 1) + 1, c), (1, stride, stride, 1))


def _conv_im2col(x, w, stride: int, pad: int):
    """The convolution as one matrix product over (k*k*Cin) patches (ungrouped)."""
    kh, kw, cin, cout = w.shape
    ho, wo = _out_size(x.shape[1], kh, stride, pad), _out_size(x.shape[2], kw, stride, pad)
    xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0))) if pad else x
    patches = jnp.concatenate([_window(xp, i, j, stride, ho, wo)
                               for i in range(kh) for j in range(kw)], axis=-1)
    return jnp.einsum("nhwk,ko->nhwo", patches, w.reshape(kh * kw * cin, cout))


def _use_im2col(x, w, stride: int, pad: int) -> bool:
    kh, kw = w.shape[:2]
    positions = _out_size(x.shape[1], kh, stride, pad) * _out_size(x.shape[2], kw, stride, pad)
    return positions <= IM2COL_MAX_POSITIONS


def conv2d(x: jax.Array, w: jax.Array, *, stride: int = 1, pad: int = 0,
           groups: int = 1) -> jax.Array:
    """NHWC x HWIO convolution, symmetric zero padding ``pad``; the values of
    ``lax.conv_general_dilated``. On the CPU, 1x1 ungrouped kernels differentiate their
    kernel with a matrix product and ungrouped convolutions on small maps are one im2col
    matrix product (see :func:`conv_impl`)."""
    impl = _resolve_impl()
    if impl == "xla" or groups != 1:
        return _xla_conv(x, w, stride, pad, groups)
    if w.shape[0] == w.shape[1] == 1 and pad == 0:
        return _conv1x1(x, w, stride)
    if impl == "matmul" and _use_im2col(x, w, stride, pad):
        return _conv_im2col(x, w, stride, pad)
    return _xla_conv(x, w, stride, pad, groups)


def _pool_forward(x, window: int, stride: int, pad: int):
    """(-inf padded input, max-pool) with the maximum taken rows first, then columns."""
    ho, wo = _out_size(x.shape[1], window, stride, pad), _out_size(x.shape[2], window, stride, pad)
    xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=-jnp.inf) \
        if pad else x
    n, _, wp, c = xp.shape
    rows = functools.reduce(jnp.maximum, [
        lax.slice(xp, (0, i, 0, 0), (n, i + stride * (ho - 1) + 1, wp, c), (1, stride, 1, 1))
        for i in range(window)])
    y = functools.reduce(jnp.maximum, [
        lax.slice(rows, (0, 0, j, 0), (n, ho, j + stride * (wo - 1) + 1, c), (1, 1, stride, 1))
        for j in range(window)])
    return xp, y


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3))
def _max_pool_first(x, window: int, stride: int, pad: int):
    return _pool_forward(x, window, stride, pad)[1]


@_max_pool_first.defjvp
def _max_pool_first_jvp(window, stride, pad, primals, tangents):
    (x,), (dx,) = primals, tangents
    xp, y = _pool_forward(x, window, stride, pad)
    ho, wo = y.shape[1:3]
    # Index (row-major within the window) of each window's first maximum, as XLA's
    # select-and-scatter picks it; a window of -inf padding only takes index k*k (none).
    first = jnp.full(y.shape, window * window, jnp.int8)
    for i in reversed(range(window)):
        for j in reversed(range(window)):
            first = jnp.where(_window(xp, i, j, stride, ho, wo) == y,
                              jnp.int8(i * window + j), first)
    first = lax.stop_gradient(first)
    dxp = jnp.pad(dx, ((0, 0), (pad, pad), (pad, pad), (0, 0))) if pad else dx
    zero = jnp.zeros((), dx.dtype)
    tangent = functools.reduce(jnp.add, [
        jnp.where(first == i * window + j, _window(dxp, i, j, stride, ho, wo), zero)
        for i in range(window) for j in range(window)])
    return y, tangent


def _max_pool_chain(x, window: int, stride: int, pad: int):
    ho, wo = _out_size(x.shape[1], window, stride, pad), _out_size(x.shape[2], window, stride, pad)
    if pad:
        x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=-jnp.inf)
    return functools.reduce(jnp.maximum, [_window(x, i, j, stride, ho, wo)
                                          for i in range(window) for j in range(window)])


def max_pool2d(x: jax.Array, window: int, stride: int, pad: int = 0) -> jax.Array:
    """Max-pool of an NHWC batch (square window, symmetric -inf padding), the values of
    ``flax.linen.max_pool``.

    On the CPU (``"matmul"``, see :func:`conv_impl`) the gradient goes to each window's
    first maximum in row-major order, exactly as XLA's (and PyTorch's) max-pool
    gradient, computed with selects instead of XLA:CPU's scatter. Under ``"dot"`` (the
    0.1.0 formulation) tied maxima split their gradient between them.
    """
    impl = _resolve_impl()
    if impl == "xla":
        return nn.max_pool(x, (window, window), strides=(stride, stride),
                           padding=((pad, pad), (pad, pad)))
    if impl == "dot":
        return _max_pool_chain(x, window, stride, pad)
    return _max_pool_first(x, window, stride, pad)


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
