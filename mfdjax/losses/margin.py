"""Softmax-family losses the papers' tables compare against, and W-Softmax.

Every margin loss here takes ``features`` of shape (B, D), class ``weights`` of
shape (K, D) (one row per class, no bias) and integer ``labels`` of shape (B,),
and returns the per-sample loss, shape (B,): the caller chooses the reduction,
as optax does. Half-precision inputs are computed in float32.

Families (sources in each docstring):

* :func:`softmax_cross_entropy` -- optax's integer-label softmax CE.
* :func:`am_softmax_loss`, :func:`arcface_loss`, :func:`combined_margin_loss`
  -- cosine-margin losses on L2-normalised features and weights.
* :func:`l_softmax_loss` -- large-margin softmax on unnormalised logits.
* :func:`w_softmax_loss`, :func:`w_softmax_weights`, :func:`w_softmax_logits`,
  :func:`min_fc_units` -- W-Softmax (the W-Softmax paper, sections 3-4).
* :func:`center_loss`, :func:`center_update` -- Center loss and its centre rule.
* :func:`complement_entropy` -- the quantity COT *maximises*.

The W-Softmax paper is X. Li and W. Wang, "Learning Discriminative Features Via
Weights-biased Softmax Loss" (its text lost eq. 1 in extraction; the loss is
reconstructed from the properties the paper states, each tested).

Numerics. Normalisation divides by ``sqrt(max(||v||^2, eps))``, and a row whose
norm is at most ``sqrt(eps)`` of the compute dtype (3.5e-4 in float32; an
all-zero feature or weight row) keeps that value but gets a zero gradient
(instead of ~1/sqrt(eps) = 1e6, which is ``inf`` in float16). Where an angle enters
(``cos(theta + m)``), ``sin(theta)`` is computed as ``sqrt(max(1 - cos^2,
eps))`` so the derivative stays finite at ``cos = +-1`` (the true derivative of
``arccos`` is infinite there).

Labels. Concrete labels outside [0, K) raise a ValueError in every function.
Traced labels (under ``jax.jit``) follow one rule in every loss: a row with an
out-of-range label gives NaN with a zero gradient; the other rows are unchanged.
:func:`center_update` (not a loss) ignores such rows, as it ignores masked rows.
"""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mfdjax.losses._checks import (
    as_float_array,
    check_array,
    check_features_and_rows,
    check_floating,
    check_labels,
    check_ndim,
    check_positive,
    compute_dtype,
)
from mfdjax.losses._numerics import clip_labels, nan_rows, norm_floor, normalize_rows

__all__ = [
    "am_softmax_loss",
    "arcface_loss",
    "center_loss",
    "center_update",
    "combined_margin_loss",
    "complement_entropy",
    "l_softmax_loss",
    "min_fc_units",
    "softmax_cross_entropy",
    "w_softmax_logits",
    "w_softmax_loss",
    "w_softmax_weights",
]


