"""POD loss family: PEDCC centroids, Cosine / NaC / SC / POD losses, PEDCC-Loss.

Source: Q. Zhu and X. Zu, "A Softmax-free Loss Function Based on Predefined
Optimal-distribution of Latent Features for Deep Learning Classifier" (the POD
paper), section 3, eqs. 2-4, 9-20; the authors' PyTorch reference code
(github.com/TianYuZu/POD-Loss, ``train.py``) and, for the PEDCC-Loss baseline,
github.com/ZLeopard/PEDCC-Loss. Where paper and reference code disagree, the
default follows the paper and ``variant="reference"`` reproduces the code.

Shapes and order: ``(features, labels, centroids, ...)``: features ``x`` (B, n),
integer labels (B,), centroids (k, n) -- one row per class, as every class matrix
in mfdjax. Centroid rows are normalised inside every loss (the paper's
:math:`\\tilde p`), so a raw PEDCC matrix or one from :func:`mfdjax.pedcc.pedcc`
(already unit rows) gives the same result. ``where`` (B,) bool: a masked row
gives 0 and no gradient in a per-sample loss and leaves the batch statistics of
SC, POD and PEDCC-Loss.
Per-sample losses return (B,); batch-level losses (SC, POD, PEDCC-Loss) a
scalar. Half-precision inputs are computed in float32.

Numerics: every normalisation keeps the paper's epsilon in its value but a row
whose norm is at most ``sqrt(eps)`` of the compute dtype (an all-zero feature, a
dead sample) gets a zero gradient instead of ~1e12 (``_numerics.normalize_rows``).
Labels: concrete labels outside [0, k) raise a ValueError; traced ones follow
one rule for all losses: such rows give NaN (the whole scalar for SC, POD and
PEDCC-Loss, unless the row is masked out by ``where``) with a zero gradient.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from mfdjax.losses._checks import (
    as_float_array,
    check_array,
    check_features_and_rows,
    check_floating,
    check_labels,
    check_ndim,
    check_positive,
    check_where,
)
from mfdjax.losses._numerics import (
    clip_labels,
    masked_mean,
    nan_rows,
    nan_unless_all,
    normalize_rows,
    psum,
    safe_norm,
)
from mfdjax.losses._sharding import replicated, take_rows
from mfdjax.losses.mfd import AxisName
from mfdjax.pedcc import pedcc  # noqa: F401 -- the centroids of the examples below

__all__ = [
    "NAC_ALPHA",
    "NAC_INITIAL_MEAN_NORM",
    "NAC_REFERENCE_INITIAL_DELTA",
    "cosine_loss",
    "nac_delta",
    "nac_loss",
    "nac_norm_stats",
    "pedcc_loss",
    "pod_loss",
    "sc_loss",
]

#: alpha of the NaC schedule delta(e, M) = alpha * e * M (POD paper, section 3.1.3).
NAC_ALPHA = 0.01
#: Paper: M, the mean feature norm, starts at 0.05 (POD paper, after eq. 16).
NAC_INITIAL_MEAN_NORM = 0.05
#: Reference code: delta itself starts at 0.05 (train.py, ``delta = 0.05``).
NAC_REFERENCE_INITIAL_DELTA = 0.05

_VARIANTS = ("paper", "reference")
_TINY = 1e-12  # the paper's epsilon (eq. 10-11); also the floor of every norm's value


# --------------------------------------------------------------------------- helpers


def _check_variant(variant: str) -> None:
    if variant not in _VARIANTS:
        raise ValueError(f"`variant` must be one of {_VARIANTS}, got {variant!r}.")


def _unit_rows(x: jax.Array) -> jax.Array:
    """``x / max(||x||, 1e-12)`` per row; zero gradient for rows below the norm floor."""
    return normalize_rows(x, lambda n: jnp.maximum(n, _TINY))


def _prepare(features, labels, centroids, where=None):
    """Checks (features, labels, centroids, where); returns x, y, the centroids in x's
    dtype and the mask. Masked rows of x are zeroed (any padding values, NaN included,
    then leave no trace in the value or the gradient)."""
    x, p = check_features_and_rows(features, centroids, "centroids")
    where = check_where(where, x.shape[0])
    if where is not None:
        x = jnp.where(where[:, None], x, 0.0)
    y = check_labels(labels, x.shape[0], num_classes=p.shape[0], where=where)
    return x, y, p.astype(x.dtype), where


def _masked_rows(values: jax.Array, where: jax.Array | None) -> jax.Array:
    """A per-sample loss with ``where``: 0 and no gradient on masked rows (optax's rule)."""
    return values if where is None else jnp.where(where, values, 0.0)


def _check_delta(delta, dtype) -> jax.Array:
    if isinstance(delta, (jax.Array, np.ndarray)) or hasattr(delta, "aval"):
        delta = jnp.asarray(delta)
        if delta.ndim != 0:
            raise ValueError(
                f"`delta` must be a scalar, got shape {tuple(delta.shape)}; "
                f"compute it with nac_delta(...)."
            )
    check_positive(delta, "delta", allow_zero=True)
    return jnp.asarray(delta, dtype)


# --------------------------------------------------------------------------- losses


def cosine_loss(features: ArrayLike, labels: ArrayLike, centroids: ArrayLike, *,
                eps: float = _TINY, where: ArrayLike | None = None) -> jax.Array:
    r"""Cosine loss of each sample to its class centroid (POD paper, eq. 9-11).

    .. math::

        \ell_i = \left(1 - \frac{x_i \cdot \tilde p_{y_i}}{\|x_i\| + \varepsilon}\right)^2,
        \qquad L_{Cosine} = \frac1N \sum_i \ell_i

    with :math:`\tilde p` the unit-length centroid and :math:`\varepsilon =
    10^{-12}` (eq. 11). A zero feature gives loss 1 and a zero gradient (as
    does any feature of norm below ``sqrt(eps)`` of the compute dtype).

    Args:
      features: (B, n) latent features x (FC1's output, not normalised).
      labels: (B,) integer class indices in [0, k).
      centroids: (k, n) PEDCC rows (normalised inside).
      eps: the denominator's epsilon.
      where: optional (B,) bool mask; a False row gives 0 and no gradient, whatever
        its label (optax's meaning: e.g. the padding rows of a last batch).

    Returns:
      (B,) per-sample loss; ``.mean()`` is eq. 9.

    >>> p = pedcc(3, 4)
    >>> x = jnp.asarray(np.stack([p[0], -p[1]]), jnp.float32)
    >>> print(np.round(np.asarray(cosine_loss(x, jnp.array([0, 1]), p)), 4))
    [0. 4.]
    """
    x, y, p, where = _prepare(features, labels, centroids, where)
    check_positive(eps, "eps")
    return _masked_rows(_cosine_core(x, y, p, eps), where)


@jax.jit
def _cosine_core(x, y, p, eps):
    # The cores are jitted so that eager calls compile once instead of op by op;
    # under an outer jit they are inlined. Arguments are checked by the callers.
    y, valid = clip_labels(y, p.shape[0])
    cos = jnp.sum(normalize_rows(x, lambda n: n + eps) * take_rows(_unit_rows(p), y), axis=-1)
    return nan_rows((1.0 - cos) ** 2, valid)


def nac_loss(features: ArrayLike, labels: ArrayLike, centroids: ArrayLike, delta: ArrayLike,
             *, variant: str = "paper", where: ArrayLike | None = None) -> jax.Array:
    r"""Norm-adaptive Cosine (NaC) loss (POD paper, eqs. 16-17).

    .. math::

        \cos_{Na}\theta_{y_i} = \frac{x_i \cdot \tilde p_{y_i}}{\|x_i\| + \delta}
        = \frac{\cos\theta_{y_i}}{1 + \delta / \|x_i\|},
        \qquad \ell_i = (1 - \cos_{Na}\theta_{y_i})^2

    ``variant="reference"`` uses the authors' code (``NaCLoss`` in
    train.py): the denominator is the norm of x with delta appended,
    :math:`\sqrt{\|x_i\|^2 + \delta^2}`. Both reduce to the cosine loss at
    delta = 0. The denominator is floored at 1e-12, so x = 0 with delta = 0
    gives loss 1, not NaN, and a zero gradient.

    Args:
      features: (B, n) latent features x (not normalised).
      labels: (B,) integer class indices.
      centroids: (k, n) PEDCC rows (normalised inside).
      delta: scalar >= 0, the adaptive additional value; see :func:`nac_delta`.
      variant: ``"paper"`` or ``"reference"``.
      where: optional (B,) bool mask; a False row gives 0 and no gradient, whatever
        its label (optax's meaning: e.g. the padding rows of a last batch).

    Returns:
      (B,) per-sample loss; ``.mean()`` is eq. 17.

    >>> p = pedcc(3, 4)
    >>> x = jnp.asarray(3.0 * p[:1], jnp.float32)  # on its centroid, norm 3
    >>> y = jnp.array([0])
    >>> print(f"{float(nac_loss(x, y, p, 1.0)[0]):.4f}",
    ...       f"{float(nac_loss(x, y, p, 1.0, variant='reference')[0]):.4f}")
    0.0625 0.0026
    """
    _check_variant(variant)
    x, y, p, where = _prepare(features, labels, centroids, where)
    return _masked_rows(_nac_core(x, y, p, _check_delta(delta, x.dtype), variant), where)


@functools.partial(jax.jit, static_argnums=(4,))
def _nac_core(x, y, p, delta, variant):
    y, valid = clip_labels(y, p.shape[0])
    if variant == "paper":
        def denom(n):
            return jnp.maximum(n + delta, _TINY)
    else:
        def denom(n):
            # sqrt(n^2 + delta^2) without squaring n (no overflow for huge features).
            return jnp.maximum(jnp.hypot(n, delta), _TINY)
    cos_na = jnp.sum(normalize_rows(x, denom) * take_rows(_unit_rows(p), y), axis=-1)
    return nan_rows((1.0 - cos_na) ** 2, valid)


def sc_loss(features: ArrayLike, labels: ArrayLike, centroids: ArrayLike, *,
            variant: str = "paper", where: ArrayLike | None = None,
            axis_name: AxisName = None) -> jax.Array:
    r"""Self-correlation Constraint (SC) loss (POD paper, eqs. 18-19).

    .. math::

        D = \tilde X - \tilde P_y \in \mathbb{R}^{B \times n}, \qquad
        R = \frac{1}{B-1} D^\top D, \qquad
        L_{SC} = \sum_{i=1}^n \sum_{j \ne i} R_{ij}^2

    where row b of :math:`\tilde X` is :math:`x_b / \|x_b\|` and of
    :math:`\tilde P_y` the unit centroid of its class. As in eq. 19, R is
    not mean-centred and not divided by the diagonal: it is the raw second
    moment of the residual D (the paper calls it a "correlation matrix").
    ``variant="reference"`` divides the sum by (n - 1), as ``SCLoss`` in the
    authors' train.py does.

    Args:
      features: (B, n) latent features x.
      labels: (B,) integer class indices.
      centroids: (k, n) PEDCC rows (normalised inside).
      variant: ``"paper"`` or ``"reference"``.
      where: optional (B,) bool mask; masked rows are left out and B counts
        only valid rows (B - 1 is floored at 1).
      axis_name: a mapped axis (``shard_map``/``pmap``) over which the batch
        is split; R and B are then summed over it, giving the loss of the
        global batch.

    Returns:
      scalar.

    >>> p = pedcc(3, 8)
    >>> x = jnp.asarray(p[[0, 1, 2, 0]], jnp.float32)  # features on their centroids
    >>> print(f"{float(sc_loss(x, jnp.array([0, 1, 2, 0]), p)):.4f}")
    0.0000
    """
    _check_variant(variant)
    x, y, p, where = _prepare(features, labels, centroids, where)
    if where is None and axis_name is None and x.shape[0] < 2:
        raise ValueError(
            f"`features` must hold at least 2 samples for the (B - 1) normalisation "
            f"of eq. 19, got batch {x.shape[0]}."
        )
    return _sc_core(x, y, p, where, variant, axis_name)


@functools.partial(jax.jit, static_argnums=(4, 5))
def _sc_core(x, y, p, where, variant, axis_name):
    y, valid = clip_labels(y, p.shape[0])
    d = _unit_rows(x) - take_rows(_unit_rows(p), y)
    if where is None:
        count = jnp.asarray(x.shape[0], x.dtype)
    else:
        d = jnp.where(where[:, None], d, 0.0)
        count = jnp.sum(where).astype(x.dtype)
    gram = psum(jax.lax.dot_general(d, d, (((0,), (0,)), ((), ())),
                                    out_sharding=replicated(d)), axis_name)
    count = psum(count, axis_name)
    r = gram / jnp.maximum(count - 1.0, 1.0)
    n = r.shape[0]
    off = r * (1.0 - jnp.eye(n, dtype=r.dtype))  # exact zero diagonal, no cancellation
    loss = jnp.sum(off * off)
    if variant == "reference":
        loss = loss / max(n - 1, 1)
    return nan_unless_all(loss, valid, where, axis_name)


def pod_loss(features: ArrayLike, labels: ArrayLike, centroids: ArrayLike, delta: ArrayLike,
             *, lam: float = 1.0, variant: str = "paper", where: ArrayLike | None = None,
             axis_name: AxisName = None) -> jax.Array:
    r"""POD loss = NaC + lambda * SC (POD paper, eq. 20).

    .. math::

        L_{POD} = \frac1N \sum_i (1 - \cos_{Na}\theta_{y_i})^2 + \lambda\, L_{SC}

    alpha = 0.01 (in ``delta``, see :func:`nac_delta`) and lambda = 1 in
    every table of the paper. ``variant`` is passed to both terms.

    Args:
      features: (B, n) latent features x.
      labels: (B,) integer class indices.
      centroids: (k, n) PEDCC rows.
      delta: scalar >= 0, NaC's adaptive additional value.
      lam: weight lambda of the SC term.
      variant: ``"paper"`` or ``"reference"``.
      where: optional (B,) bool mask of valid rows.
      axis_name: mapped batch axis for a data-parallel global-batch loss.

    Returns:
      scalar.

    >>> p = pedcc(3, 8)
    >>> x = jnp.asarray(2.0 * p[[0, 1, 2]], jnp.float32)
    >>> print(f"{float(pod_loss(x, jnp.array([0, 1, 2]), p, 0.0)):.4f}")
    0.0000
    """
    _check_variant(variant)
    if not isinstance(lam, jax.core.Tracer):
        check_positive(lam, "lam", allow_zero=True)
    x, y, p, where = _prepare(features, labels, centroids, where)
    if where is None and axis_name is None and x.shape[0] < 2:
        raise ValueError(
            f"`features` must hold at least 2 samples for the (B - 1) normalisation "
            f"of eq. 19, got batch {x.shape[0]}."
        )
    return _pod_core(x, y, p, _check_delta(delta, x.dtype), lam, where, variant, axis_name)


@functools.partial(jax.jit, static_argnums=(6, 7))
def _pod_core(x, y, p, delta, lam, where, variant, axis_name):
    per_row = _nac_core(x, y, p, delta, variant)
    if where is not None:  # masked rows may carry any label: keep their NaN out
        per_row = jnp.where(where, per_row, 0.0)
    nac = masked_mean(per_row, where, axis_name)
    return nac + lam * _sc_core(x, y, p, where, variant, axis_name)


def pedcc_loss(features: ArrayLike, labels: ArrayLike, centroids: ArrayLike, *,
               scale: float = 15.0, margin: float = 0.5, lam: float = 1.0, root: float = 1.0,
               variant: str = "paper", where: ArrayLike | None = None,
               axis_name: AxisName = None) -> jax.Array:
    r"""PEDCC-Loss baseline: AM-Softmax on fixed PEDCC weights + MSE (POD paper, eqs. 2-4, 6).

    .. math::

        L_{AM} &= -\frac1N \sum_i \log
          \frac{e^{s(\cos\theta_{y_i} - m)}}
               {e^{s(\cos\theta_{y_i} - m)} + \sum_{j \ne y_i} e^{s \cos\theta_j}} \\
        L_{MSE} &= \frac{1}{2N} \sum_i \|\tilde x_i - \tilde p_{y_i}\|^2 \\
        L &= L_{AM} + \lambda \sqrt[r]{L_{MSE}}

    with :math:`\cos\theta_j` the cosine between x and the unit centroid j
    and :math:`\tilde x` the unit feature (eq. 6: "the PEDCC center and the
    sample feature vector are normalized"). The paper's constraint factor
    ``n >= 1`` of eq. 4 is ``root`` here (to avoid a clash with the feature
    dimension n). The paper gives m = 0.5 (Table IV) but neither s nor
    the root; the defaults s = 15, r = 1 are the PEDCC-Loss reference code's
    (``config/defaults.py``: ``S=15.0, M=0.5, N=1``).

    ``variant="reference"`` reproduces that code (``engine/trainer.py``):
    MSE with ``reduction='sum'`` (sum over batch and dimensions, no 1/(2N))
    raised to the *power* ``root`` instead of its root. At r = 1 the two
    differ only by the factor 2N.

    Args:
      features: (B, n) latent features x.
      labels: (B,) integer class indices.
      centroids: (k, n) PEDCC rows (normalised inside).
      scale: s of AM-Softmax.
      margin: additive cosine margin m.
      lam: weight lambda of the MSE term.
      root: the constraint factor of eq. 4 (>= 1).
      variant: ``"paper"`` or ``"reference"``.
      where: optional (B,) bool mask of valid rows.
      axis_name: mapped batch axis for a data-parallel global-batch loss.

    Returns:
      scalar.

    >>> p = pedcc(3, 8)
    >>> x = jnp.asarray(p[[0, 1, 2]], jnp.float32)  # on their centroids: MSE 0
    >>> print(f"{float(pedcc_loss(x, jnp.array([0, 1, 2]), p)):.4f}")
    0.0000
    >>> y = jnp.array([1, 2, 0])  # each on another class's centroid: CE ~ 30, MSE 3/2
    >>> print(f"{float(pedcc_loss(x, y, p)):.4f}")
    31.5000
    """
    _check_variant(variant)
    for name, value in (("scale", scale), ("lam", lam), ("margin", margin)):
        if not isinstance(value, jax.core.Tracer):
            check_positive(value, name, allow_zero=name != "scale")
    if not isinstance(root, jax.core.Tracer) and not float(root) >= 1.0:
        raise ValueError(f"`root` (the constraint factor n of eq. 4) must be >= 1, got {root!r}.")
    x, y, p, where = _prepare(features, labels, centroids, where)
    return _pedcc_core(x, y, p, scale, margin, lam, root, where, variant, axis_name)


@functools.partial(jax.jit, static_argnums=(8, 9))
def _pedcc_core(x, y, p, scale, margin, lam, root, where, variant, axis_name):
    y, valid = clip_labels(y, p.shape[0])
    p = _unit_rows(p)
    xt = _unit_rows(x)
    cos = xt @ p.T
    logits = scale * (cos - margin * jax.nn.one_hot(y, p.shape[0], dtype=cos.dtype))
    am = masked_mean(optax.softmax_cross_entropy_with_integer_labels(logits, y), where,
                      axis_name)
    sq = jnp.sum((xt - take_rows(p, y)) ** 2, axis=-1)
    if variant == "paper":
        mse = 0.5 * masked_mean(sq, where, axis_name)
        # d/dm m^(1/r) is infinite at m = 0 for r > 1: take the gradient there as 0.
        safe = jnp.where(mse > 0, mse, 1.0)
        term = jnp.where(mse > 0, safe ** (1.0 / root), 0.0)
    else:
        mse = psum(jnp.sum(sq if where is None else jnp.where(where, sq, 0.0)), axis_name)
        term = mse ** root
    return nan_unless_all(am + lam * term, valid, where, axis_name)


# --------------------------------------------------------------------------- delta schedule


def nac_delta(epoch: ArrayLike, mean_norm: ArrayLike = NAC_INITIAL_MEAN_NORM, *,
              alpha: float = NAC_ALPHA, variant: str = "paper") -> jax.Array:
    r"""The adaptive additional value delta(e, M) of NaC (POD paper, after eq. 16).

    .. math::

        \delta(e, M) = \alpha \cdot e \cdot M

    ``epoch`` is e, 1-based (the first training epoch is e = 1), and M the
    mean L2 norm of the latent features x over all training samples of the
    previous epoch, :data:`NAC_INITIAL_MEAN_NORM` = 0.05 before any epoch
    (the paper's initial value, which only matters if e counts from 1). So
    the paper's first epoch uses :math:`\delta = 0.01 \cdot 1 \cdot 0.05`.

    ``variant="reference"`` is what train.py does instead: delta is 0.05
    (:data:`NAC_REFERENCE_INITIAL_DELTA`) in the first epoch and afterwards
    :math:`\alpha \cdot (e - 1) \cdot M` with M the mean norm of the
    *logits* :math:`x P^\top` of the previous epoch (the code's
    ``alpha * (epoch + 1) * mean`` with a 0-based ``epoch`` that has just
    ended). Compute M for either variant with :func:`nac_norm_stats`.

    Args:
      epoch: e >= 1, the 1-based index of the epoch about to be trained
        (int or traced integer/float scalar).
      mean_norm: M >= 0 from the previous epoch (ignored in the reference
        variant's first epoch).
      alpha: the weight coefficient alpha (0.01 in the paper).
      variant: ``"paper"`` or ``"reference"``.

    Returns:
      scalar array, delta.

    >>> print(f"{float(nac_delta(1)):.6f} {float(nac_delta(3, 20.0)):.2f}",
    ...       f"{float(nac_delta(1, 20.0, variant='reference')):.2f}",
    ...       f"{float(nac_delta(3, 20.0, variant='reference')):.2f}")
    0.000500 0.60 0.05 0.40
    """
    _check_variant(variant)
    if not isinstance(epoch, jax.core.Tracer):
        if float(np.asarray(epoch)) < 1:
            raise ValueError(
                f"`epoch` is 1-based (the first epoch is 1), got {epoch!r}; pass epoch + 1 "
                f"if you count from 0."
            )
    for name, value in (("mean_norm", mean_norm), ("alpha", alpha)):
        if not isinstance(value, jax.core.Tracer):
            check_positive(value, name, allow_zero=True)
    e = jnp.asarray(epoch)
    e = e.astype(jnp.result_type(float)) if not jnp.issubdtype(e.dtype, jnp.floating) else e
    if variant == "paper":
        return alpha * e * mean_norm
    return jnp.where(e <= 1, NAC_REFERENCE_INITIAL_DELTA, alpha * (e - 1) * mean_norm)


def nac_norm_stats(features: ArrayLike, centroids: ArrayLike | None = None, *,
                   variant: str = "paper", where: ArrayLike | None = None,
                   axis_name: AxisName = None) -> tuple[jax.Array, jax.Array]:
    r"""Sum and count of the norms whose epoch mean is M in :func:`nac_delta`.

    .. math::

        \text{paper: } \sum_b \|x_b\|, \qquad
        \text{reference: } \sum_b \|x_b P^\top\|, \qquad \text{and } \#\{b\}

    Accumulate both over an epoch (they add across batches and devices) and
    pass ``M = total / count`` to the next epoch's :func:`nac_delta`. The
    reference variant uses the raw logits :math:`x P^\top` of the authors'
    ``CosineLinear_PEDCC`` (no normalisation), not the cosine logits of
    mfdjax's POD head, so it needs ``centroids``.

    Args:
      features: (B, n) latent features x.
      centroids: (k, n) PEDCC rows; required for ``variant="reference"``.
      variant: ``"paper"`` or ``"reference"``.
      where: optional (B,) bool mask of valid rows.
      axis_name: mapped batch axis to sum over.

    Returns:
      ``(total, count)``, two scalars.

    >>> total, count = nac_norm_stats(jnp.array([[3.0, 4.0], [0.0, 1.0]]))
    >>> print(float(total), float(count))
    6.0 2.0
    """
    _check_variant(variant)
    x = as_float_array(features, "features")
    check_ndim(x, "features", 2, "(batch, dim)")
    if variant == "reference":
        if centroids is None:
            raise ValueError("`centroids` is required for variant='reference' "
                             "(M is the mean norm of the logits x @ centroids.T).")
        p = check_array(centroids, "centroids")
        check_floating(p, "centroids")
        check_ndim(p, "centroids", 2, "(num_classes, dim)")
        if p.shape[1] != x.shape[1]:
            raise ValueError(f"`centroids` must have {x.shape[1]} columns like `features`, "
                             f"got shape {tuple(p.shape)}.")
        x = x @ _unit_rows(p.astype(x.dtype)).T
    norms = safe_norm(x)
    where = check_where(where, x.shape[0])
    if where is None:
        total, count = jnp.sum(norms), jnp.asarray(x.shape[0], norms.dtype)
    else:
        total = jnp.sum(jnp.where(where, norms, 0.0))
        count = jnp.sum(where).astype(norms.dtype)
    return psum(total, axis_name), psum(count, axis_name)
