"""Multi-stage feature decorrelation (MFD) loss and its correlation diagnostics.

Source: mfd-loss.txt (Multi-stage Feature Decorrelation Constraints), eqs. 5-7,
and /work/shared/notes/formulas.md section 1.

For one activation ``A`` of shape (B, P, C) (B batch, P spatial positions or
tokens, C channels; a (B, H, W, C) or (B, C) map is reshaped to that layout):

1. per-position batch mean ``m[p, c] = mean_k A[k, p, c]`` (over the batch only);
2. centre ``X[k, p, c] = A[k, p, c] - m[p, c]`` and flatten X to (B*P, C);
3. Gram ``G = X^T X`` (C, C) and Pearson matrix ``F_ij = G_ij / sqrt(G_ii G_jj)``
   (eq. 6: the inner product of the centred 2-D maps, summed over the batch);
4. ``L_MFD = sum_{i != j} F_ij^2 / (C (C - 1))`` (eq. 5).

Eq. 7 sums L_MFD over the chosen stages and weights it by lambda (the caller's).

Implementation notes (measured figures in BUILD_NOTES.md):

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
* Batch sums and the C x C row sums are products with a vector of ones: on
  XLA:CPU a ``jnp.sum`` over the short batch axis was ~10x slower than the
  matrix-vector product (measured, BUILD_NOTES.md).
* Centring is an explicit elementwise pass (O(B P C)); the shortcut
  ``G = A^T A - B M^T M`` is avoided because it cancels catastrophically when a
  channel's mean is large against its spread (ReLU maps with a large offset).
* Half-precision (bf16/fp16) maps are centred in float32 and the centred values
  are fed to the Gram in the input dtype with float32 accumulation
  (``preferred_element_type``), as a mixed-precision matmul does.
* With ``axis_name`` (inside ``shard_map``/``pmap`` over a data axis) the batch
  sums and the Gram are ``psum``-ed, so every device gets the correlation of the
  GLOBAL batch. Under plain ``jit`` with a batch-sharded input no axis name is
  needed: XLA inserts the all-reduce itself.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, Hashable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from mfdjax.losses._checks import check_array, check_floating, compute_dtype

__all__ = ["feature_correlation", "mfd_loss", "mean_abs_correlation"]

_VARIANTS = ("paper", "reference")
# The reference code's clamp on the product of the two (1/P-scaled) norms.
_REFERENCE_CLAMP = 1e-12

AxisName = Hashable | tuple[Hashable, ...] | None


# --------------------------------------------------------------------------- #
# Argument checks
# --------------------------------------------------------------------------- #


def _check_variant(variant: str) -> None:
    if variant not in _VARIANTS:
        raise ValueError(
            f"`variant` must be one of {_VARIANTS}, got {variant!r}: 'paper' treats "
            "zero-variance channels as uncorrelated (relative test, see `dead_tol`); "
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


def _as_map(x: Any, name: str, axis_name: AxisName) -> jax.Array:
    """Validates one activation and returns it reshaped to (B, P, C)."""
    x = check_array(x, name)
    check_floating(x, name)
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
    u = u.reshape(-1, u.shape[-1])
    v = v.reshape(-1, v.shape[-1])
    return lax.dot_general(
        u, v, (((0,), (0,)), ((), ())),
        precision=precision, preferred_element_type=out_dtype)


def _psum(x, axis_name):
    return x if axis_name is None else lax.psum(x, axis_name)


def _batch_sum(a: jax.Array) -> jax.Array:
    """``sum_k a[k]`` over the leading axis, in the compute dtype.

    Written as a product with a vector of ones (exact weights, full-precision
    products, compute-dtype accumulation): XLA:CPU runs this ~10x faster than
    ``jnp.sum(a, axis=0)`` over a short leading axis (measured, BUILD_NOTES.md).
    ``Precision.HIGHEST`` keeps a GPU from using TF32, which would put a 1e-3
    relative error into the mean and hence into the centred values.
    """
    cdt = compute_dtype(a)
    ones = jnp.ones((a.shape[0],), a.dtype)
    return lax.dot_general(ones, a, (((0,), (0,)), ((), ())),
                           precision=lax.Precision.HIGHEST, preferred_element_type=cdt)


def _row_sum(t: jax.Array) -> jax.Array:
    """``t.sum(axis=1)`` for a (C, C) matrix, as a product with ones (fast on XLA:CPU)."""
    ones = jnp.ones((t.shape[1],), t.dtype)
    return lax.dot_general(t, ones, (((1,), (0,)), ((), ())),
                           precision=lax.Precision.HIGHEST, preferred_element_type=t.dtype)


def _centre(a: jax.Array, axis_name: AxisName):
    """Per-position GLOBAL batch mean ``m`` (P, C) and centred ``X`` (B, P, C)."""
    cdt = compute_dtype(a)
    count = a.shape[0] * _global_batch(axis_name)
    m = _psum(_batch_sum(a), axis_name) / count
    x = (a.astype(cdt) - m).astype(a.dtype)
    return x, m


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _centred_gram(a: jax.Array, axis_name: AxisName, precision) -> tuple[jax.Array, jax.Array]:
    """``(G, m)``: centred Gram ``X^T X`` (C, C) and batch mean (P, C) of ``a`` (B, P, C)."""
    x, m = _centre(a, axis_name)
    g = _psum(_contract_rows(x, x, precision, m.dtype), axis_name)
    return 0.5 * (g + g.T), m


@_centred_gram.defjvp
def _centred_gram_jvp(axis_name, precision, primals, tangents):
    (a,), (da,) = primals, tangents
    x, m = _centre(a, axis_name)
    g = _psum(_contract_rows(x, x, precision, m.dtype), axis_name)
    count = a.shape[0] * _global_batch(axis_name)
    dm = _psum(_batch_sum(da), axis_name) / count
    # d(X^T X) = X^T dX + dX^T X with dX = dA - mean_k dA; since sum_k X[k] = 0,
    # X^T dX = X^T dA. Linear in dA through one product, so its transpose is the
    # single product dA_bar = X (G_bar + G_bar^T).
    s = _psum(_contract_rows(x, da.astype(x.dtype), precision, m.dtype), axis_name)
    return (0.5 * (g + g.T), m), (s + s.T, dm)


# --------------------------------------------------------------------------- #
# Pearson matrix from the Gram
# --------------------------------------------------------------------------- #


def _pearson_terms(g, m, *, count, n_pos, variant, dead_tol):
    """``F = G * W`` and the pieces of its derivative, from the Gram ``g`` (C, C).

    Returns ``(f, w, u, invd, alive)``: ``f`` the Pearson matrix (diagonal not yet
    fixed), ``w`` (C, C) the factor with ``F_ij = G_ij W_ij`` (its derivative in
    ``G_ij``), ``u`` (C, C) where ``W`` depends on ``d = diag(G)`` (there
    ``dF_ij/dd_i = -F_ij / (2 d_i)``), ``invd`` = ``1/d`` where used (else 0) and
    ``alive`` (C,) for the paper's diagonal. No branch evaluates ``rsqrt(0)`` or
    ``1/0``, so every derivative is finite.
    """
    d = jnp.diagonal(g)
    if variant == "reference":
        # (G_ij / P) / sqrt(max(d_i d_j / P^2, 1e-12)) == G_ij / sqrt(max(d_i d_j, 1e-12 P^2)).
        dd = d[:, None] * d[None, :]
        floor = _REFERENCE_CLAMP * float(n_pos) ** 2
        u = lax.stop_gradient(dd) > floor
        w = lax.rsqrt(jnp.maximum(dd, floor))
        alive = lax.stop_gradient(d) > 0
        invd = jnp.where(alive, 1.0 / jnp.where(alive, d, 1.0), 0.0)
        return g * w, w, u, invd, alive
    # Paper: a channel whose centred energy is at rounding level against its raw
    # energy sum_k A_i^2 = G_ii + N * sum_p m_pi^2 is "dead": its row/column of F is
    # exactly 0. The test is relative (invariant to per-channel scaling) and the
    # double `where` keeps every gradient finite (no rsqrt(0) on any branch).
    tol = float(np.sqrt(np.finfo(g.dtype).eps)) if dead_tol is None else float(dead_tol)
    energy = lax.stop_gradient(d + count * jnp.sum(jnp.square(m), axis=0))
    alive = lax.stop_gradient(d) > (tol * tol) * energy
    r = jnp.where(alive, lax.rsqrt(jnp.where(alive, d, 1.0)), 0.0)
    w = r[:, None] * r[None, :]
    u = alive[:, None] & alive[None, :]
    return g * w, w, u, jnp.square(r), alive


def _pearson(a: jax.Array, *, axis_name, variant, dead_tol, precision) -> jax.Array:
    """Pearson matrix (C, C) of one validated map ``a`` (B, P, C)."""
    g, m = _centred_gram(a, axis_name, precision)
    f, _, _, _, alive = _pearson_terms(
        g, m, count=a.shape[0] * _global_batch(axis_name), n_pos=a.shape[1],
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


def _loss_and_cotangent(g, m, *, count, n_pos, variant, dead_tol, reduction):
    """Loss ``sum_{i!=j} phi(F_ij) / K`` and ``M = dL/dG`` (C, C), K = C (C - 1).

    ``M_ij = phi'(F_ij) W_ij / K`` (i != j) and
    ``M_ii = -(1/K) sum_{j != i} phi'(F_ij) F_ij u_ij / d_i``; for a symmetric G,
    ``dL = <M, dG>`` with ``dG = S + S^T``, ``S = X^T dA``, so ``dL/dA = 2 X M``.
    Written so that XLA needs two passes over (C, C) data: one row reduction and
    one pass writing M (F = G * W is recomputed inside each, never stored).
    """
    c = g.shape[0]
    k = c * (c - 1)
    phi, dphi, degree = _REDUCTIONS[reduction]
    _, w, u, invd, _ = _pearson_terms(g, m, count=count, n_pos=n_pos, variant=variant,
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


def _map_loss_value(a, axis_name, variant, dead_tol, precision, reduction):
    x, m = _centre(a, axis_name)
    g = _psum(_contract_rows(x, x, precision, m.dtype), axis_name)
    return x, m, g, _loss_and_cotangent(
        g, m, count=a.shape[0] * _global_batch(axis_name), n_pos=a.shape[1],
        variant=variant, dead_tol=dead_tol, reduction=reduction)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3, 4, 5))
def _map_loss_core(a, axis_name, variant, dead_tol, precision, reduction):
    """Off-diagonal mean of ``phi(F)`` for one (B, P, C) map, with a one-matmul gradient."""
    return _map_loss_value(a, axis_name, variant, dead_tol, precision, reduction)[3][0]


@_map_loss_core.defjvp
def _map_loss_core_jvp(axis_name, variant, dead_tol, precision, reduction, primals, tangents):
    (a,), (da,) = primals, tangents
    x, _, _, (loss, cot) = _map_loss_value(a, axis_name, variant, dead_tol, precision,
                                           reduction)
    # dL/dA = 2 X M: ONE (B*P, C) x (C, C) product, produced in A's own layout, so
    # reverse mode needs no transposes and no centring pass (X is already centred).
    # M's entries scale like 1 / (K sqrt(G_ii G_jj)): fine in bf16 (float32's
    # exponent range) but they can underflow in float16, so fp16 maps take this
    # product in float32.
    if x.dtype == jnp.float16:
        x = x.astype(loss.dtype)
    abar = lax.dot_general(x, (2.0 * cot).astype(x.dtype), (((2,), (0,)), ((), ())),
                           precision=precision, preferred_element_type=loss.dtype)
    dloss = _psum(jnp.sum(abar * da.astype(abar.dtype)), axis_name)
    return loss, dloss


def _map_loss(a, *, axis_name, variant, dead_tol, precision, reduction) -> jax.Array:
    return _map_loss_core(a, axis_name, variant, dead_tol, precision, reduction)


# --------------------------------------------------------------------------- #
# Public API
# --------------------------------------------------------------------------- #


def feature_correlation(
    x: jax.Array,
    *,
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

    Zero-variance ("dead") channels: mfd-loss.txt says their correlation "is
    computationally zero". With ``variant="paper"`` channel ``i`` is dead when
    ``G_ii <= dead_tol**2 * sum_k A_i^2`` (its standard deviation is below
    ``dead_tol`` times its root-mean-square, i.e. the centred values are rounding
    noise); its row and column of F are exactly 0 (diagonal included) and all
    gradients stay finite. Alive channels have ``F_ii = 1`` exactly.
    With ``variant="reference"`` the authors' PyTorch code is followed instead:
    ``F_ij = (G_ij / P) / sqrt(max(G_ii G_jj / P^2, 1e-12))`` (an absolute clamp, not
    invariant to the scale of the features; the diagonal is not forced to 1).

    Args:
      x: activations of shape (B, ..., C): batch first, channels last, any number
        of spatial/token axes ((B, C), (B, T, C), (B, H, W, C)). Floating dtype;
        bf16/fp16 are centred in float32 and enter the Gram in their own dtype with
        float32 accumulation.
      axis_name: inside ``jax.shard_map`` / ``jax.pmap`` over a data axis, its name
        (or tuple of names): batch sums and the Gram are all-reduced so every
        device gets the correlation of the global batch. ``None`` otherwise
        (including plain ``jit`` on a batch-sharded array). Gradients follow
        JAX's collective conventions: ``jax.grad`` inside ``shard_map`` gives
        each device its slice of the global gradient; inside ``pmap`` (psum
        transposes to psum) it is ``num_devices`` times that slice, which makes
        ``lax.pmean`` of per-device parameter gradients exact.
      variant: ``"paper"`` (default) or ``"reference"`` (see above).
      dead_tol: relative threshold of the dead-channel test (``variant="paper"``);
        ``None`` means ``sqrt(finfo(compute dtype).eps)`` (3.5e-4 in float32,
        1.5e-8 in float64). ``0.0`` marks only exactly-constant channels dead.
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
    a = _as_map(x, "x", axis_name)
    return _pearson(a, axis_name=axis_name, variant=variant, dead_tol=dead_tol,
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


def mfd_loss(
    features: jax.Array | Sequence[jax.Array] | Mapping[Any, jax.Array],
    *,
    axis_name: AxisName = None,
    variant: str = "paper",
    dead_tol: float | None = None,
    precision: lax.PrecisionLike = None,
) -> jax.Array:
    r"""Multi-stage feature decorrelation loss (mfd-loss.txt eqs. 5 and 7).

    .. math::

        L_{MFD}(A) = \frac{\sum_{i=1}^{C} \sum_{j \ne i} F_{ij}^2}{C (C - 1)}, \qquad
        L = \sum_{s \in \text{maps}} L_{MFD}(A_s)

    with ``F`` the Pearson matrix of :func:`feature_correlation` (eq. 6). For a
    list/tuple/dict (possibly nested) of maps the per-map losses are SUMMED (the
    second term of eq. 7 without lambda, which is the caller's: lambda = 1 in
    Table II). Maps of the same shape and dtype are stacked and the per-map
    computation is ``jax.vmap``-ped over them, so e.g. ResNet50's 49 layer-level
    maps cost a handful of batched Gram products rather than 49 separate ones.

    Args:
      features: one activation (B, ..., C), or a sequence / dict of them (each
        with its own shape; all with the same batch size B).
      axis_name: data-parallel axis name inside ``shard_map``/``pmap`` (see
        :func:`feature_correlation`).
      variant: ``"paper"`` or ``"reference"`` dead-channel handling (see
        :func:`feature_correlation`).
      dead_tol: relative dead-channel threshold (see :func:`feature_correlation`).
      precision: ``lax.dot_general`` precision of the Gram products.

    Returns:
      A scalar in [0, number of maps] (float32; float64 for float64 inputs).

    Raises:
      ValueError: an empty sequence/dict, or any map failing the checks of
        :func:`feature_correlation` (the message names it, e.g. ``features[3]``).

    Example:
      >>> import jax.numpy as jnp
      >>> x = jnp.array([[0., 1., 4.], [1., 3., 0.], [2., 5., 2.]])
      >>> round(float(mfd_loss(x)), 4)   # (2 * 1^2 + 4 * 0.5^2) / 6
      0.5
    """
    _check_variant(variant)
    _check_dead_tol(dead_tol)
    maps = [(name, _as_map(leaf, name, axis_name)) for name, leaf in _flatten_features(features)]
    kw = dict(axis_name=axis_name, variant=variant, dead_tol=dead_tol, precision=precision,
              reduction="square")
    groups: dict[tuple, list[jax.Array]] = {}
    for _, a in maps:
        groups.setdefault((a.shape, a.dtype), []).append(a)
    total = []
    for same in groups.values():
        if len(same) == 1:
            total.append(_map_loss(same[0], **kw))
        else:
            per_map = jax.vmap(functools.partial(_map_loss, **kw))(jnp.stack(same))
            total.append(jnp.sum(per_map))
    return functools.reduce(jnp.add, total)


def mean_abs_correlation(
    x: jax.Array,
    *,
    axis_name: AxisName = None,
    variant: str = "paper",
    dead_tol: float | None = None,
    precision: lax.PrecisionLike = None,
) -> jax.Array:
    r"""Mean absolute off-diagonal correlation of one map (Tables I and III).

    .. math::

        \overline{|F|} = \frac{\sum_{i} \sum_{j \ne i} |F_{ij}|}{C (C - 1)}

    The diagnostic of mfd-loss.txt Tables I/III (absolute values so that positive
    and negative coefficients do not cancel): Softmax-trained ResNet50 on
    CIFAR-100 gives 0.189, 0.142, 0.120, 0.053, 0.094 for stages 0-4.

    Args:
      x: activations (B, ..., C) (see :func:`feature_correlation`).
      axis_name, variant, dead_tol, precision: as in :func:`feature_correlation`.

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
    a = _as_map(x, "x", axis_name)
    return _map_loss(a, axis_name=axis_name, variant=variant, dead_tol=dead_tol,
                     precision=precision, reduction="abs")