def softmax_cross_entropy(logits, labels) -> jax.Array:
    r"""Softmax cross entropy with integer labels, per sample (optax's, with checks).

    .. math::

       \ell_i = -\log \frac{e^{z_{i y_i}}}{\sum_j e^{z_{ij}}}

    The first term of eq. 7 of the MFD paper (and the baseline of every table).
    Computed by ``optax.losses.softmax_cross_entropy_with_integer_labels``; this
    wrapper adds the argument checks and the label rule of this module: concrete
    labels outside [0, K) raise a ValueError, traced ones give NaN rows (optax
    alone gives NaN for K and a finite wrong value for -1).

    Args:
      logits: (..., K) unnormalised scores (floating).
      labels: (...) integer labels in [0, K).

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
    flat = check_labels(labels.reshape(-1), labels.size, logits.shape[-1])
    y, valid = clip_labels(flat.reshape(labels.shape), logits.shape[-1])
    return nan_rows(optax.losses.softmax_cross_entropy_with_integer_labels(logits, y), valid)


# Squared-norm floor used by the safe normalisation and the safe sine.
_NORM_EPS = 1e-12
_SIN_EPS = 1e-12


# --------------------------------------------------------------------------- #
# Shared helpers
# --------------------------------------------------------------------------- #
def _l2_normalize(x: jax.Array) -> jax.Array:
    """``x / sqrt(max(||x||^2, 1e-12))`` per row; rows below the norm floor get no gradient."""
    return normalize_rows(x, lambda n: jnp.sqrt(jnp.maximum(n * n, _NORM_EPS)))


def _check_fwl(features, weights, labels):
    """Validates the (features, weights, labels) triple; returns float arrays + labels."""
    features, weights = check_features_and_rows(features, weights, "weights")
    weights = weights.astype(compute_dtype(weights))
    if weights.shape[0] < 2:
        raise ValueError(f"`weights` needs at least 2 classes (rows), got {weights.shape[0]}.")
    labels = check_labels(labels, features.shape[0], weights.shape[0])
    dtype = compute_dtype(features, weights)
    labels, valid = clip_labels(labels, weights.shape[0])
    return features.astype(dtype), weights.astype(dtype), labels, valid


def _ce(logits, labels):
    """optax's integer-label CE on already checked, in-range labels."""
    return optax.losses.softmax_cross_entropy_with_integer_labels(logits, labels)


def _cosines(features, weights):
    """cos(theta_{ij}) between every feature row and every class row, (B, K), in [-1, 1]."""
    cos = _l2_normalize(features) @ _l2_normalize(weights).T
    return jnp.clip(cos, -1.0, 1.0)


def _safe_sin(cos):
    """sin(theta) = sqrt(1 - cos^2) for theta in [0, pi], with a finite derivative at +-1."""
    return jnp.sqrt(jnp.maximum(1.0 - cos * cos, _SIN_EPS))


def _replace_target(logits, labels, target):
    """Puts ``target`` (B,) at ``logits[i, labels[i]]``."""
    onehot = jax.nn.one_hot(labels, logits.shape[-1], dtype=bool)
    return jnp.where(onehot, target[:, None], logits)


def _take_target(x, labels):
    return jnp.take_along_axis(x, labels[:, None], axis=-1)[:, 0]


def _check_number(value, name, *, low=None, high=None, low_inclusive=True):
    """Range check on a Python-number hyper-parameter (skipped for traced values)."""
    if isinstance(value, jax.core.Tracer):
        return
    v = float(np.asarray(value))
    ok = np.isfinite(v)
    if ok and low is not None:
        ok = v >= low if low_inclusive else v > low
    if ok and high is not None:
        ok = v < high
    if not ok:
        lo = "" if low is None else (f"{'>=' if low_inclusive else '>'} {low}")
        hi = "" if high is None else f"< {high}"
        rng = " and ".join(s for s in (lo, hi) if s)
        raise ValueError(f"`{name}` must be finite{' and ' + rng if rng else ''}, got {value!r}.")


