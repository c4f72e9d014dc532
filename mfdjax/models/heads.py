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
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Classifier", "CosineHead", "LinearHead", "PODHead", "make_head", "HEADS"]

_EPS = 1e-12


def _l2_normalize(x: jax.Array, axis: int = -1) -> jax.Array:
    # x / max(||x||, eps): finite value and gradient at x = 0.
    sq = jnp.sum(jnp.square(x.astype(jnp.float32)), axis=axis, keepdims=True)
    return (x.astype(jnp.float32) * jax.lax.rsqrt(jnp.maximum(sq, _EPS * _EPS)))


class LinearHead(nn.Module):
    """Softmax head: ``logits = x W + b``."""

    num_classes: int
    use_bias: bool = True
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    kernel_init: Callable = nn.linear.default_kernel_init

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, dict]:
        logits = nn.Dense(self.num_classes, use_bias=self.use_bias, dtype=self.dtype,
                          param_dtype=self.param_dtype, kernel_init=self.kernel_init,
                          name="fc")(x)
        return logits.astype(jnp.float32), {}


class CosineHead(nn.Module):
    """Normalised head: ``logits[j] = cos(x, w_j)``; returns the unit-row weights (K, D)."""

    num_classes: int
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, dict]:
        w = self.param("weights", nn.initializers.lecun_normal(in_axis=1, out_axis=0),
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

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, dict]:
        from mfdjax.losses.pod import pedcc  # local import: models must not need losses at import

        feat = nn.Dense(self.dim, dtype=self.dtype, param_dtype=self.param_dtype,
                        name="fc1")(x).astype(jnp.float32)
        centroids = jnp.asarray(np.asarray(pedcc(self.num_classes, self.dim, seed=self.seed)),
                                jnp.float32)
        logits = _l2_normalize(feat) @ centroids.T
        return logits, {"pre_logits": feat, "centroids": centroids}


HEADS = ("linear", "cosine", "pod")


def make_head(head: str, num_classes: int, **kwargs) -> nn.Module:
    """Builds a head by name: "linear" (use_bias=), "cosine", or "pod" (dim=, seed=)."""
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"`num_classes` must be an int >= 2, got {num_classes!r}.")
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
