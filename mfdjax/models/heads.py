"""Classification heads and the backbone + head wrapper every registered model uses.

A backbone is a Flax module ``backbone(x, *, train, features=None) -> (B, D)``
(the pooled feature) that sows its intermediate maps (mfdjax.models.common).
A head maps that feature to ``(logits, out)``; :class:`Classifier` glues the two
and always puts the head's input in ``out["pre_logits"]``, so losses that act
on the feature (Center loss, the margin losses, POD, W-Softmax, GDA) find it by
name without knowing the architecture.

Heads:

* ``"linear"``: ``logits = x W + b`` (bias optional), the softmax head.
* ``"cosine"``: ``logits = cos(x, w_j)`` with class weights ``W`` (K, D) stored
  un-normalised and normalised on use; ``out["weights"]`` is the (K, D) unit-row
  matrix for the margin losses and W-Softmax (the W-Softmax paper, section 4 removes the
  FC bias and normalises the weights).
* ``"pod"``: FC1 to a feature of dimension ``n`` (the POD paper, Table III), then a
  fixed, non-trainable layer of PEDCC rows (the POD paper, section 3): the PEDCC
  matrix is a constant built from ``(num_classes, n, seed)``, never a parameter,
  so no optimizer can move it. ``logits = cos(x, p_i)`` (eqs. 21-24: predict by
  the largest cosine), ``out["pre_logits"]`` is FC1's output ``x`` and
  ``out["centroids"]`` the (K, n) PEDCC matrix.

Initialisation of the trainable class weights (the linear head's ``fc`` kernel, the
cosine head's ``weights``, the POD head's FC1 kernel), by name with ``kernel_init=``
(config ``model.head_kwargs.kernel_init``), one of :data:`KERNEL_INITS`:

* ``"lecun_normal"`` (default of every head): Flax's default for a Dense kernel,
  truncated normal of variance ``1 / fan_in``. The MFD and POD configs keep it;
* ``"xavier_uniform"``: Glorot uniform, ``U(-a, a)`` with ``a = sqrt(6 / (fan_in +
  fan_out))``, variance ``2 / (fan_in + fan_out)``: TensorFlow's ``xavier_initializer``,
  which the W-Softmax paper names ("the weights are initialized by xavier initializer",
  section 5.1); the W-Softmax configs (:mod:`mfdjax.configs.w_softmax`) set it.

``fan_in`` is the feature width D and ``fan_out`` the number of outputs (K classes, or
FC1's n) for every head, whatever the layout of the stored matrix.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Classifier", "CosineHead", "LinearHead", "PODHead", "make_head", "HEADS",
           "KERNEL_INITS", "kernel_initializer"]

_EPS = 1e-12

#: Names accepted by the heads' ``kernel_init`` (see the module notes).
KERNEL_INITS = ("lecun_normal", "xavier_uniform")
_INITS = {"lecun_normal": nn.initializers.lecun_normal,
          "xavier_uniform": nn.initializers.xavier_uniform}


def kernel_initializer(kernel_init: str | Callable, *, in_axis: int = -2,
                       out_axis: int = -1) -> Callable:
    """The Flax initializer named ``kernel_init`` for a matrix whose fan-in axis is
    ``in_axis`` and fan-out axis ``out_axis``; a callable is returned unchanged."""
    if callable(kernel_init):
        return kernel_init
    if kernel_init not in _INITS:
        raise ValueError(f"`kernel_init` must be one of {KERNEL_INITS} (or an initializer "
                         f"function), got {kernel_init!r}.")
    return _INITS[kernel_init](in_axis=in_axis, out_axis=out_axis)


def _l2_normalize(x: jax.Array, axis: int = -1) -> jax.Array:
    # x / max(||x||, eps): finite value and gradient at x = 0.
    sq = jnp.sum(jnp.square(x.astype(jnp.float32)), axis=axis, keepdims=True)
    return (x.astype(jnp.float32) * jax.lax.rsqrt(jnp.maximum(sq, _EPS * _EPS)))


class LinearHead(nn.Module):
    """Softmax head: ``logits = x W + b`` (``W`` (D, K) initialised by ``kernel_init``)."""

    num_classes: int
    use_bias: bool = True
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    kernel_init: str | Callable = "lecun_normal"

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, dict]:
        logits = nn.Dense(self.num_classes, use_bias=self.use_bias, dtype=self.dtype,
                          param_dtype=self.param_dtype,
                          kernel_init=kernel_initializer(self.kernel_init),
                          name="fc")(x)
        return logits.astype(jnp.float32), {}


class CosineHead(nn.Module):
    """Normalised head: ``logits[j] = cos(x, w_j)``; returns the unit-row weights (K, D).

    ``weights`` (K, D) is initialised by ``kernel_init`` with fan-in D and fan-out K.
    """

    num_classes: int
    param_dtype: Any = jnp.float32
    kernel_init: str | Callable = "lecun_normal"

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, dict]:
        w = self.param("weights", kernel_initializer(self.kernel_init, in_axis=1, out_axis=0),
                       (self.num_classes, x.shape[-1]), self.param_dtype)
        w_unit = _l2_normalize(w)
        logits = _l2_normalize(x) @ w_unit.T
        return logits, {"weights": w_unit}


class PODHead(nn.Module):
    """FC1 to ``dim`` features, then the fixed PEDCC layer (cosine to each centroid)."""

    num_classes: int
    dim: int
    seed: int = 0
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    kernel_init: str | Callable = "lecun_normal"

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, dict]:
        from mfdjax.pedcc import pedcc

        feat = nn.Dense(self.dim, dtype=self.dtype, param_dtype=self.param_dtype,
                        kernel_init=kernel_initializer(self.kernel_init),
                        name="fc1")(x).astype(jnp.float32)
        centroids = jnp.asarray(np.asarray(pedcc(self.num_classes, self.dim, seed=self.seed)),
                                jnp.float32)
        logits = _l2_normalize(feat) @ centroids.T
        return logits, {"pre_logits": feat, "centroids": centroids}


HEADS = ("linear", "cosine", "pod")


def make_head(head: str, num_classes: int, **kwargs) -> nn.Module:
    """Builds a head by name: "linear" (use_bias=), "cosine", or "pod" (dim=, seed=).

    Every head also takes ``kernel_init=`` (a name of :data:`KERNEL_INITS`, default
    ``"lecun_normal"``) for its trainable class weights (see the module notes).
    """
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"`num_classes` must be an int >= 2, got {num_classes!r}.")
    if "kernel_init" in kwargs:
        kernel_initializer(kwargs["kernel_init"])   # a bad name fails here, not at init
    if head == "linear":
        return LinearHead(num_classes=num_classes, **kwargs)
    if head == "cosine":
        return CosineHead(num_classes=num_classes, **kwargs)
    if head == "pod":
        if "dim" not in kwargs:
            raise ValueError("head='pod' needs `dim`, the PEDCC feature dimension n "
                             "(the POD paper, Table III: 256 for CIFAR-10, 512 for CIFAR-100).")
        return PODHead(num_classes=num_classes, **kwargs)
    raise ValueError(f"`head` must be one of {HEADS}, got {head!r}.")


class Classifier(nn.Module):
    """``backbone`` (sows features, returns (B, D)) followed by ``head``.

    ``__call__(x, *, train, features=None) -> (logits, out)`` with
    ``out["pre_logits"]`` the head's input feature (for the POD head, FC1's output).
    """

    backbone: nn.Module
    head: nn.Module

    def __call__(self, x: jax.Array, *, train: bool = False,
                 features: str | None = None) -> tuple[jax.Array, dict]:
        feat = self.backbone(x, train=train, features=features)
        logits, extra = self.head(feat)
        out = {"pre_logits": feat}
        out.update(extra)
        return logits, out
