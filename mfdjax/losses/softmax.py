"""Softmax cross entropy with integer labels: the baseline of every table of the papers.

Labels: concrete labels outside [0, K) raise a ValueError; traced ones (under
``jax.jit``) give NaN on their row with a zero gradient (optax alone gives NaN for K
and a finite, wrong value for -1), unless ``where`` masks the row out.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from mfdjax.losses._checks import check_array, check_floating, check_labels
from mfdjax.losses._numerics import clip_labels, per_sample

__all__ = ["softmax_cross_entropy"]


def softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike, *,
                          where: ArrayLike | None = None) -> jax.Array:
    r"""Softmax cross entropy with integer labels, per sample (optax's, with checks).

    .. math::

       \ell_i = -\log \frac{e^{z_{i y_i}}}{\sum_j e^{z_{ij}}}

    The first term of eq. 7 of the MFD paper (and the baseline of every table).
    Computed by ``optax.losses.softmax_cross_entropy_with_integer_labels``; this
    wrapper adds the argument checks and the label rule of the package: concrete
    labels outside [0, K) raise a ValueError, traced ones give NaN rows (optax
    alone gives NaN for K and a finite wrong value for -1).

    Args:
      logits: (..., K) unnormalised scores (floating).
      labels: (...) integer labels in [0, K).
      where: optional bool mask of the labels' shape; a False entry gives 0 and no
        gradient, whatever its label (optax's meaning).

    Returns:
      (...) per-sample loss, in the logits' dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> round(float(softmax_cross_entropy(jnp.array([[0.0, 0.0]]), jnp.array([1]))[0]), 4)
      0.6931
    """
    logits = check_array(logits, "logits")
    check_floating(logits, "logits")
    if logits.ndim < 1 or logits.shape[-1] < 1:
        raise ValueError(
            f"`logits` must have shape (..., num_classes), got {tuple(logits.shape)}.")
    labels = check_array(labels, "labels")
    if labels.shape != logits.shape[:-1]:
        raise ValueError(
            f"`labels` must have shape {tuple(logits.shape[:-1])} (logits without the class "
            f"axis), got {tuple(labels.shape)}.")
    if where is not None:
        where = check_array(where, "where")
        if where.shape != labels.shape or where.dtype != jnp.bool_:
            raise ValueError(
                f"`where` must be a bool mask of the labels' shape {tuple(labels.shape)}, "
                f"got {where.dtype}{tuple(where.shape)}; use where.astype(bool).")
        logits = jnp.where(where[..., None], logits, 0.0)   # padding leaves no trace
    flat = check_labels(labels.reshape(-1), labels.size, logits.shape[-1],
                        where=None if where is None else where.reshape(-1))
    y, valid = clip_labels(flat.reshape(labels.shape), logits.shape[-1])
    return per_sample(optax.losses.softmax_cross_entropy_with_integer_labels(logits, y),
                      valid, where)
