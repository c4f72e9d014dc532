"""Large-margin softmax (L-Softmax) on unnormalised logits.

Liu, Wen, Yu and Yang, "Large-Margin Softmax Loss for Convolutional Neural Networks",
ICML 2016: the baseline of the W-Softmax paper's tables.

Argument order, ``where`` and the label rule (concrete out-of-range labels raise,
traced ones give NaN rows) are those of every loss: see :mod:`mfdjax.losses`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from mfdjax.losses._checks import check_number
from mfdjax.losses._logits import ce, check_triple, replace_target, take_target
from mfdjax.losses._numerics import NORM_EPS, per_sample
from mfdjax.losses._sharding import take_rows

__all__ = ["l_softmax_loss"]


def _chebyshev(c: jax.Array, m: int) -> jax.Array:
    """cos(m theta) as the Chebyshev polynomial T_m(cos theta) (no arccos)."""
    t_prev, t = jnp.ones_like(c), c
    if m == 0:
        return t_prev
    for _ in range(m - 1):
        t_prev, t = t, 2.0 * c * t - t_prev
    return t


def l_softmax_loss(features: ArrayLike, labels: ArrayLike, weights: ArrayLike, *,
                   margin: int = 2, lam: float = 0.0,
                   where: ArrayLike | None = None) -> jax.Array:
    r"""Large-margin softmax (L-Softmax) loss, per sample, on UNnormalised logits.

    .. math::

       f_{y} = \|w_y\|\,\|x\|\,\psi(\theta_y), \qquad
       f_j = \|w_j\|\,\|x\|\cos\theta_j = w_j \cdot x \ (j \ne y),

       \psi(\theta) = (-1)^k \cos(m\theta) - 2k, \quad
       \theta \in \left[\tfrac{k\pi}{m}, \tfrac{(k+1)\pi}{m}\right],\ k \in \{0,\dots,m-1\},

       \ell_i = \text{CE}(f, y_i) .

    Neither features nor weights are normalised (the norms multiply psi, as in
    the paper); there is no bias. ``cos(m theta)`` is the Chebyshev polynomial
    ``T_m(cos theta)`` (the paper's binomial expansion, section 3.2), so no
    arccos is taken; ``k`` is found by comparing ``cos theta`` with
    ``cos(j pi / m)`` and carries no gradient. psi is continuous and
    monotonically decreasing, so the loss is differentiable except where
    ``||x||`` or ``||w_y||`` is zero. ``margin = 1`` gives plain softmax CE on
    the logits ``x W^T``.

    ``lam`` is the annealing weight of the authors' Caffe code (not in the
    paper's equations): ``f_y = (lam ||w_y|| ||x|| cos theta_y + ||w_y|| ||x||
    psi(theta_y)) / (1 + lam)``; they start with a large lam and decay it
    towards 0 (``lambda = max(base (1 + gamma t)^(-power), lambda_min)``), which
    the caller can schedule since lam may be a traced value. ``lam = 0``
    (default) is the paper's loss.

    Args:
      features: (B, D) float features (not normalised).
      labels: (B,) integer labels in [0, K).
      weights: (K, D) class weights (not normalised).
      margin: integer m >= 1 (the paper uses 2, 3, 4; default 2).
      lam: annealing weight >= 0 (0 = the paper's equation).
      where: optional (B,) bool mask; a False row gives 0 and no gradient, whatever
        its label (optax's meaning: e.g. the padding rows of a last batch).

    Returns:
      (B,) per-sample loss.

    References:
      Liu, Wen, Yu, Yang, "Large-Margin Softmax Loss for Convolutional Neural
      Networks", ICML 2016, eqs. 4-6 and section 3.2 (optimisation, lambda).

    Example:
      >>> import jax.numpy as jnp
      >>> x = jnp.array([[1.0, 0.0]]); w = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> round(float(l_softmax_loss(x, jnp.array([0]), w, margin=1)[0]), 4)
      0.3133
    """
    features, weights, labels, valid, where = check_triple(features, labels, weights, where)
    if isinstance(margin, bool) or not isinstance(margin, (int, np.integer)) or margin < 1:
        raise ValueError(f"`margin` must be a Python integer >= 1 (the paper's m), got {margin!r}.")
    margin = int(margin)
    check_number(lam, "lam", low=0.0)
    logits = features @ weights.T                                   # ||w_j|| ||x|| cos
    w_y = take_rows(weights, labels)                                           # (B, D)
    norm_prod = jnp.sqrt(jnp.maximum(jnp.sum(features * features, -1), NORM_EPS)
                         * jnp.maximum(jnp.sum(w_y * w_y, -1), NORM_EPS))
    target = take_target(logits, labels)                           # ||w_y|| ||x|| cos
    c = jnp.clip(target / norm_prod, -1.0, 1.0)
    # k = #{j in 1..m-1 : theta >= j pi / m} = #{j : cos theta <= cos(j pi / m)}.
    thresholds = jnp.asarray([math.cos(j * math.pi / margin) for j in range(1, margin)],
                             dtype=c.dtype)
    c_ng = jax.lax.stop_gradient(c)
    k = jnp.sum(c_ng[:, None] <= thresholds[None, :], axis=-1).astype(c.dtype)
    sign = 1.0 - 2.0 * jnp.mod(k, 2.0)
    psi = sign * _chebyshev(c, margin) - 2.0 * k
    f_y = norm_prod * psi
    f_y = (lam * target + f_y) / (1.0 + lam)
    return per_sample(ce(replace_target(logits, labels, f_y), labels), valid, where)
