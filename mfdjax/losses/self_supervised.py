"""Self-supervised decorrelation losses: Barlow Twins and VICReg.

Both are batch-level losses on two embeddings of the same images, ``z1`` and
``z2`` of shape (N, D), and return a scalar. The MFD paper (Zhu, Wang, Zu and
Liu, "Multi-stage feature decorrelation constraints for improving CNN
classification performance", eq. 3, section 3.3) cites Barlow Twins as the
decorrelation loss MFD is contrasted with.

``axis_name``: under ``shard_map``/``pmap`` with the batch split over a mapped
axis, pass its name and every batch statistic (means, variances,
cross-correlation / covariance sums) is taken over the GLOBAL batch with
``psum``; every device then returns the same scalar. Half-precision inputs are
computed in float32.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from mfdjax.losses._checks import (
    as_float_array,
    check_ndim,
    check_positive,
    check_where,
    compute_dtype,
)
from mfdjax.losses._numerics import psum
from mfdjax.losses._sharding import replicated
from mfdjax.losses.mfd import AxisName

__all__ = ["barlow_twins_loss", "vicreg_loss"]


def _check_pair(z1, z2, where=None):
    """(z1, z2, w): the two views in their compute dtype, masked rows zeroed, and the
    (B, 1) row weights (1 = kept; None without a mask)."""
    z1 = as_float_array(z1, "z1")
    z2 = as_float_array(z2, "z2")
    check_ndim(z1, "z1", 2, "(batch, dim)")
    check_ndim(z2, "z2", 2, "(batch, dim)")
    if z1.shape != z2.shape:
        raise ValueError(
            f"`z2` must have the same shape as `z1` {tuple(z1.shape)} (two views of the "
            f"same batch), got {tuple(z2.shape)}.")
    dtype = compute_dtype(z1, z2)
    z1, z2 = z1.astype(dtype), z2.astype(dtype)
    where = check_where(where, z1.shape[0])
    if where is None:
        return z1, z2, None
    w = where[:, None]
    return jnp.where(w, z1, 0.0), jnp.where(w, z2, 0.0), w.astype(dtype)


def _batch_sum(x, axis_name):
    return psum(jnp.sum(x, axis=0), axis_name)


def _count(z, w, axis_name):
    """Rows of the global batch that count: a static int without a mask."""
    if w is None:
        return z.shape[0] if axis_name is None else jax.lax.psum(z.shape[0], axis_name)
    return psum(jnp.sum(w), axis_name)


def _keep(x, w):
    return x if w is None else x * w


def _gram(u, v, axis_name):
    """``u^T v`` summed over the (global) batch, (D, D)."""
    return psum(jax.lax.dot_general(u, v, (((0,), (0,)), ((), ())),
                                    out_sharding=replicated(u)), axis_name)


def _off_diagonal_sq_sum(m):
    d = m.shape[0]
    return jnp.sum(jnp.where(jnp.eye(d, dtype=bool), 0.0, m * m))


def barlow_twins_loss(z1: ArrayLike, z2: ArrayLike, *, lam: float = 5e-3, eps: float = 1e-5,
                      where: ArrayLike | None = None,
                      axis_name: AxisName = None) -> jax.Array:
    r"""Barlow Twins redundancy-reduction loss, scalar.

    .. math::

       \hat z^a_{b,i} = \frac{z^a_{b,i} - \mu^a_i}{\sqrt{\sigma^{a\,2}_i + \epsilon}},
       \qquad
       C_{ij} = \frac{1}{N} \sum_b \hat z^1_{b,i}\, \hat z^2_{b,j},

       \mathcal L_{BT} = \sum_i (1 - C_{ii})^2 + \lambda \sum_i \sum_{j \ne i} C_{ij}^2 .

    Each embedding is standardised over the batch (mean and biased variance,
    as the authors' ``BatchNorm1d(affine=False)``, eps = 1e-5), so C is the
    cross-correlation matrix (entries in [-1, 1] up to eps).

    Args:
      z1: (N, D) embeddings of the first view.
      z2: (N, D) embeddings of the second view.
      lam: off-diagonal weight lambda > 0 (paper: 5e-3; the authors' code uses
        0.0051).
      eps: variance floor of the standardisation.
      where: optional (B,) bool mask; masked rows leave every batch statistic (the
        means, variances and the cross-correlation / covariance) and get no gradient.
      axis_name: optional mapped axis for a global-batch loss (see module doc).

    Returns:
      Scalar loss.

    References:
      Zbontar, Jing, Misra, LeCun, Deny, "Barlow Twins: Self-Supervised Learning
      via Redundancy Reduction", ICML 2021, eq. 1-2 and section 4; eq. 3 of the
      MFD paper.

    Example:
      >>> import jax.numpy as jnp
      >>> z = jnp.array([[1.0, 1.0], [-1.0, -1.0]])
      >>> round(float(barlow_twins_loss(z, z, lam=1.0, eps=0.0)), 4)  # C = ones
      2.0
    """
    z1, z2, w = _check_pair(z1, z2, where)
    check_positive(lam, "lam", allow_zero=True)
    check_positive(eps, "eps", allow_zero=True)
    n = _count(z1, w, axis_name)

    def standardise(z):
        # zc / sqrt(var + eps), written on u = zc / s with s = max |zc| per column
        # (no gradient; the value does not depend on it) so that no square of a
        # huge (finite) embedding overflows: u / sqrt(mean u^2 + eps / s^2).
        mean = _batch_sum(z / n, axis_name)
        zc = _keep(z - mean, w)
        s = jnp.max(jnp.abs(jax.lax.stop_gradient(zc)), axis=0)
        if axis_name is not None:  # (pmax has no derivative: s is stopped before it)
            s = jax.lax.pmax(s, axis_name)
        s = jnp.where(s > 0, s, 1.0)
        u = zc / s
        var_u = _batch_sum(u * u, axis_name) / n
        return u * jax.lax.rsqrt(var_u + eps / (s * s))

    a, b = standardise(z1), standardise(z2)
    c = _gram(a, b, axis_name) / n
    on_diag = jnp.sum((1.0 - jnp.diagonal(c)) ** 2)
    return on_diag + lam * _off_diagonal_sq_sum(c)


def vicreg_loss(z1: ArrayLike, z2: ArrayLike, *, sim_weight: float = 25.0,
                var_weight: float = 25.0, cov_weight: float = 1.0, eps: float = 1e-4,
                gamma: float = 1.0, variant: Literal["paper", "reference"] = "paper",
                where: ArrayLike | None = None, axis_name: AxisName = None) -> jax.Array:
    r"""VICReg (variance-invariance-covariance regularisation) loss, scalar.

    .. math::

       s(Z, Z') = \frac{1}{N} \sum_b \|z_b - z'_b\|_2^2, \qquad
       v(Z) = \frac{1}{D} \sum_j \max\bigl(0,\ \gamma - \sqrt{\mathrm{Var}(z^j) + \epsilon}\bigr),

       c(Z) = \frac{1}{D} \sum_{i \ne j} \mathrm{Cov}(Z)_{ij}^2, \qquad
       \mathrm{Cov}(Z) = \frac{1}{N - 1} \sum_b (z_b - \bar z)(z_b - \bar z)^T,

       \mathcal L = \lambda\, s(Z, Z') + \mu\,[v(Z) + v(Z')] + \nu\,[c(Z) + c(Z')] .

    ``Var`` is the unbiased (N - 1) variance, as in the paper and code.

    ``variant="reference"`` follows the authors' public code instead, which
    differs by two factors: the invariance term is ``F.mse_loss`` (the mean over
    N * D entries, i.e. ``s / D``), and the variance term is halved,
    ``mu [v(Z) + v(Z')] / 2``.

    Args:
      z1: (N, D) embeddings of the first view, N >= 2.
      z2: (N, D) embeddings of the second view.
      sim_weight: lambda (paper: 25).
      var_weight: mu (paper: 25).
      cov_weight: nu (paper: 1).
      eps: epsilon inside the standard deviation (paper: 1e-4).
      gamma: target standard deviation (paper: 1).
      variant: ``"paper"`` (default) or ``"reference"``.
      where: optional (B,) bool mask; masked rows leave every batch statistic (the
        means, variances and the cross-correlation / covariance) and get no gradient.
      axis_name: optional mapped axis for a global-batch loss (see module doc).

    Returns:
      Scalar loss.

    References:
      Bardes, Ponce, LeCun, "VICReg: Variance-Invariance-Covariance
      Regularization for Self-Supervised Learning", ICLR 2022, eqs. 1-6 and
      section 4.3 (lambda = mu = 25, nu = 1).

    Example:
      >>> import jax.numpy as jnp
      >>> z = jnp.array([[2.0, -2.0], [-2.0, 2.0]])  # std > 1; Cov = [[8, -8], [-8, 8]]
      >>> round(float(vicreg_loss(z, z)), 4)  # c(Z) = c(Z') = 2 * 8**2 / 2
      128.0
    """
    z1, z2, w = _check_pair(z1, z2, where)
    for name, value in (("sim_weight", sim_weight), ("var_weight", var_weight),
                        ("cov_weight", cov_weight), ("eps", eps), ("gamma", gamma)):
        check_positive(value, name, allow_zero=True)
    if variant not in ("paper", "reference"):
        raise ValueError(f"`variant` must be 'paper' or 'reference', got {variant!r}.")
    n = _count(z1, w, axis_name)
    if isinstance(n, int) and n < 2:
        raise ValueError(f"`z1` needs a batch of at least 2 for the variance, got {n}.")
    d = z1.shape[1]

    diff = z1 - z2
    sim = _batch_sum(jnp.sum(diff * diff, axis=-1), axis_name) / n
    if variant == "reference":
        sim = sim / d

    def var_cov(z):
        mean = _batch_sum(z, axis_name) / n
        zc = _keep(z - mean, w)
        cov = _gram(zc, zc, axis_name) / jnp.maximum(n - 1, 1)
        std = jnp.sqrt(jnp.diagonal(cov) + eps)
        v = jnp.mean(jax.nn.relu(gamma - std))
        c = _off_diagonal_sq_sum(cov) / d
        return v, c

    v1, c1 = var_cov(z1)
    v2, c2 = var_cov(z2)
    var_term = v1 + v2
    if variant == "reference":
        var_term = var_term / 2.0
    return sim_weight * sim + var_weight * var_term + cov_weight * (c1 + c2)