# --------------------------------------------------------------------------- #
# Cosine-margin losses
# --------------------------------------------------------------------------- #
def am_softmax_loss(features, weights, labels, *, scale: float = 30.0,
                    margin: float = 0.35) -> jax.Array:
    r"""Additive-margin softmax (AM-Softmax / CosFace) loss, per sample.

    .. math::

       \ell_i = -\log \frac{e^{s(\cos\theta_{y_i} - m)}}
                {e^{s(\cos\theta_{y_i} - m)} + \sum_{j \ne y_i} e^{s \cos\theta_j}},
       \qquad \cos\theta_j = \frac{x_i \cdot w_j}{\|x_i\| \|w_j\|}.

    Features and class weights are L2-normalised internally (bias-free).

    Args:
      features: (B, D) float features.
      weights: (K, D) class weights, one row per class.
      labels: (B,) integer labels in [0, K).
      scale: s > 0. The AM-Softmax paper uses s = 30.
      margin: additive cosine margin m >= 0 (paper: 0.35).

    Returns:
      (B,) per-sample loss (float32 for half-precision inputs).

    References:
      Wang, Cheng, Liu, Liu, "Additive Margin Softmax for Face Verification",
      IEEE SPL 2018, eq. 5 and section 3 (s = 30, m = 0.35). m = 0.35 is the
      setting of the POD paper's Table 4 and the MFD paper's Table 6, which do
      not state s.

    Example:
      >>> import jax.numpy as jnp
      >>> x = jnp.array([[1.0, 0.0]]); w = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> round(float(am_softmax_loss(x, w, jnp.array([0]), scale=1.0, margin=0.0)[0]), 4)
      0.3133
    """
    features, weights, labels, valid = _check_fwl(features, weights, labels)
    check_positive(scale, "scale")
    _check_number(margin, "margin", low=0.0)
    cos = _cosines(features, weights)
    target = _take_target(cos, labels) - margin
    return nan_rows(_ce(scale * _replace_target(cos, labels, target), labels), valid)


ArcOverflow = Literal["insightface", "easy_margin", "none"]


def arcface_loss(features, weights, labels, *, scale: float = 64.0, margin: float = 0.5,
                 overflow: ArcOverflow = "insightface") -> jax.Array:
    r"""Additive angular margin (ArcFace) loss, per sample.

    .. math::

       \ell_i = -\log \frac{e^{s \psi(\theta_{y_i})}}
                {e^{s \psi(\theta_{y_i})} + \sum_{j \ne y_i} e^{s \cos\theta_j}},
       \qquad \psi(\theta) = \cos(\theta + m)
                = \cos\theta \cos m - \sin\theta \sin m .

    ``cos(theta + m)`` is expanded as above with ``sin(theta) = sqrt(max(1 -
    cos^2, eps))``, so no ``arccos`` is taken and the gradient stays finite at
    ``cos(theta) = +-1`` (arccos has an infinite derivative there).

    When ``theta + m > pi``, ``cos(theta + m)`` rises again with theta, which
    would reward moving a sample *away* from its class. ``overflow`` chooses
    the treatment:

    * ``"insightface"`` (default; the authors' public code, ``easy_margin=False``):
      :math:`\psi(\theta) = \cos\theta - m \sin m` for
      :math:`\theta > \pi - m` (i.e. ``cos(theta) <= cos(pi - m)``), a
      CosFace-style additive margin ``mm = sin(pi - m) * m``. psi is then
      monotonically decreasing on [0, pi]; it is not continuous: at
      theta = pi - m it steps down from -1 to ``-cos m - m sin m`` (by about
      m^2 / 2, 0.117 for m = 0.5), as in insightface.
    * ``"easy_margin"``: :math:`\psi(\theta) = \cos\theta` when
      :math:`\cos\theta \le 0` (insightface's ``easy_margin=True``).
    * ``"none"``: the raw :math:`\cos(\theta + m)` everywhere.

    Args:
      features: (B, D) float features.
      weights: (K, D) class weights, one row per class.
      labels: (B,) integer labels in [0, K).
      scale: s > 0 (ArcFace paper: 64).
      margin: angular margin m in [0, pi) (ArcFace paper: 0.5).
      overflow: ``"insightface"`` | ``"easy_margin"`` | ``"none"``, see above.

    Returns:
      (B,) per-sample loss.

    References:
      Deng, Guo, Xue, Zafeiriou, "ArcFace: Additive Angular Margin Loss for Deep
      Face Recognition", CVPR 2019, eq. 3 and section 3.1 (s = 64, m = 0.5);
      insightface ``ArcFace``/``ArcMarginProduct`` for the overflow rule.
      m = 0.5 as in the POD paper's Table 4 / the MFD paper's Table 6 (no s
      given there).

    Example:
      >>> import jax.numpy as jnp
      >>> x = jnp.array([[1.0, 0.0]]); w = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> round(float(arcface_loss(x, w, jnp.array([0]), scale=1.0, margin=0.0)[0]), 4)
      0.3133
    """
    features, weights, labels, valid = _check_fwl(features, weights, labels)
    check_positive(scale, "scale")
    _check_number(margin, "margin", low=0.0, high=math.pi)
    if overflow not in ("insightface", "easy_margin", "none"):
        raise ValueError(
            f"`overflow` must be 'insightface', 'easy_margin' or 'none', got {overflow!r}.")
    cos = _cosines(features, weights)
    c = _take_target(cos, labels)
    # jnp (not math) so that the margin may be traced (e.g. a margin warm-up schedule).
    cos_m, sin_m = jnp.cos(margin).astype(c.dtype), jnp.sin(margin).astype(c.dtype)
    psi = c * cos_m - _safe_sin(c) * sin_m
    if overflow == "insightface":
        psi = jnp.where(c > -cos_m, psi, c - sin_m * margin)  # cos(pi - m) = -cos m
    elif overflow == "easy_margin":
        psi = jnp.where(c > 0, psi, c)
    return nan_rows(_ce(scale * _replace_target(cos, labels, psi), labels), valid)


