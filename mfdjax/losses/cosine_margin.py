"""Cosine-margin softmax losses: AM-Softmax (CosFace), ArcFace and the combined margin.

Features and class weights are L2-normalised; the target logit gets a margin. Where an
angle enters (``cos(theta + m)``), ``sin(theta)`` is ``sqrt(max(1 - cos^2, eps))`` so the
derivative stays finite at ``cos = +-1`` (the derivative of ``arccos`` is infinite there).

Argument order, ``where`` and the label rule (concrete out-of-range labels raise,
traced ones give NaN rows) are those of every loss: see :mod:`mfdjax.losses`.

Numerics: normalisation divides by ``sqrt(max(||v||^2, 1e-12))``, and a row whose
norm is at most ``sqrt(eps)`` of the compute dtype (3.5e-4 in float32; an all-zero
feature or weight row) keeps that value but gets a zero gradient (instead of
~1/sqrt(eps) = 1e6, which is ``inf`` in float16).
"""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from mfdjax.losses._checks import check_number, check_positive
from mfdjax.losses._logits import ce, check_triple, cosines, replace_target, safe_sin, take_target
from mfdjax.losses._numerics import per_sample

__all__ = ["am_softmax_loss", "arcface_loss", "combined_margin_loss"]


def am_softmax_loss(features: ArrayLike, labels: ArrayLike, weights: ArrayLike, *,
                    scale: float = 30.0, margin: float = 0.35,
                    where: ArrayLike | None = None) -> jax.Array:
    r"""Additive-margin softmax (AM-Softmax / CosFace) loss, per sample.

    .. math::

       \ell_i = -\log \frac{e^{s(\cos\theta_{y_i} - m)}}
                {e^{s(\cos\theta_{y_i} - m)} + \sum_{j \ne y_i} e^{s \cos\theta_j}},
       \qquad \cos\theta_j = \frac{x_i \cdot w_j}{\|x_i\| \|w_j\|}.

    Features and class weights are L2-normalised internally (bias-free).

    Args:
      features: (B, D) float features.
      labels: (B,) integer labels in [0, K).
      weights: (K, D) class weights, one row per class.
      scale: s > 0. The AM-Softmax paper uses s = 30.
      margin: additive cosine margin m >= 0 (paper: 0.35).
      where: optional (B,) bool mask; a False row gives 0 and no gradient, whatever
        its label (optax's meaning: e.g. the padding rows of a last batch).

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
      >>> round(float(am_softmax_loss(x, jnp.array([0]), w, scale=1.0, margin=0.0)[0]), 4)
      0.3133
    """
    features, weights, labels, valid, where = check_triple(features, labels, weights, where)
    check_positive(scale, "scale")
    check_number(margin, "margin", low=0.0)
    cos = cosines(features, weights)
    target = take_target(cos, labels) - margin
    return per_sample(ce(scale * replace_target(cos, labels, target), labels), valid, where)


ArcOverflow = Literal["insightface", "easy_margin", "none"]


def arcface_loss(features: ArrayLike, labels: ArrayLike, weights: ArrayLike, *,
                 scale: float = 64.0, margin: float = 0.5,
                 overflow: ArcOverflow = "insightface",
                 where: ArrayLike | None = None) -> jax.Array:
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
      labels: (B,) integer labels in [0, K).
      weights: (K, D) class weights, one row per class.
      scale: s > 0 (ArcFace paper: 64).
      margin: angular margin m in [0, pi) (ArcFace paper: 0.5).
      overflow: ``"insightface"`` | ``"easy_margin"`` | ``"none"``, see above.
      where: optional (B,) bool mask; a False row gives 0 and no gradient, whatever
        its label (optax's meaning: e.g. the padding rows of a last batch).

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
      >>> round(float(arcface_loss(x, jnp.array([0]), w, scale=1.0, margin=0.0)[0]), 4)
      0.3133
    """
    features, weights, labels, valid, where = check_triple(features, labels, weights, where)
    check_positive(scale, "scale")
    check_number(margin, "margin", low=0.0, high=math.pi)
    if overflow not in ("insightface", "easy_margin", "none"):
        raise ValueError(
            f"`overflow` must be 'insightface', 'easy_margin' or 'none', got {overflow!r}.")
    cos = cosines(features, weights)
    c = take_target(cos, labels)
    # jnp (not math) so that the margin may be traced (e.g. a margin warm-up schedule).
    cos_m, sin_m = jnp.cos(margin).astype(c.dtype), jnp.sin(margin).astype(c.dtype)
    psi = c * cos_m - safe_sin(c) * sin_m
    if overflow == "insightface":
        psi = jnp.where(c > -cos_m, psi, c - sin_m * margin)  # cos(pi - m) = -cos m
    elif overflow == "easy_margin":
        psi = jnp.where(c > 0, psi, c)
    return per_sample(ce(scale * replace_target(cos, labels, psi), labels), valid, where)


def combined_margin_loss(features: ArrayLike, labels: ArrayLike, weights: ArrayLike, *,
                         scale: float = 64.0, m1: float = 0.9, m2: float = 0.4,
                         m3: float = 0.15, clip_eps: float = 1e-6,
                         where: ArrayLike | None = None) -> jax.Array:
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
      labels: (B,) integer labels in [0, K).
      weights: (K, D) class weights, one row per class.
      scale: s > 0 (64).
      m1: multiplicative angular margin > 0 (0.9).
      m2: additive angular margin >= 0 (0.4).
      m3: additive cosine margin >= 0 (0.15).
      clip_eps: the arccos clip when m1 != 1.
      where: optional (B,) bool mask; a False row gives 0 and no gradient, whatever
        its label (optax's meaning: e.g. the padding rows of a last batch).

    Returns:
      (B,) per-sample loss.

    References:
      Deng et al., "ArcFace", CVPR 2019, eq. 4 (combined margin). The defaults
      are the POD paper's Table 4 setting "CM(m1=0.9, m2=0.4, m3=0.15)"; the
      scale is not given there, s = 64 is ArcFace's.

    Example:
      >>> import jax.numpy as jnp
      >>> x = jnp.array([[1.0, 0.0]]); w = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> l = combined_margin_loss(x, jnp.array([0]), w, scale=1.0, m1=1.0, m2=0.0, m3=0.0)
      >>> round(float(l[0]), 4)
      0.3133
    """
    features, weights, labels, valid, where = check_triple(features, labels, weights, where)
    check_positive(scale, "scale")
    check_positive(m1, "m1")
    check_number(m2, "m2", low=0.0, high=math.pi)
    check_number(m3, "m3", low=0.0)
    check_number(clip_eps, "clip_eps", low=0.0, high=1.0, low_inclusive=False)
    cos = cosines(features, weights)
    c = take_target(cos, labels)
    if not isinstance(m1, jax.core.Tracer) and float(m1) == 1.0:
        psi = c * jnp.cos(m2).astype(c.dtype) - safe_sin(c) * jnp.sin(m2).astype(c.dtype)
    else:
        theta = jnp.arccos(jnp.clip(c, -1.0 + clip_eps, 1.0 - clip_eps))
        psi = jnp.cos(m1 * theta + m2)
    psi = psi - m3
    return per_sample(ce(scale * replace_target(cos, labels, psi), labels), valid, where)
