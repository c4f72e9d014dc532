"""Numerical helpers shared by the loss families: safe normalisation and label guards.

**Safe normalisation.** A loss that divides by a norm, ``x / (||x|| + eps)``, has a
gradient of order ``1 / (||x|| + eps)``: with the papers' ``eps = 1e-12`` an
all-zero feature row (a dead sample after ReLU and pooling) gets gradients of
1e11-1e12, which become ``inf`` in float16. :func:`normalize_rows` keeps every
paper's formula for the *values* (``eps`` included) but freezes a row whose norm is
at most :func:`norm_floor` (``sqrt(eps)`` of the compute dtype: 3.5e-4 in float32,
1.5e-8 in float64): its normalised value is the paper's, its gradient is exactly 0.
Above the floor the gradient is the exact one, at most ``1 / floor`` times the
loss's sensitivity to the direction. Norms are computed on rows divided by their
largest entry, so no finite row overflows in its square (float32 rows of 1e20).

**Labels out of range.** Concrete labels outside ``[0, K)`` raise a ValueError
(``_checks.check_labels``). Traced labels (under ``jax.jit``) cannot be checked, so
every loss follows one rule, :data:`INVALID_LABEL_RULE`: a row with such a label
gives NaN (a per-sample loss: that row; a batch-level loss: the whole scalar) and a
zero gradient, while the valid rows' values and gradients are unchanged.
:func:`clip_labels` gives the in-range labels the computation uses and
:func:`nan_rows` applies the rule.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = [
    "INVALID_LABEL_RULE",
    "NORM_EPS",
    "clip_labels",
    "l2_normalize",
    "masked_mean",
    "nan_rows",
    "nan_unless_all",
    "norm_floor",
    "normalize_rows",
    "per_sample",
    "psum",
    "safe_norm",
]

#: The papers' squared-norm floor of a normalisation, ``x / sqrt(max(||x||^2, 1e-12))``.
NORM_EPS = 1e-12

#: What every loss returns for traced out-of-range labels (see the module docstring).
INVALID_LABEL_RULE = (
    "rows whose label is outside [0, num_classes) give NaN (the whole scalar for a "
    "batch-level loss) with a zero gradient; concrete labels raise a ValueError"
)


def norm_floor(dtype) -> float:
    """The norm below which a row is frozen: ``sqrt(finfo(dtype).eps)``."""
    return float(np.sqrt(np.finfo(jnp.dtype(dtype)).eps))


def _norm_parts(x: jax.Array, floor: float | None):
    """``(n, small, live)`` per row of ``x`` (last axis, kept as size 1).

    ``n``: ``||x||`` (no gradient), computed as ``m sqrt(sum (x/m)^2)`` with ``m`` the
    row's max ``|x|``, so that no finite row overflows or underflows in its square
    (a float32 row of 1e20 has norm 1e20, not inf); ``small``: ``n <= floor``;
    ``live``: the same norm with its gradient, evaluated on a harmless stand-in for
    the small rows (the double-``where`` trick: no ``sqrt(0)`` is differentiated).
    """
    floor = norm_floor(x.dtype) if floor is None else floor
    m = lax.stop_gradient(jnp.max(jnp.abs(x), axis=-1, keepdims=True))
    m = jnp.where(m > 0, m, 1.0)
    u = x / m
    su = jnp.sum(u * u, axis=-1, keepdims=True)
    n = lax.stop_gradient(m * jnp.sqrt(su))
    small = n <= floor
    live = m * jnp.sqrt(jnp.where(small, 1.0, su))
    return n, small, live


def safe_norm(x: jax.Array, *, floor: float | None = None, keepdims: bool = False
              ) -> jax.Array:
    """``||x||`` over the last axis; its gradient is 0 where ``||x|| <= floor``."""
    n, small, live = _norm_parts(x, floor)
    out = jnp.where(small, n, live)
    return out if keepdims else out[..., 0]


def normalize_rows(x: jax.Array, denom: Callable[[jax.Array], jax.Array] | None = None,
                   *, floor: float | None = None) -> jax.Array:
    """``x / denom(||x||)`` per row (last axis), frozen (zero gradient) below the floor.

    Args:
      x: (..., D) rows.
      denom: the paper's denominator as a function of the (..., 1) norm, e.g.
        ``lambda n: n + eps``; default ``max(n, 1e-12)``.
      floor: rows with ``||x|| <= floor`` keep the value ``x / denom(||x||)`` but get a
        zero gradient; default :func:`norm_floor` of ``x``'s dtype.

    Returns:
      (..., D) array, the rows divided by ``denom(||x||)``.
    """
    if denom is None:
        def denom(n):
            return jnp.maximum(n, 1e-12)
    n, small, live = _norm_parts(x, floor)
    # Double `where`: the differentiated branch never sees a small row, so no
    # 1/tiny (or 0 * inf) enters the gradient of any row.
    live = jnp.where(small, 0.0, x) / denom(live)
    frozen = lax.stop_gradient(x / denom(n))
    return jnp.where(small, frozen, live)


def l2_normalize(x: jax.Array) -> jax.Array:
    """``x / sqrt(max(||x||^2, 1e-12))`` per row; rows below the norm floor get no gradient."""
    return normalize_rows(x, lambda n: jnp.sqrt(jnp.maximum(n * n, NORM_EPS)))


def psum(x, axis_name):
    """``lax.psum(x, axis_name)``, or ``x`` itself without an axis name."""
    return x if axis_name is None else lax.psum(x, axis_name)


def masked_mean(values: jax.Array, where: jax.Array | None, axis_name=None) -> jax.Array:
    """Mean of (B,) values over the rows of the (global) batch that ``where`` keeps."""
    if where is None:
        total, count = jnp.sum(values), jnp.asarray(values.shape[0], values.dtype)
    else:
        total = jnp.sum(jnp.where(where, values, 0.0))
        count = jnp.sum(where).astype(values.dtype)
    total, count = psum(total, axis_name), psum(count, axis_name)
    return total / jnp.maximum(count, 1.0)


def per_sample(values: jax.Array, valid: jax.Array, where: jax.Array | None) -> jax.Array:
    """A per-sample loss's output: NaN for invalid labels (:data:`INVALID_LABEL_RULE`),
    then 0 with a zero gradient on the rows ``where`` masks out, whatever their label
    (optax's meaning of ``where``)."""
    out = nan_rows(values, valid)
    return out if where is None else jnp.where(where, out, 0.0)


def clip_labels(labels: jax.Array, num_classes: int) -> tuple[jax.Array, jax.Array]:
    """``(in-range labels, valid)``: labels clipped into [0, K) and the (B,) validity mask."""
    valid = (labels >= 0) & (labels < num_classes)
    return jnp.clip(labels, 0, num_classes - 1), valid


def nan_rows(values: jax.Array, valid: jax.Array) -> jax.Array:
    """Per-sample values with NaN where ``valid`` is False (zero gradient there)."""
    return jnp.where(valid, values, jnp.nan)


def nan_unless_all(value: jax.Array, valid: jax.Array, where: jax.Array | None = None,
                   axis_name=None) -> jax.Array:
    """A batch-level scalar, NaN if any unmasked row (on any device) has an invalid label."""
    bad = ~valid if where is None else (~valid & where)
    n_bad = jnp.sum(bad.astype(jnp.int32))
    if axis_name is not None:
        n_bad = lax.psum(n_bad, axis_name)
    return jnp.where(n_bad > 0, jnp.nan, value)