def combined_margin_loss(features, weights, labels, *, scale: float = 64.0,
                         m1: float = 0.9, m2: float = 0.4, m3: float = 0.15,
                         clip_eps: float = 1e-6) -> jax.Array:
    r"""Combined margin loss (SphereFace + ArcFace + CosFace margins), per sample.

    .. math::

       \ell_i = -\log \frac{e^{s(\cos(m_1\theta_{y_i} + m_2) - m_3)}}
                {e^{s(\cos(m_1\theta_{y_i} + m_2) - m_3)} + \sum_{j\ne y_i} e^{s\cos\theta_j}} .

    ``(m1, m2, m3) = (1, 0, m)`` is AM-Softmax, ``(1, m, 0)`` is ArcFace with
    ``overflow="none"``, ``(1, 0, 0)`` is the normalised, scaled softmax.

    Numerics: with ``m1 == 1`` (a Python number) ``cos(theta + m2)`` is
    expanded exactly as in :func:`arcface_loss` (no arccos). Otherwise
    ``theta = arccos(clip(cos, -1 + clip_eps, 1 - clip_eps))``: the true
    derivative ``m1 sin(m1 theta + m2) / sin(theta)`` is infinite at
    ``theta = 0`` unless ``m2 = 0``, so the clip (zero gradient in the clipped
    sliver) is what keeps it finite. As in insightface's combined-margin code,
    no special treatment when ``m1 theta + m2 > pi``.

    Args:
      features: (B, D) float features.
      weights: (K, D) class weights, one row per class.
      labels: (B,) integer labels in [0, K).
      scale: s > 0 (64).
      m1: multiplicative angular margin > 0 (0.9).
      m2: additive angular margin >= 0 (0.4).
      m3: additive cosine margin >= 0 (0.15).
      clip_eps: the arccos clip when m1 != 1.

    Returns:
      (B,) per-sample loss.

    References:
      Deng et al., "ArcFace", CVPR 2019, eq. 4 (combined margin). The defaults
      are the POD paper's Table 4 setting "CM(m1=0.9, m2=0.4, m3=0.15)"; the
      scale is not given there, s = 64 is ArcFace's.

    Example:
      >>> import jax.numpy as jnp
      >>> x = jnp.array([[1.0, 0.0]]); w = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> l = combined_margin_loss(x, w, jnp.array([0]), scale=1.0, m1=1.0, m2=0.0, m3=0.0)
      >>> round(float(l[0]), 4)
      0.3133
    """
    features, weights, labels, valid = _check_fwl(features, weights, labels)
    check_positive(scale, "scale")
    check_positive(m1, "m1")
    _check_number(m2, "m2", low=0.0, high=math.pi)
    _check_number(m3, "m3", low=0.0)
    _check_number(clip_eps, "clip_eps", low=0.0, high=1.0, low_inclusive=False)
    cos = _cosines(features, weights)
    c = _take_target(cos, labels)
    if not isinstance(m1, jax.core.Tracer) and float(m1) == 1.0:
        psi = c * jnp.cos(m2).astype(c.dtype) - _safe_sin(c) * jnp.sin(m2).astype(c.dtype)
    else:
        theta = jnp.arccos(jnp.clip(c, -1.0 + clip_eps, 1.0 - clip_eps))
        psi = jnp.cos(m1 * theta + m2)
    psi = psi - m3
    return nan_rows(_ce(scale * _replace_target(cos, labels, psi), labels), valid)


