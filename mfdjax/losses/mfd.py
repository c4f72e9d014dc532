"""Multi-stage feature decorrelation (MFD) loss and its correlation diagnostics.

Source: Q. Zhu, H. Wang, X. Zu and C. Liu, "Multi-stage feature decorrelation
constraints for improving CNN classification performance", eqs. 5-7, and the
authors' public PyTorch code (the ``variant="reference"`` option).

For one activation ``A`` of shape (B, P, C) (B batch, P spatial positions or
tokens, C channels; a (B, H, W, C) or (B, C) map is reshaped to that layout):

1. per-position batch mean ``m[p, c] = mean_k A[k, p, c]`` (over the batch only);
2. centre ``X[k, p, c] = A[k, p, c] - m[p, c]`` and flatten X to (B*P, C);
3. Gram ``G = X^T X`` (C, C) and Pearson matrix ``F_ij = G_ij / sqrt(G_ii G_jj)``
   (eq. 6: the inner product of the centred 2-D maps, summed over the batch);
4. ``L_MFD = sum_{i != j} F_ij^2 / (C (C - 1))`` (eq. 5).

Eq. 7 sums L_MFD over the chosen stages and weights it by lambda (the caller's).

Implementation notes (measured figures in the repository's build notes):

* The only C^2 * B*P work is the Gram ``X^T X``. The per-map loss is a
  ``jax.custom_jvp`` whose rule computes, next to the value, ``dL/dG = M`` in
  closed form (C x C) and ``dL/dA = 2 X M`` (one product, produced directly in
  A's layout): ``X^T centre(dA) = X^T dA`` because every column of X sums to
  zero over the batch, so no centring pass and no transpose is needed backward.
  value+grad therefore costs two Gram-sized products plus O(B P C + C^2) passes;
  plain autodiff of ``X^T X`` costs three products and several transposes.
  Being a custom_jvp (not custom_vjp), forward mode and higher-order
  derivatives still work (the rule is made of differentiable ops).
  :func:`feature_correlation` (a (C, C) output) uses a custom_jvp Gram with the
  tangent ``S + S^T``, ``S = X^T dA`` instead.
* Batch means and the C x C row sums are products with a constant vector: on
  XLA:CPU a ``jnp.sum`` over the short batch axis was ~10x slower than the
  matrix-vector product (measured).
* Centring is an explicit elementwise pass (O(B P C)); the shortcut
  ``G = A^T A - B M^T M`` is avoided because it cancels catastrophically when a
  channel's mean is large against its spread (ReLU maps with a large offset).
* Each channel is first multiplied by a power of two that brings its largest
  ``|A|`` into [0.5, 1) (exact: no rounding). The Pearson matrix is invariant
  to per-channel scaling, so nothing changes in exact arithmetic, but no
  finite input can overflow or underflow in the batch mean, the centred values
  or the Gram, in any dtype (float32 maps of 1e20, float16 maps near 65504).
  The gradient takes the factor back per channel, after the one product.
* Half-precision (bf16/fp16) maps are centred in float32 and the centred values
  are fed to the Gram in the input dtype with float32 accumulation
  (``preferred_element_type``), as a mixed-precision matmul does.
* Dead channels (``variant="paper"``): the centring leaves a residual batch mean
  ``r`` that is pure rounding error (0 in exact arithmetic) and adds
  ``N sum_p r_p^2`` to ``G_ii``. This is measured (one more batch mean) and a
  channel is dead when ``G_ii <= 16 N sum_p r_p^2`` (its spread within 4x the
  centring's own error): exactly-constant channels are always dead, a channel
  such as ``3000 + (unit noise)`` in float32 is alive.
* With ``axis_name`` (inside ``shard_map``/``pmap`` over a data axis) the batch
  sums and the Gram are ``psum``-ed, so every device gets the correlation of the
  GLOBAL batch. Under plain ``jit`` with a batch-sharded input no axis name is
  needed: XLA inserts the all-reduce itself.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any, Hashable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from mfdjax.losses._checks import check_array, check_floating, check_where, compute_dtype
from mfdjax.losses._numerics import psum as _psum
from mfdjax.losses._sharding import replicated

__all__ = ["feature_correlation", "mfd_loss", "mean_abs_correlation"]

_VARIANTS = ("paper", "reference")
# The reference code's clamp on the product of the two (1/P-scaled) norms.
_REFERENCE_CLAMP = 1e-12
# A channel is dead when its centred energy is at most this factor times what the
# rounding error of the centring alone contributes (its std below 4x that error).
_NOISE_FACTOR = 16.0

AxisName = Hashable | tuple[Hashable, ...] | None


# --------------------------------------------------------------------------- #
# Argument checks
# --------------------------------------------------------------------------- #


def _check_variant(variant: str) -> None:
    if variant not in _VARIANTS:
        raise ValueError(
            f"`variant` must be one of {_VARIANTS}, got {variant!r}: 'paper' treats "
            "zero-variance channels as uncorrelated (a rounding-level test, see "
            "`dead_tol`); "
            "'reference' clamps the norm product at 1e-12 as the authors' code does."
        )


def _check_dead_tol(dead_tol: float | None) -> None:
    if dead_tol is None:
        return
    if isinstance(dead_tol, jax.core.Tracer):
        raise ValueError("`dead_tol` must be a Python float (a static threshold), got a tracer.")
    v = float(dead_tol)
    if not np.isfinite(v) or not 0.0 <= v < 1.0:
        raise ValueError(f"`dead_tol` must be a float in [0, 1) or None, got {dead_tol!r}.")


def _global_batch(axis_name: AxisName) -> int:
    """Number of devices along ``axis_name`` (1 without an axis); a static int."""
    if axis_name is None:
        return 1
    try:
        return int(lax.psum(1, axis_name))
    except NameError as err:  # unbound axis name
        raise ValueError(
            f"`axis_name`={axis_name!r} is not bound here: pass it only inside "
            "jax.shard_map / jax.pmap over that axis (under plain jit with a sharded "
            "batch, leave axis_name=None)."
        ) from err


def _check_channel_axis(channel_axis: Any) -> int:
    if isinstance(channel_axis, bool) or not isinstance(channel_axis, (int, np.integer)):
        raise ValueError(f"`channel_axis` must be an int (-1: channels last, NHWC; 1: NCHW), "
                         f"got {channel_axis!r}.")
    return int(channel_axis)


def _as_map(x: Any, name: str, axis_name: AxisName, channel_axis: int = -1) -> jax.Array:
    """Validates one activation and returns it reshaped to (B, P, C)."""
    x = check_array(x, name)
    check_floating(x, name)
    if x.ndim >= 2:
        if not (-x.ndim < channel_axis < x.ndim) or channel_axis in (0, -x.ndim):
            raise ValueError(
                f"`channel_axis`={channel_axis} does not name a non-batch axis of `{name}` "
                f"with shape {tuple(x.shape)} (axis 0 is the batch).")
        x = jnp.moveaxis(x, channel_axis, -1)
    if x.ndim < 2:
        raise ValueError(
            f"`{name}` must have shape (B, ..., C) with a batch axis first and channels "
            f"last, got shape {tuple(x.shape)}; add a batch axis (x[None]) only if you "
            "really have several samples."
        )
    if x.shape[-1] < 2:
        raise ValueError(
            f"`{name}` must have at least 2 channels (last axis) to correlate, got shape "
            f"{tuple(x.shape)}."
        )
    if any(s == 0 for s in x.shape):
        raise ValueError(f"`{name}` must be non-empty, got shape {tuple(x.shape)}.")
    devices = _global_batch(axis_name)
    if x.shape[0] * devices < 2:
        raise ValueError(
            f"`{name}` needs a (global) batch of at least 2 samples to estimate a "
            f"correlation, got shape {tuple(x.shape)} on {devices} device(s); the batch "
            "axis is the first one."
        )
    b, c = x.shape[0], x.shape[-1]
    return x.reshape(b, -1, c)


# --------------------------------------------------------------------------- #
# The centred Gram matrix (the only C^2 * B*P work), with a one-matmul backward
# --------------------------------------------------------------------------- #


def _contract_rows(u: jax.Array, v: jax.Array, precision, out_dtype) -> jax.Array:
    """``u^T v`` for u (B, P, C), v (B, P, D) contracting batch and positions -> (C, D)."""
    out = replicated(u)
    if out is not None:   # Explicit mesh axes: say where the contraction's result lives
        return lax.dot_general(u, v, (((0, 1), (0, 1)), ((), ())), precision=precision,
                               preferred_element_type=out_dtype, out_sharding=out)
    u = u.reshape(-1, u.shape[-1])
    v = v.reshape(-1, v.shape[-1])
    return lax.dot_general(
        u, v, (((0,), (0,)), ((), ())),
        precision=precision, preferred_element_type=out_dtype)


def _batch_mean(a: jax.Array, weights: jax.Array) -> jax.Array:
    """``sum_k weights[k] a[k]`` over the leading axis, in the compute dtype: the batch
    mean with ``weights = 1 / count`` on the rows that count (0 on masked rows).

    Written as a product with a compute-dtype vector ``1 / count`` (half
    inputs are converted; no product or partial sum can overflow, since each term is
    divided before it is added): XLA:CPU runs this ~10x faster than ``a.sum(0)``
    over a short leading axis (measured). The division is inside the product on
    purpose: a separate ``/ count`` would be fused into each consumer, where the
    compiler may contract it with the centring's subtraction into an FMA in one
    fusion and not in another, so that two copies of the "same" centred values
    differ in their last bits. ``Precision.HIGHEST`` keeps a GPU from using TF32,
    which would put a 1e-3 relative error into the mean.
    """
    cdt = compute_dtype(a)
    return lax.dot_general(weights.astype(cdt), a, (((0,), (0,)), ((), ())),
                           precision=lax.Precision.HIGHEST, preferred_element_type=cdt,
                           out_sharding=replicated(a))


def _row_sum(t: jax.Array) -> jax.Array:
    """``t.sum(axis=1)`` for a (C, C) matrix, as a product with ones (fast on XLA:CPU)."""
    ones = jnp.ones((t.shape[1],), t.dtype)
    return lax.dot_general(t, ones, (((1,), (0,)), ((), ())),
                           precision=lax.Precision.HIGHEST, preferred_element_type=t.dtype)


def _pow2_inverse(amax: jax.Array) -> jax.Array:
    """Per-channel power of two ``2**-e`` with ``amax * 2**-e`` in [0.5, 1) (1 where amax = 0).

    A power of two, so scaling by it is exact (no rounding enters the centring).
    It is built from its bits, not with ``pow``/``exp2``, which XLA may evaluate
    slightly differently in different fusions of one program. ``e`` is clipped to
    the dtype's normal range so the factor never under- or overflows (a channel
    far outside that range then lands near, not in, [0.5, 1)).
    """
    info = jnp.finfo(amax.dtype)
    _, e = jnp.frexp(amax)
    bias = int(info.maxexp) - 1
    e = jnp.clip(e, 2 - bias, bias - 1)
    itype = jnp.int64 if info.bits == 64 else jnp.int32
    bits = lax.shift_left((bias - e).astype(itype), jnp.asarray(int(info.nmant), itype))
    return jnp.where(amax > 0, lax.bitcast_convert_type(bits, amax.dtype), 1.0)


def _row_weights(a: jax.Array, w: jax.Array | None, axis_name: AxisName):
    """``(weights, count, keep)``: the (B,) batch-mean weights ``keep / count``, the
    number of rows of the global batch that count and the (B,) 0/1 ``keep``."""
    cdt = compute_dtype(a)
    if w is None:
        count = a.shape[0] * _global_batch(axis_name)
        return jnp.full((a.shape[0],), 1.0 / count, cdt), count, None
    keep = lax.stop_gradient(w).astype(cdt)
    count = _psum(jnp.sum(keep), axis_name)
    return keep / jnp.maximum(count, 1.0), count, keep


def _centre(a: jax.Array, w: jax.Array | None, axis_name: AxisName):
    """Scaled, centred map of ``a`` (B, P, C) and the statistics of that centring.

    Returns ``(x, scale, noise, msq)``:

    * ``scale`` (C,): ``2**-e`` per channel (:func:`_pow2_inverse` of the
      channel's GLOBAL max ``|a|``), so ``a * scale`` lies in [-1, 1] whatever the
      dtype and magnitude of ``a`` (no overflow in the batch sum, the centred
      values or the Gram; float16 maps near float16's maximum stay finite);
    * ``x`` (B, P, C): ``a * scale - m`` in ``a``'s dtype, ``m`` the per-position
      global batch mean of ``a * scale``;
    * ``noise`` (C,): ``N * sum_p r_p**2`` with ``r = mean_k x`` the residual mean
      left by rounding (0 in exact arithmetic). It is what the rounding error of
      the centring adds to ``diag(X^T X)``: a constant channel gives exactly that
      much and no more, which is what the dead-channel test compares with;
    * ``msq`` (C,): ``N * sum_p m_p**2``, so that ``diag(G) + msq`` is the raw
      energy ``sum a**2`` (scaled), for the optional relative ``dead_tol`` test.

    With a row mask ``w`` (B,) (0/1, masked rows of ``a`` already zero), only the
    kept rows enter the means and ``x`` is 0 on the masked rows, so they leave every
    statistic and the Gram.

    Every factor is per channel, so the Pearson matrix of ``x`` is that of ``a``;
    the three statistics carry no gradient.
    """
    cdt = compute_dtype(a)
    weights, count, keep = _row_weights(a, w, axis_name)
    amax = jnp.max(jnp.abs(lax.stop_gradient(a)), axis=(0, 1)).astype(cdt)
    if axis_name is not None:  # (pmax has no derivative: the input is stopped before it)
        amax = lax.pmax(amax, axis_name)
    scale = _pow2_inverse(amax)
    # The mean is taken on the raw map and scaled after: both products with the
    # power of two are exact, so every fusion that recomputes X rounds it alike
    # (and the raw map is read once, not first copied scaled).
    m = _psum(_batch_mean(a, weights), axis_name) * scale
    xc = a.astype(cdt) * scale - m
    if keep is not None:
        xc = xc * keep[:, None, None]
    xc = xc.astype(a.dtype)
    r = _psum(_batch_mean(xc, weights), axis_name)
    noise = count * jnp.sum(jnp.square(r), axis=0)
    msq = count * jnp.sum(jnp.square(m), axis=0)
    stats = lax.stop_gradient((scale, noise, msq))
    return xc, *stats


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _centred_gram(a: jax.Array, w, axis_name: AxisName, precision):
    """``(G, scale, noise, msq)``: Gram ``X^T X`` (C, C) of the scaled centred map and
    the per-channel statistics of :func:`_centre` (which carry no tangent). ``w``:
    None or the (B,) 0/1 row mask (no tangent either)."""
    x, scale, noise, msq = _centre(a, w, axis_name)
    g = _psum(_contract_rows(x, x, precision, scale.dtype), axis_name)
    return 0.5 * (g + g.T), scale, noise, msq


@_centred_gram.defjvp
def _centred_gram_jvp(axis_name, precision, primals, tangents):
    (a, w), (da, _) = primals, tangents
    x, scale, noise, msq = _centre(a, w, axis_name)
    g = _psum(_contract_rows(x, x, precision, scale.dtype), axis_name)
    # X = A * scale - mean_k(A * scale), so dX = dA * scale - mean_k(dA * scale); since
    # sum_k X[k] = 0, X^T dX = X^T (dA * scale) (masked rows: X = 0 there, and their
    # dX is multiplied by that 0). Linear in dA through one product, so
    # its transpose is the single product dA_bar = (X (G_bar + G_bar^T)) * scale.
    ds = (da.astype(scale.dtype) * scale).astype(x.dtype)
    s = _psum(_contract_rows(x, ds, precision, scale.dtype), axis_name)
    zeros = (jnp.zeros_like(scale), jnp.zeros_like(noise), jnp.zeros_like(msq))
    return (0.5 * (g + g.T), scale, noise, msq), (s + s.T, *zeros)


# --------------------------------------------------------------------------- #
# Pearson matrix from the Gram
# --------------------------------------------------------------------------- #


def _pearson_terms(g, scale, noise, msq, *, n_pos, variant, dead_tol):
    """``F = G * W`` and the pieces of its derivative, from the scaled Gram ``g`` (C, C).

    Returns ``(f, w, u, invd, alive)``: ``f`` the Pearson matrix (diagonal not yet
    fixed), ``w`` (C, C) the factor with ``F_ij = G_ij W_ij`` (its derivative in
    ``G_ij``), ``u`` (C, C) where ``W`` depends on ``d = diag(G)`` (there
    ``dF_ij/dd_i = -F_ij / (2 d_i)``), ``invd`` = ``1/d`` where used (else 0) and
    ``alive`` (C,) for the paper's diagonal. No branch evaluates ``rsqrt(0)``,
    ``log(0)`` or ``1/0`` on a differentiated path, so every derivative is finite.
    """
    d = jnp.diagonal(g)
    dn = lax.stop_gradient(d)
    if variant == "reference":
        # The authors' F_ij = (G_ij / P) / max(n_i n_j, 1e-12), n_i = sqrt(G_ii / P) the
        # 1/P-scaled norm of the UNscaled map: G_ii(raw) = d_i / scale_i^2. Written as
        # F = G_ij / sqrt(d_i d_j) * min(1, n_i n_j / 1e-12), the ratio taken in logs so
        # that no product of norms can overflow or underflow.
        alive = dn > 0
        r = jnp.where(alive, lax.rsqrt(jnp.where(alive, d, 1.0)), 0.0)
        log_n = 0.5 * jnp.log(jnp.where(alive, dn, 1.0) / n_pos) - jnp.log(scale)
        log_n = jnp.where(alive, log_n, -jnp.inf)
        excess = log_n[:, None] + log_n[None, :] - math.log(_REFERENCE_CLAMP)
        u = excess >= 0.0
        rr = r[:, None] * r[None, :]
        # Clamped pairs: W = 1 / (1e-12 P scale_i scale_j), constant in G.
        w = jnp.where(u, rr, lax.stop_gradient(rr * jnp.exp(jnp.minimum(excess, 0.0))))
        return g * w, w, u, jnp.square(r), alive
    # Paper: channel i is "dead" (its correlations are "computationally zero") when
    # its centred energy d_i is not clearly above what the rounding error of the
    # centring alone puts there (`noise`, measured, see _centre): then its row and
    # column of F are exactly 0. Scale invariant (both sides scale alike), and the
    # double `where` keeps every gradient finite (no rsqrt(0) on any branch).
    alive = dn > _NOISE_FACTOR * noise
    if dead_tol is not None:
        alive = alive & (dn > float(dead_tol) ** 2 * (dn + msq))
    r = jnp.where(alive, lax.rsqrt(jnp.where(alive, d, 1.0)), 0.0)
    w = r[:, None] * r[None, :]
    u = alive[:, None] & alive[None, :]
    return g * w, w, u, jnp.square(r), alive


def _pearson(a: jax.Array, w=None, *, axis_name, variant, dead_tol, precision) -> jax.Array:
    """Pearson matrix (C, C) of one validated map ``a`` (B, P, C)."""
    g, scale, noise, msq = _centred_gram(a, w, axis_name, precision)
    f, _, _, _, alive = _pearson_terms(g, scale, noise, msq, n_pos=a.shape[1],
                                       variant=variant, dead_tol=dead_tol)
    if variant == "reference":
        return f
    return jnp.where(jnp.eye(g.shape[0], dtype=bool), alive.astype(f.dtype), f)


# phi, phi' and the degree h of the off-diagonal reduction sum_{i != j} phi(F_ij):
# both are homogeneous, phi'(F) F = h phi(F), which lets one row reduction give the
# loss and the diagonal of its cotangent.
_REDUCTIONS = {
    "square": (jnp.square, lambda f: 2.0 * f, 2.0),
    "abs": (jnp.abs, jnp.sign, 1.0),
}


def _loss_and_cotangent(g, scale, noise, msq, *, n_pos, variant, dead_tol, reduction):
    """Loss ``sum_{i!=j} phi(F_ij) / K`` and ``M = dL/dG`` (C, C), K = C (C - 1).

    ``M_ij = phi'(F_ij) W_ij / K`` (i != j) and
    ``M_ii = -(1/K) sum_{j != i} phi'(F_ij) F_ij u_ij / d_i``; for a symmetric G,
    ``dL = <M, dG>`` with ``dG = S + S^T``, ``S = X^T dX``, so ``dL/dX = 2 X M``.
    Written so that XLA needs two passes over (C, C) data: one row reduction and
    one pass writing M (F = G * W is recomputed inside each, never stored).
    """
    c = g.shape[0]
    k = c * (c - 1)
    phi, dphi, degree = _REDUCTIONS[reduction]
    _, w, u, invd, _ = _pearson_terms(g, scale, noise, msq, n_pos=n_pos, variant=variant,
                                      dead_tol=dead_tol)
    off = ~jnp.eye(c, dtype=bool)
    f = g * w
    if variant == "reference":
        rows_all = _row_sum(jnp.where(off, phi(f), 0.0))
        rows = _row_sum(jnp.where(off & u, phi(f), 0.0))
    else:  # F_ij = 0 wherever u_ij is False: one reduction serves both.
        rows_all = rows = _row_sum(jnp.where(off, phi(f), 0.0))
    loss = jnp.sum(rows_all) / k
    diag = -(degree / k) * rows * invd
    cot = jnp.where(off, dphi(f) * (w / k), diag[:, None])
    return loss, cot


def _map_loss_value(a, w, axis_name, variant, dead_tol, precision, reduction):
    x, scale, noise, msq = _centre(a, w, axis_name)
    g = _psum(_contract_rows(x, x, precision, scale.dtype), axis_name)
    return x, scale, _loss_and_cotangent(
        g, scale, noise, msq, n_pos=a.shape[1], variant=variant, dead_tol=dead_tol,
        reduction=reduction)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4, 5, 6))
def _map_loss_core(a, w, axis_name, variant, dead_tol, precision, reduction):
    """Off-diagonal mean of ``phi(F)`` for one (B, P, C) map, with a one-matmul gradient."""
    return _map_loss_value(a, w, axis_name, variant, dead_tol, precision, reduction)[2][0]


@_map_loss_core.defjvp
def _map_loss_core_jvp(axis_name, variant, dead_tol, precision, reduction, primals, tangents):
    (a, w), (da, _) = primals, tangents
    x, scale, (loss, cot) = _map_loss_value(a, w, axis_name, variant, dead_tol, precision,
                                            reduction)
    # dL/dA = (2 X M) * scale: ONE (B*P, C) x (C, C) product, produced in A's own layout,
    # then a per-channel factor (fused into the elementwise pass that follows), so
    # reverse mode needs no transposes and no centring pass (X is already centred).
    # M's entries scale like 1 / (K sqrt(G_ii G_jj)): fine in bf16 (float32's
    # exponent range) but they can overflow or underflow in float16, so fp16 maps
    # take this product in float32.
    if x.dtype == jnp.float16:
        x = x.astype(loss.dtype)
    abar = lax.dot_general(x, (2.0 * cot).astype(x.dtype), (((2,), (0,)), ((), ())),
                           precision=precision, preferred_element_type=loss.dtype)
    dloss = _psum(jnp.sum(abar * (da.astype(abar.dtype) * scale)), axis_name)
    return loss, dloss


def _map_loss(a, w=None, *, axis_name, variant, dead_tol, precision, reduction) -> jax.Array:
    return _map_loss_core(a, w, axis_name, variant, dead_tol, precision, reduction)


# --------------------------------------------------------------------------- #
# Public API
# --------------------------------------------------------------------------- #


def _mask(where: Any, batch: int, maps: list) -> tuple[list, jax.Array | None]:
    """Checks ``where`` against the batch; zeroes the masked rows of every map (their
    values, NaN padding included, then leave no trace) and returns the 0/1 weights."""
    where = check_where(where, batch)
    if where is None:
        return maps, None
    keep = lax.stop_gradient(where)
    maps = [jnp.where(keep.reshape((-1,) + (1,) * (a.ndim - 1)), a, 0).astype(a.dtype)
            for a in maps]
    return maps, keep


def feature_correlation(
    x: ArrayLike,
    *,
    where: ArrayLike | None = None,
    channel_axis: int = -1,
    axis_name: AxisName = None,
    variant: str = "paper",
    dead_tol: float | None = None,
    precision: lax.PrecisionLike = None,
) -> jax.Array:
    r"""Pearson correlation matrix between the channels of a feature map (eq. 6).

    .. math::

        m_{pc} = \frac1B \sum_k A_{kpc}, \qquad X_{kpc} = A_{kpc} - m_{pc}, \qquad
        G = X^\top X, \qquad
        F_{ij} = \frac{G_{ij}}{\sqrt{G_{ii}\,G_{jj}}}
               = \frac{\sum_k \langle I_k - \bar I, J_k - \bar J\rangle}
                      {\sqrt{\sum_k \|I_k - \bar I\|^2}\sqrt{\sum_k \|J_k - \bar J\|^2}}

    where ``X`` is flattened to (B*P, C): each channel's 2-D map is centred by its
    per-position batch mean and the inner products are summed over the batch.

    Zero-variance ("dead") channels: the paper says their correlation "is
    computationally zero". With ``variant="paper"`` channel ``i`` is dead when its
    centred energy ``G_ii`` is within 16 times what the rounding error of the
    centring alone puts there (measured as the residual batch mean of the
    computed ``X``; see the module notes), i.e. its spread is not distinguishable
    from rounding noise; its row and column of F are exactly 0 (diagonal
    included) and all gradients stay finite. Alive channels have ``F_ii = 1``
    exactly. The test does not depend on the scale or offset of the channel.
    With ``variant="reference"`` the authors' PyTorch code is followed instead:
    with the 1/P-scaled norms :math:`n_i = \sqrt{G_{ii} / P}`,
    :math:`F_{ij} = (G_{ij} / P) / \max(n_i n_j, 10^{-12})` (an absolute clamp, not
    invariant to the scale of the features; the diagonal is not forced to 1).

    Args:
      x: activations of shape (B, ..., C): batch first, channels last, any number
        of spatial/token axes ((B, C), (B, T, C), (B, H, W, C)). Floating dtype;
        bf16/fp16 are centred in float32 and enter the Gram in their own dtype with
        float32 accumulation.
      where: optional (B,) bool mask; masked rows leave every statistic (batch
        means, Gram, dead-channel test) and get no gradient.
      channel_axis: the channel axis of ``x`` (default -1, NHWC as Flax; 1 for NCHW).
      axis_name: inside ``jax.shard_map`` / ``jax.pmap`` over a data axis, its name
        (or tuple of names): batch sums and the Gram are all-reduced so every
        device gets the correlation of the global batch. ``None`` otherwise
        (including plain ``jit`` on a batch-sharded array). Gradients follow
        JAX's collective conventions: ``jax.grad`` inside ``shard_map`` gives
        each device its slice of the global gradient; inside ``pmap`` (psum
        transposes to psum) it is ``num_devices`` times that slice, which makes
        ``lax.pmean`` of per-device parameter gradients exact.
      variant: ``"paper"`` (default) or ``"reference"`` (see above).
      dead_tol: an optional, additional relative threshold (``variant="paper"``):
        a channel whose standard deviation is at most ``dead_tol`` times its
        root-mean-square (``G_ii <= dead_tol**2 * sum_k A_i^2``) is dead too.
        ``None`` (default) or ``0.0``: only the rounding-level test above.
      precision: passed to the Gram's ``lax.dot_general`` (e.g.
        ``lax.Precision.HIGHEST`` to avoid TF32 on GPUs).

    Returns:
      F of shape (C, C), symmetric, in float32 (float64 for float64 inputs).

    Raises:
      ValueError: ``x`` not an array, not floating, ndim < 2, fewer than 2
        channels, an empty axis, or a (global) batch of 1.

    Example:
      >>> import jax.numpy as jnp
      >>> x = jnp.array([[0., 1., 5.], [1., 3., 5.], [2., 5., 5.]])
      >>> feature_correlation(x).round(4)   # channel 2 is constant: a 0 row/column
      Array([[1., 1., 0.],
             [1., 1., 0.],
             [0., 0., 0.]], dtype=float32)
    """
    _check_variant(variant)
    _check_dead_tol(dead_tol)
    a = _as_map(x, "x", axis_name, _check_channel_axis(channel_axis))
    (a,), w = _mask(where, a.shape[0], [a])
    return _pearson(a, w, axis_name=axis_name, variant=variant, dead_tol=dead_tol,
                    precision=precision)


def _flatten_features(features: Any) -> list[tuple[str, Any]]:
    if isinstance(features, (Mapping, list, tuple)):
        leaves, _ = jax.tree_util.tree_flatten_with_path(features)
        if not leaves:
            raise ValueError(
                "`features` must hold at least one feature map, got an empty "
                f"{type(features).__name__}."
            )
        return [(f"features{jax.tree_util.keystr(path)}", leaf) for path, leaf in leaves]
    return [("features", features)]


# Maps of one shape are stacked and vmapped from this many on: for two or three maps
# the stack's copy costs more than the separate products (the default job's stem and
# stage-1 maps, both (128, 196, 16): 0.95 of the step unstacked; benchmarks/README.md).
_STACK_MIN_MAPS = 4


def mfd_loss(
    features: ArrayLike | Sequence[ArrayLike] | Mapping[Any, ArrayLike],
    *,
    where: ArrayLike | None = None,
    channel_axis: int = -1,
    axis_name: AxisName = None,
    variant: str = "paper",
    dead_tol: float | None = None,
    precision: lax.PrecisionLike = None,
) -> jax.Array:
    r"""Multi-stage feature decorrelation loss (eqs. 5 and 7 of the MFD paper).

    .. math::

        L_{MFD}(A) = \frac{\sum_{i=1}^{C} \sum_{j \ne i} F_{ij}^2}{C (C - 1)}, \qquad
        L = \sum_{s \in \text{maps}} L_{MFD}(A_s)

    with ``F`` the Pearson matrix of :func:`feature_correlation` (eq. 6). For a
    list/tuple/dict (possibly nested) of maps the per-map losses are SUMMED (the
    second term of eq. 7 without lambda, which is the caller's: lambda = 1 in
    Table II). Four or more maps of the same shape and dtype are stacked and the
    per-map computation is ``jax.vmap``-ped over them, so e.g. ResNet50's 49
    layer-level maps cost a handful of batched Gram products rather than 49
    separate ones.

    Args:
      features: one activation (B, ..., C), or a sequence / dict of them (each
        with its own shape; all with the same batch size B, checked).
      where: optional (B,) bool mask shared by every map; masked rows leave every
        statistic and get no gradient (e.g. the padding rows of a last batch).
      channel_axis: the channel axis of every map (default -1; 1 for NCHW maps).
      axis_name: data-parallel axis name inside ``shard_map``/``pmap`` (see
        :func:`feature_correlation`).
      variant: ``"paper"`` or ``"reference"`` dead-channel handling (see
        :func:`feature_correlation`).
      dead_tol: optional extra relative dead-channel threshold (see
        :func:`feature_correlation`).
      precision: ``lax.dot_general`` precision of the Gram products.

    Returns:
      A scalar in [0, number of maps] (float32; float64 for float64 inputs).

    Raises:
      ValueError: an empty sequence/dict, maps of different batch sizes, or any map
        failing the checks of :func:`feature_correlation` (the message names it,
        e.g. ``features[3]``).

    Example:
      >>> import jax.numpy as jnp
      >>> x = jnp.array([[0., 1., 4.], [1., 3., 0.], [2., 5., 2.]])
      >>> round(float(mfd_loss(x)), 4)   # (2 * 1^2 + 4 * 0.5^2) / 6
      0.5
    """
    _check_variant(variant)
    _check_dead_tol(dead_tol)
    channel_axis = _check_channel_axis(channel_axis)
    maps = [(name, _as_map(leaf, name, axis_name, channel_axis))
            for name, leaf in _flatten_features(features)]
    sizes = {a.shape[0] for _, a in maps}
    if len(sizes) > 1:
        listed = ", ".join(f"{name}: {a.shape[0]}" for name, a in maps)
        raise ValueError(f"every map of `features` must have the same batch size (axis 0); "
                         f"got {listed}. Pass the maps of one forward pass.")
    arrays, w = _mask(where, maps[0][1].shape[0], [a for _, a in maps])
    kw = dict(axis_name=axis_name, variant=variant, dead_tol=dead_tol, precision=precision,
              reduction="square")
    groups: dict[tuple, list[jax.Array]] = {}
    for a in arrays:
        groups.setdefault((a.shape, a.dtype), []).append(a)
    total = []
    for same in groups.values():
        if len(same) < _STACK_MIN_MAPS:
            total.extend(_map_loss(a, w, **kw) for a in same)
        else:
            per_map = jax.vmap(functools.partial(_map_loss, w=w, **kw))(jnp.stack(same))
            total.append(jnp.sum(per_map))
    return functools.reduce(jnp.add, total)


def mean_abs_correlation(
    x: ArrayLike,
    *,
    where: ArrayLike | None = None,
    channel_axis: int = -1,
    axis_name: AxisName = None,
    variant: str = "paper",
    dead_tol: float | None = None,
    precision: lax.PrecisionLike = None,
) -> jax.Array:
    r"""Mean absolute off-diagonal correlation of one map (Tables I and III).

    .. math::

        \overline{|F|} = \frac{\sum_{i} \sum_{j \ne i} |F_{ij}|}{C (C - 1)}

    The diagnostic of the MFD paper's Tables I/III (absolute values so that positive
    and negative coefficients do not cancel): Softmax-trained ResNet50 on
    CIFAR-100 gives 0.189, 0.142, 0.120, 0.053, 0.094 for stages 0-4.

    Args:
      x: activations (B, ..., C) (see :func:`feature_correlation`).
      where, channel_axis, axis_name, variant, dead_tol, precision: as in
        :func:`feature_correlation`.

    Returns:
      A scalar in [0, 1] (float32; float64 for float64 inputs).

    Example:
      >>> import jax.numpy as jnp
      >>> x = jnp.array([[0., 1., 4.], [1., 3., 0.], [2., 5., 2.]])
      >>> round(float(mean_abs_correlation(x)), 4)   # (2 * 1 + 4 * 0.5) / 6
      0.6667
    """
    _check_variant(variant)
    _check_dead_tol(dead_tol)
    a = _as_map(x, "x", axis_name, _check_channel_axis(channel_axis))
    (a,), w = _mask(where, a.shape[0], [a])
    return _map_loss(a, w, axis_name=axis_name, variant=variant, dead_tol=dead_tol,
                     precision=precision, reduction="abs")
