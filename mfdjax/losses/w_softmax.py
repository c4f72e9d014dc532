"""W-Softmax: the weights-biased softmax loss, its test-time logits and its geometry.

X. Li and W. Wang, "Learning Discriminative Features Via Weights-biased Softmax Loss"
(arXiv 1904.11138). The paper's text lost eq. 1 in extraction; the loss is reconstructed
from the properties the paper states, each of them tested.

Argument order, ``where`` and the label rule (concrete out-of-range labels raise,
traced ones give NaN rows) are those of every loss: see :mod:`mfdjax.losses`.

Numerics: normalisation divides by ``sqrt(max(||v||^2, 1e-12))``, and a row whose
norm is at most ``sqrt(eps)`` of the compute dtype (3.5e-4 in float32; an all-zero
feature or weight row) keeps that value but gets a zero gradient (instead of
~1/sqrt(eps) = 1e6, which is ``inf`` in float16).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from mfdjax.losses._checks import (
    as_float_array,
    check_array,
    check_class_matrix,
    check_features_and_rows,
    check_labels,
    check_ndim,
    check_number,
    compute_dtype,
)
from mfdjax.losses._logits import ce, check_triple, replace_target, take_target
from mfdjax.losses._numerics import NORM_EPS, clip_labels, l2_normalize, norm_floor, per_sample
from mfdjax.losses._sharding import take_rows

__all__ = ["min_fc_units", "w_softmax_logits", "w_softmax_loss", "w_softmax_weights"]


def _check_alpha(alpha):
    check_number(alpha, "alpha", low=0.0)


def w_softmax_weights(labels: ArrayLike, weights: ArrayLike, *, alpha: float) -> jax.Array:
    r"""The per-sample biased class weights of W-Softmax, explicitly, (B, K, D).

    .. math::

       \hat w_j = \frac{w_j}{\|w_j\|}, \qquad
       \tilde w_j^{(i)} = \frac{\hat w_j + \alpha \hat w_{y_i}}
                              {\|\hat w_j + \alpha \hat w_{y_i}\|}\ (j \ne y_i), \qquad
       \tilde w_{y_i}^{(i)} = \hat w_{y_i} .

    This materialises B x K x D numbers; :func:`w_softmax_loss` computes the
    same logits in O(BK + K^2 D) without it. Use this to inspect or test the
    geometry (w~_j lies in the cone of w_j and w_y and tends to w_y as alpha
    grows). If ``w_j = -w_y`` and ``alpha = 1`` the sum is the zero vector and
    its (floored) normalisation returns the zero vector.

    Args:
      labels: (B,) integer labels in [0, K).
      weights: (K, D) class weights, one row per class.
      alpha: alpha >= 0 (the paper uses 0.5, 1, 1.5).

    Returns:
      (B, K, D) unit-length (except the degenerate case above) weight rows; a
      traced out-of-range label gives a NaN (K, D) block.

    References:
      Li and Wang, "Learning Discriminative Features Via Weights-biased Softmax
      Loss", section 4.2, eqs. 1, 10-12.
    """
    weights = check_class_matrix(weights, "weights")
    weights = as_float_array(weights, "weights")
    check_ndim(weights, "weights", 2, "(num_classes, dim) -- one row per class")
    labels = check_array(labels, "labels")
    check_ndim(labels, "labels", 1, "(batch,)")
    labels = check_labels(labels, labels.shape[0], weights.shape[0])
    _check_alpha(alpha)
    labels, valid = clip_labels(labels, weights.shape[0])
    w = l2_normalize(weights)                                      # (K, D)
    w_y = take_rows(w, labels)                                             # (B, D)
    biased = l2_normalize(w[None, :, :] + alpha * w_y[:, None, :])  # (B, K, D)
    onehot = jax.nn.one_hot(labels, w.shape[0], dtype=bool)[..., None]
    return jnp.where(valid[:, None, None], jnp.where(onehot, w_y[:, None, :], biased), jnp.nan)


def w_softmax_loss(features: ArrayLike, labels: ArrayLike, weights: ArrayLike, *,
                   alpha: float, where: ArrayLike | None = None) -> jax.Array:
    r"""Negative-focused weights-biased softmax (W-Softmax) loss, per sample.

    .. math::

       \hat w_j = \frac{w_j}{\|w_j\|},\quad
       \tilde w_j = \frac{\hat w_j + \alpha \hat w_y}{\|\hat w_j + \alpha \hat w_y\|}
       \ (j \ne y),\quad \tilde w_y = \hat w_y,

       f_j = \tilde w_j \cdot x, \qquad
       \ell = -\log\frac{e^{f_y}}{\sum_j e^{f_j}} .

    The feature x is NOT normalised; the bias is removed. Computed without
    forming the (B, K, D) tensor of :func:`w_softmax_weights`: with
    ``z = x W_hat^T`` and ``G = W_hat W_hat^T``,

    .. math::

       f_j = \frac{z_j + \alpha z_y}{\sqrt{1 + \alpha^2 + 2\alpha G_{jy}}} .

    Properties (tested): alpha = 0 is softmax CE on normalised weights;
    ``w~_j`` lies in the angle between ``w_j`` and ``w_y`` and tends to ``w_y``
    as alpha grows; the training boundary between y and j, ``f_y = f_j``, is
    the bisector of ``w_y`` and ``w~_j``, whose angle to ``w_y`` shrinks as
    alpha grows (so the margin to the test boundary grows). At test time use
    the original normalised weights: :func:`w_softmax_logits`. The paper trains
    with plain softmax first and refines with W-Softmax.

    Degenerate case: ``w_j = -w_y`` with ``alpha = 1`` makes the denominator 0;
    it is floored at ``sqrt(1e-12)`` and the numerator is then 0 as well, so
    ``f_j = 0``, with a zero gradient (as for any biased weight whose norm is
    below the norm floor, ``sqrt(eps)`` of the compute dtype).

    Args:
      features: (B, D) float features (not normalised).
      labels: (B,) integer labels in [0, K).
      weights: (K, D) class weights, one row per class, no bias.
      alpha: alpha >= 0 (keyword-only, required; the paper's tables use 0.5, 1, 1.5).
      where: optional (B,) bool mask; a False row gives 0 and no gradient, whatever
        its label (optax's meaning: e.g. the padding rows of a last batch).

    Returns:
      (B,) per-sample loss.

    References:
      Li and Wang, "Learning Discriminative Features Via Weights-biased Softmax
      Loss", section 4.2 (eqs. 1, 10-13, Algorithm 1) and section 4.3 (the
      equations were lost in the text extraction and are reconstructed from the
      paper's stated properties).

    Example:
      >>> import jax.numpy as jnp
      >>> x = jnp.array([[1.0, 0.0]]); w = jnp.array([[2.0, 0.0], [0.0, 3.0]])
      >>> round(float(w_softmax_loss(x, jnp.array([0]), w, alpha=0.0)[0]), 4)
      0.3133
    """
    features, weights, labels, valid, where = check_triple(features, labels, weights, where)
    _check_alpha(alpha)
    w = l2_normalize(weights)
    z = features @ w.T                                              # (B, K)
    gram = w @ w.T                                                  # (K, K)
    z_y = take_target(z, labels)                                   # (B,)
    g_y = take_rows(gram, labels)                                            # (B, K): G[y_i, j]
    denom_sq = 1.0 + alpha * alpha + 2.0 * alpha * g_y
    num = z + alpha * z_y[:, None]
    # ||w^_j + alpha w^_y||^2 at or below the norm floor (w_j = -w_y, alpha = 1): the
    # value keeps the 1e-12 floor, the gradient is 0 (it would be ~1/sqrt(1e-12)).
    floor = norm_floor(denom_sq.dtype)
    small = denom_sq <= floor * floor
    live = jnp.where(small, 0.0, num) * jax.lax.rsqrt(jnp.where(small, 1.0, denom_sq))
    frozen = jax.lax.stop_gradient(num * jax.lax.rsqrt(jnp.maximum(denom_sq, NORM_EPS)))
    f = jnp.where(small, frozen, live)
    f = replace_target(f, labels, z_y)
    return per_sample(ce(f, labels), valid, where)


def w_softmax_logits(features: ArrayLike, weights: ArrayLike) -> jax.Array:
    r"""Test-time W-Softmax logits: :math:`f_j = \hat w_j \cdot x`, (B, K).

    The original (unbiased) normalised class weights, no bias, x unnormalised
    (W-Softmax paper, section 4.2, "In testing phase, w~ is replaced by original
    weights"). ``argmax`` gives the prediction.

    .. math::

        f_j = \frac{w_j}{\|w_j\|} \cdot x, \qquad \hat y = \arg\max_j f_j

    Args:
      features: (B, D) float features.
      weights: (K, D) class weights.

    Returns:
      (B, K) logits.

    References:
      Li and Wang, "Learning Discriminative Features Via Weights-biased Softmax
      Loss", section 4.2.
    """
    features, weights = check_features_and_rows(features, weights, "weights")
    dtype = compute_dtype(features, weights)
    return features.astype(dtype) @ l2_normalize(weights.astype(dtype)).T


def min_fc_units(num_classes: int) -> int:
    r"""Minimum FC width for K classes with equiangular unit weights: ``K - 1``.

    K unit vectors with all pairwise angles equal (inner product -1/(K-1), the
    regular simplex) have the Gram matrix
    :math:`\tfrac{K}{K-1} I - \tfrac{1}{K-1} \mathbf{1}\mathbf{1}^T` of rank
    K - 1, so they exist in R^n iff n >= K - 1 (W-Softmax paper, section 3,
    eqs. 2-7 and Assumption 1).

    Args:
      num_classes: K >= 2.

    Returns:
      K - 1.

    References:
      Li and Wang, "Learning Discriminative Features Via Weights-biased Softmax
      Loss", section 3 (eqs. 2-7, Assumption 1).
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes < 2:
        raise ValueError(f"`num_classes` must be an integer >= 2, got {num_classes!r}.")
    return int(num_classes) - 1