# --------------------------------------------------------------------------- #
# L-Softmax
# --------------------------------------------------------------------------- #
def _chebyshev(c: jax.Array, m: int) -> jax.Array:
    """cos(m theta) as the Chebyshev polynomial T_m(cos theta) (no arccos)."""
    t_prev, t = jnp.ones_like(c), c
    if m == 0:
        return t_prev
    for _ in range(m - 1):
        t_prev, t = t, 2.0 * c * t - t_prev
    return t


def l_softmax_loss(features, weights, labels, *, margin: int = 2,
                   lam: float = 0.0) -> jax.Array:
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
      weights: (K, D) class weights (not normalised).
      labels: (B,) integer labels in [0, K).
      margin: integer m >= 1 (the paper uses 2, 3, 4; default 2).
      lam: annealing weight >= 0 (0 = the paper's equation).

    Returns:
      (B,) per-sample loss.

    References:
      Liu, Wen, Yu, Yang, "Large-Margin Softmax Loss for Convolutional Neural
      Networks", ICML 2016, eqs. 4-6 and section 3.2 (optimisation, lambda).

    Example:
      >>> import jax.numpy as jnp
      >>> x = jnp.array([[1.0, 0.0]]); w = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> round(float(l_softmax_loss(x, w, jnp.array([0]), margin=1)[0]), 4)
      0.3133
    """
    features, weights, labels, valid = _check_fwl(features, weights, labels)
    if isinstance(margin, bool) or not isinstance(margin, (int, np.integer)) or margin < 1:
        raise ValueError(f"`margin` must be a Python integer >= 1 (the paper's m), got {margin!r}.")
    margin = int(margin)
    _check_number(lam, "lam", low=0.0)
    logits = features @ weights.T                                   # ||w_j|| ||x|| cos
    w_y = weights[labels]                                           # (B, D)
    norm_prod = jnp.sqrt(jnp.maximum(jnp.sum(features * features, -1), _NORM_EPS)
                         * jnp.maximum(jnp.sum(w_y * w_y, -1), _NORM_EPS))
    target = _take_target(logits, labels)                           # ||w_y|| ||x|| cos
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
    return nan_rows(_ce(_replace_target(logits, labels, f_y), labels), valid)


# --------------------------------------------------------------------------- #
# W-Softmax (Li and Wang, "Learning Discriminative Features Via Weights-biased
# Softmax Loss")
# --------------------------------------------------------------------------- #
def _check_alpha(alpha):
    _check_number(alpha, "alpha", low=0.0)


def w_softmax_weights(weights, labels, *, alpha: float) -> jax.Array:
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
      weights: (K, D) class weights, one row per class.
      labels: (B,) integer labels in [0, K).
      alpha: alpha >= 0 (the paper uses 0.5, 1, 1.5).

    Returns:
      (B, K, D) unit-length (except the degenerate case above) weight rows; a
      traced out-of-range label gives a NaN (K, D) block.

    References:
      Li and Wang, "Learning Discriminative Features Via Weights-biased Softmax
      Loss", section 4.2, eqs. 1, 10-12.
    """
    weights = as_float_array(weights, "weights")
    check_ndim(weights, "weights", 2, "(num_classes, dim) -- one row per class")
    labels = check_array(labels, "labels")
    check_ndim(labels, "labels", 1, "(batch,)")
    labels = check_labels(labels, labels.shape[0], weights.shape[0])
    _check_alpha(alpha)
    labels, valid = clip_labels(labels, weights.shape[0])
    w = _l2_normalize(weights)                                      # (K, D)
    w_y = w[labels]                                                 # (B, D)
    biased = _l2_normalize(w[None, :, :] + alpha * w_y[:, None, :])  # (B, K, D)
    onehot = jax.nn.one_hot(labels, w.shape[0], dtype=bool)[..., None]
    return jnp.where(valid[:, None, None], jnp.where(onehot, w_y[:, None, :], biased), jnp.nan)


def w_softmax_loss(features, weights, labels, *, alpha: float) -> jax.Array:
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
      weights: (K, D) class weights, one row per class, no bias.
      labels: (B,) integer labels in [0, K).
      alpha: alpha >= 0 (keyword-only, required; the paper's tables use 0.5, 1, 1.5).

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
      >>> round(float(w_softmax_loss(x, w, jnp.array([0]), alpha=0.0)[0]), 4)
      0.3133
    """
    features, weights, labels, valid = _check_fwl(features, weights, labels)
    _check_alpha(alpha)
    w = _l2_normalize(weights)
    z = features @ w.T                                              # (B, K)
    gram = w @ w.T                                                  # (K, K)
    z_y = _take_target(z, labels)                                   # (B,)
    g_y = gram[labels]                                              # (B, K): G[y_i, j]
    denom_sq = 1.0 + alpha * alpha + 2.0 * alpha * g_y
    num = z + alpha * z_y[:, None]
    # ||w^_j + alpha w^_y||^2 at or below the norm floor (w_j = -w_y, alpha = 1): the
    # value keeps the 1e-12 floor, the gradient is 0 (it would be ~1/sqrt(1e-12)).
    floor = norm_floor(denom_sq.dtype)
    small = denom_sq <= floor * floor
    live = jnp.where(small, 0.0, num) * jax.lax.rsqrt(jnp.where(small, 1.0, denom_sq))
    frozen = jax.lax.stop_gradient(num * jax.lax.rsqrt(jnp.maximum(denom_sq, _NORM_EPS)))
    f = jnp.where(small, frozen, live)
    f = _replace_target(f, labels, z_y)
    return nan_rows(_ce(f, labels), valid)


def w_softmax_logits(features, weights) -> jax.Array:
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
    features = as_float_array(features, "features")
    weights = as_float_array(weights, "weights")
    check_ndim(features, "features", 2, "(batch, dim)")
    check_ndim(weights, "weights", 2, "(num_classes, dim) -- one row per class")
    if features.shape[1] != weights.shape[1]:
        raise ValueError(
            f"`weights` must have shape (num_classes, {features.shape[1]}) to match "
            f"`features`, got {tuple(weights.shape)}.")
    dtype = compute_dtype(features, weights)
    return features.astype(dtype) @ _l2_normalize(weights.astype(dtype)).T


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


# --------------------------------------------------------------------------- #
# Center loss
# --------------------------------------------------------------------------- #
def _check_centers(features, labels, centers):
    features, centers = check_features_and_rows(features, centers, "centers")
    centers = centers.astype(compute_dtype(centers))
    labels = check_labels(labels, features.shape[0], centers.shape[0])
    labels, valid = clip_labels(labels, centers.shape[0])
    return features, labels, centers, valid


def center_loss(features, labels, centers, *, stop_center_gradient: bool = True) -> jax.Array:
    r"""Center loss, per sample: :math:`\ell_i = \tfrac12 \|x_i - c_{y_i}\|^2`, (B,).

    The paper sums over the mini-batch (``L_C = 1/2 sum_i ||x_i - c_{y_i}||^2``)
    and weights it against softmax CE by lambda; the mean of this (B,) vector
    is ``1/2 mean ||x_i - c_{y_i}||^2``. The centres are NOT
    learned through this loss's gradient in the paper: they follow
    :func:`center_update`. So by default the gradient into ``centers`` is
    stopped (``stop_center_gradient=False`` lets it through).

    Args:
      features: (B, D) float deep features.
      labels: (B,) integer labels in [0, K).
      centers: (K, D) class centres, one row per class.
      stop_center_gradient: block the gradient into ``centers`` (default True).

    Returns:
      (B,) per-sample loss.

    References:
      Wen, Zhang, Li, Qiao, "A Discriminative Feature Learning Approach for Deep
      Face Recognition", ECCV 2016, eqs. 2-3 and Algorithm 1.

    Example:
      >>> import jax.numpy as jnp
      >>> float(center_loss(jnp.array([[1.0, 2.0]]), jnp.array([0]), jnp.zeros((3, 2)))[0])
      2.5
    """
    features, labels, centers, valid = _check_centers(features, labels, centers)
    dtype = compute_dtype(features, centers)
    c = centers.astype(dtype)
    if stop_center_gradient:
        c = jax.lax.stop_gradient(c)
    diff = features.astype(dtype) - c[labels]
    return nan_rows(0.5 * jnp.sum(diff * diff, axis=-1), valid)


def center_update(centers, features, labels, *, alpha: float = 0.5, where=None,
                  axis_name=None) -> jax.Array:
    r"""Center loss's centre update rule (a pure function), returns new (K, D) centres.

    .. math::

       \Delta c_j = \frac{\sum_i \delta(y_i = j)\,(c_j - x_i)}{1 + \sum_i \delta(y_i = j)},
       \qquad c_j \leftarrow c_j - \alpha\, \Delta c_j .

    Classes absent from the batch keep their centre. No gradient flows through
    the update (features are treated as constants).

    Args:
      centers: (K, D) current centres.
      features: (B, D) deep features.
      labels: (B,) integer labels in [0, K).
      alpha: centre learning rate in [0, 1] (the paper uses 0.5).
      where: optional (B,) bool mask; False rows are ignored (padding).
      axis_name: optional mapped axis name (``shard_map``/``pmap``): the sums
        run over the global batch, so every device computes the same centres.

    Returns:
      (K, D) updated centres, in the centres' compute dtype.

    References:
      Wen et al., ECCV 2016, eq. 4 and Algorithm 1.

    Example:
      >>> import jax.numpy as jnp
      >>> c = center_update(jnp.zeros((2, 1)), jnp.array([[3.0]]), jnp.array([0]), alpha=1.0)
      >>> c.ravel().tolist()
      [1.5, 0.0]
    """
    features, labels, centers, valid = _check_centers(features, labels, centers)
    _check_number(alpha, "alpha", low=0.0)
    if not isinstance(alpha, jax.core.Tracer) and float(alpha) > 1.0:
        raise ValueError(f"`alpha` must lie in [0, 1] (Wen et al.), got {alpha!r}.")
    dtype = compute_dtype(features, centers)
    x = jax.lax.stop_gradient(features.astype(dtype))
    c = centers.astype(dtype)
    k = c.shape[0]
    weight = valid.astype(dtype)  # rows with out-of-range (traced) labels are ignored
    if where is not None:
        where = jnp.asarray(where)
        if where.shape != (x.shape[0],) or where.dtype != jnp.bool_:
            raise ValueError(
                f"`where` must be a bool array of shape ({x.shape[0]},), got "
                f"{where.dtype}{tuple(where.shape)}.")
        weight = weight * where.astype(dtype)
    counts = jax.ops.segment_sum(weight, labels, num_segments=k)           # (K,)
    sums = jax.ops.segment_sum(x * weight[:, None], labels, num_segments=k)  # (K, D)
    if axis_name is not None:
        counts, sums = jax.lax.psum((counts, sums), axis_name)
    delta = (counts[:, None] * c - sums) / (1.0 + counts[:, None])
    return c - alpha * delta


# --------------------------------------------------------------------------- #
# COT
# --------------------------------------------------------------------------- #
def complement_entropy(logits, labels, *,
                       normalize: Literal["none", "num_classes", "log"] = "none") -> jax.Array:
    r"""Complement entropy of COT, per sample, (B,) -- a quantity to MAXIMISE.

    .. math::

       q_{ij} = \frac{\hat y_{ij}}{1 - \hat y_{i y_i}}
              = \frac{e^{z_{ij}}}{\sum_{k \ne y_i} e^{z_{ik}}}\ (j \ne y_i),
       \qquad
       H_i = -\sum_{j \ne y_i} q_{ij} \log q_{ij} \ \ge 0 .

    Returned is the entropy ``H`` itself (non-negative, at most ``log(K-1)``,
    reached when the non-target classes are equally likely). COT alternates a
    CE step with a step that *maximises* the mean of ``H``, i.e. the second
    step minimises ``-complement_entropy(...).mean()``. The complement
    distribution is the softmax of the logits with the target masked out, so no
    epsilon is needed (the reference code adds 1e-7 and 1e-10).

    ``normalize``:

    * ``"none"`` (default): the paper's eq. 2, per sample (its 1/N is the
      caller's mean over the batch).
    * ``"num_classes"``: divided by K, as the authors' public code does
      (``loss /= batch_size; loss /= classes``, with the sign flipped: the code
      returns ``sum q log q`` and minimises it).
    * ``"log"``: divided by ``log(K - 1)``, so the value lies in [0, 1]
      (K >= 3).

    Args:
      logits: (B, K) unnormalised scores, K >= 2.
      labels: (B,) integer ground-truth classes.
      normalize: see above.

    Returns:
      (B,) complement entropy (>= 0).

    References:
      Chen, Chen, Hsu, Li, Wang, Hsu, "Complement Objective Training", ICLR
      2019, eq. 2 and Algorithm 1.

    Example:
      >>> import jax.numpy as jnp
      >>> h = complement_entropy(jnp.array([[5.0, 1.0, 1.0]]), jnp.array([0]))
      >>> round(float(h[0]), 4)  # log 2: the two wrong classes are equally likely
      0.6931
    """
    logits = as_float_array(logits, "logits")
    check_ndim(logits, "logits", 2, "(batch, num_classes)")
    num_classes = logits.shape[1]
    if num_classes < 2:
        raise ValueError(f"`logits` needs at least 2 classes, got shape {tuple(logits.shape)}.")
    if normalize not in ("none", "num_classes", "log"):
        raise ValueError(
            f"`normalize` must be 'none', 'num_classes' or 'log', got {normalize!r}.")
    if normalize == "log" and num_classes < 3:
        raise ValueError("`normalize='log'` needs K >= 3 classes (log(K - 1) = 0 for K = 2).")
    labels = check_labels(labels, logits.shape[0], num_classes)
    labels, valid = clip_labels(labels, num_classes)
    target = jax.nn.one_hot(labels, num_classes, dtype=bool)
    masked = jnp.where(target, -jnp.inf, logits)
    log_q = jax.nn.log_softmax(masked, axis=-1)
    q = jnp.exp(log_q)
    # q = 0 exactly at the target; use 0 there instead of 0 * (-inf) = NaN.
    h = -jnp.sum(jnp.where(target, 0.0, q * jnp.where(target, 0.0, log_q)), axis=-1)
    if normalize == "num_classes":
        h = h / num_classes
    elif normalize == "log":
        h = h / math.log(num_classes - 1)
    return nan_rows(h, valid)
