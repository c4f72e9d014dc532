"""Classifiers on latent features: cosine to PEDCC centroids, and GDA.

Source: Q. Zhu and X. Zu, "A Softmax-free Loss Function Based on Predefined
Optimal-distribution of Latent Features for Deep Learning Classifier" (the POD
paper), section 4.5, eqs. 21-24 (cosine distance, the paper's
choice) and Table IX (Gaussian discriminant analysis, GDA, the alternative it
compares against: "the mean and covariance of each PEDCC are different, and
each class has different class conditional probability densities").

Shapes: features (B, n), integer labels (B,), centroids (k, n).
Everything here is jittable; ``num_classes`` and the string options are
static arguments.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular
from jax.typing import ArrayLike

from mfdjax.losses._checks import (
    as_float_array,
    check_array,
    check_features_and_rows,
    check_labels,
    check_ndim,
)

__all__ = ["GDAClassifier", "GDAParams", "cosine_classify", "gda_fit", "gda_log_joint",
           "gda_predict", "ledoit_wolf_shrinkage"]


def cosine_classify(features: ArrayLike, centroids: ArrayLike) -> jax.Array:
    r"""Predicts the class whose centroid has the largest cosine (POD paper, eqs. 21-24).

    .. math::

        I = \arg\max_{i} \; x \cdot \tilde p_i
          = \arg\max_{i} \; \cos\theta_{x, \tilde p_i}

    with :math:`\tilde p_i` the unit-length centroid i (the two forms agree
    because :math:`\|x\|` is common to all i; rows of ``centroids`` are
    normalised here, so they need not be unit already).

    Args:
      features: (B, n) latent features x.
      centroids: (k, n) class centroids (PEDCC rows).

    Returns:
      (B,) int32 predicted class indices (ties: the lowest index).

    >>> from mfdjax.losses.pod import pedcc
    >>> p = pedcc(3, 4)
    >>> print(cosine_classify(jnp.asarray(5 * p[[2, 0]], jnp.float32), p))
    [2 0]
    """
    x, p = check_features_and_rows(features, centroids, "centroids")
    p = p.astype(x.dtype)
    p = p / jnp.maximum(jnp.linalg.norm(p, axis=-1, keepdims=True), 1e-12)
    return jnp.argmax(x @ p.T, axis=-1).astype(jnp.int32)


# --------------------------------------------------------------------------- GDA


class GDAParams(NamedTuple):
    """Fitted GDA model (a pytree of arrays).

    Attributes:
      means: (K, n) class means.
      cholesky: lower Cholesky factor of the covariance: (K, n, n) with
        ``covariance="per_class"``, (n, n) with ``covariance="shared"``.
      log_det: (K,) log-determinant of each class covariance (equal entries
        when shared).
      log_priors: (K,) log class priors (-inf for classes without samples).
      counts: (K,) number of training samples per class.
      shrinkage: (K,) (per class) or () (shared) shrinkage intensity used.

    References:
      Zhu and Zu, "A Softmax-free Loss Function Based on Predefined
      Optimal-distribution of Latent Features for Deep Learning Classifier",
      Table IX (Gaussian discriminant analysis on POD features).
    """

    means: jax.Array
    cholesky: jax.Array
    log_det: jax.Array
    log_priors: jax.Array
    counts: jax.Array
    shrinkage: jax.Array


_COVARIANCES = ("per_class", "shared")
_PRIORS = ("empirical", "uniform")


def ledoit_wolf_shrinkage(cov: ArrayLike, fourth_moment: ArrayLike,
                          num_samples: ArrayLike) -> jax.Array:
    r"""Ledoit-Wolf shrinkage intensity toward :math:`\mu I` from sufficient statistics.

    For m centred samples :math:`z_b \in \mathbb{R}^p` with
    :math:`S = \frac1m \sum_b z_b z_b^\top` and :math:`\mu = \operatorname{tr} S / p`
    (Ledoit & Wolf 2004, "A well-conditioned estimator for large-dimensional
    covariance matrices", Lemma 3.2-3.4, in the normalisation of
    scikit-learn's ``ledoit_wolf_shrinkage``):

    .. math::

        d^2 = \frac1p \|S - \mu I\|_F^2, \qquad
        b^2 = \min\Big(d^2, \frac{1}{p\,m}\Big(\frac1m \sum_b \|z_b\|^4
              - \|S\|_F^2\Big)\Big), \qquad
        \text{shrinkage} = b^2 / d^2 \;(0 \text{ if } d^2 = 0).

    Args:
      cov: (..., p, p) biased covariance S.
      fourth_moment: (...,) :math:`\sum_b \|z_b\|^4`.
      num_samples: (...,) m.

    Returns:
      (...,) shrinkage intensity in [0, 1].
    """
    p = cov.shape[-1]
    m = jnp.maximum(num_samples, 1.0)
    mu = jnp.trace(cov, axis1=-2, axis2=-1) / p
    frob = jnp.sum(cov * cov, axis=(-2, -1))
    d2 = jnp.maximum(frob - p * mu * mu, 0.0) / p
    b2 = (fourth_moment / m - frob) / (p * m)
    b2 = jnp.clip(b2, 0.0, d2)
    return jnp.where(d2 > 0, b2 / jnp.where(d2 > 0, d2, 1.0), 0.0)


def _check_gda_options(shrinkage, covariance, priors, ridge):
    if covariance not in _COVARIANCES:
        raise ValueError(f"`covariance` must be one of {_COVARIANCES}, got {covariance!r}.")
    if priors not in _PRIORS:
        raise ValueError(f"`priors` must be one of {_PRIORS}, got {priors!r}.")
    if isinstance(shrinkage, str):
        if shrinkage != "ledoit_wolf":
            raise ValueError(f"`shrinkage` must be 'ledoit_wolf' or a float in [0, 1], "
                             f"got {shrinkage!r}.")
    elif not isinstance(shrinkage, jax.core.Tracer):
        s = float(shrinkage)
        if not 0.0 <= s <= 1.0:
            raise ValueError(f"`shrinkage` must be 'ledoit_wolf' or a float in [0, 1], "
                             f"got {shrinkage!r}.")
    if not isinstance(ridge, jax.core.Tracer) and not float(ridge) >= 0.0:
        raise ValueError(f"`ridge` must be >= 0, got {ridge!r}.")


def _check_counts(labels: np.ndarray, num_classes: int, covariance: str) -> None:
    counts = np.bincount(labels, minlength=num_classes)
    need = 2 if covariance == "per_class" else 1
    bad = np.flatnonzero(counts < need)
    if bad.size:
        raise ValueError(
            f"`labels` must give every class at least {need} sample(s) "
            f"(covariance={covariance!r}); classes {bad.tolist()[:20]} have counts "
            f"{counts[bad].tolist()[:20]}. Drop those classes, lower `num_classes`, "
            f"or use covariance='shared'."
        )


def _shrink(cov, fourth, count, shrinkage):
    p = cov.shape[-1]
    if isinstance(shrinkage, str):
        s = ledoit_wolf_shrinkage(cov, fourth, count)
    else:
        s = jnp.broadcast_to(jnp.asarray(shrinkage, cov.dtype), cov.shape[:-2])
    mu = jnp.trace(cov, axis1=-2, axis2=-1) / p
    eye = jnp.eye(p, dtype=cov.dtype)
    shrunk = (1.0 - s)[..., None, None] * cov + (s * mu)[..., None, None] * eye
    return shrunk, s


def gda_fit(features: ArrayLike, labels: ArrayLike, num_classes: int, *, shrinkage="ledoit_wolf",
            covariance: str = "per_class", priors: str = "empirical",
            ridge: float = 1e-6) -> GDAParams:
    r"""Fits Gaussian discriminant analysis on latent features (POD paper, Table IX).

    Each class k gets a Gaussian :math:`\mathcal N(\mu_k, \Sigma_k)`:

    .. math::

        \mu_k = \frac{1}{n_k}\sum_{y_b = k} x_b, \qquad
        S_k = \frac{1}{n_k}\sum_{y_b = k} (x_b - \mu_k)(x_b - \mu_k)^\top, \\
        \Sigma_k = (1 - \rho_k)\, S_k + \rho_k \frac{\operatorname{tr} S_k}{n} I
                   + \epsilon\, I, \qquad \pi_k = n_k / N .

    ``covariance="per_class"`` (default; the paper: "each class has
    different class conditional probability densities", i.e. quadratic
    discriminant analysis) or ``"shared"`` (one pooled within-class
    covariance :math:`S = \frac1N \sum_b (x_b - \mu_{y_b})(\cdot)^\top`,
    linear discriminant analysis). The shrinkage :math:`\rho` toward the
    scaled identity makes :math:`\Sigma` invertible when a class has fewer
    samples than dimensions (CIFAR-100 has 500 per class for n = 512):
    ``"ledoit_wolf"`` estimates it per covariance (:func:`ledoit_wolf_shrinkage`),
    a float fixes it. :math:`\epsilon` = ``ridge`` times the mean variance of
    the pooled within-class covariance guards degenerate (constant) data.
    With ridge = 0 this matches scikit-learn's
    ``QuadraticDiscriminantAnalysis(solver="eigen", shrinkage=rho)`` /
    ``covariance_estimator=LedoitWolf()`` and
    ``LinearDiscriminantAnalysis(solver="lsqr", shrinkage=rho)`` (which
    differ from scikit-learn's ``shrinkage="auto"``: that one standardises
    the features before Ledoit-Wolf).

    Costs :math:`O(K N n^2)` (one masked n x n product per class, run one
    class at a time with ``lax.map``) plus K Cholesky factorisations.

    Args:
      features: (N, n) training features.
      labels: (N,) integer labels in [0, num_classes).
      num_classes: K (static under jit).
      shrinkage: ``"ledoit_wolf"`` or a float in [0, 1] (static).
      covariance: ``"per_class"`` or ``"shared"`` (static).
      priors: ``"empirical"`` (:math:`n_k / N`) or ``"uniform"`` (static).
      ridge: relative diagonal jitter :math:`\epsilon`.

    Returns:
      :class:`GDAParams`.

    Raises:
      ValueError: on bad shapes/options, and (when ``labels`` are concrete,
        i.e. outside jit) if a class has no samples, or fewer than 2 with
        ``covariance="per_class"``. Under jit such classes cannot raise: a
        class without samples gets prior 0 and is never predicted.

    >>> x = jnp.array([[0.0, 0.0], [0.2, 0.1], [3.0, 3.0], [3.1, 2.8]])
    >>> params = gda_fit(x, jnp.array([0, 0, 1, 1]), 2, shrinkage=0.5)
    >>> print(gda_predict(params, jnp.array([[0.1, 0.0], [2.9, 3.1]])))
    [0 1]
    """
    _check_gda_options(shrinkage, covariance, priors, ridge)
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise ValueError(f"`num_classes` must be a static Python int, got {num_classes!r}.")
    k = int(num_classes)
    if k < 2:
        raise ValueError(f"`num_classes` must be >= 2, got {k}.")
    x = as_float_array(features, "features")
    check_ndim(x, "features", 2, "(num_samples, dim)")
    y = check_labels(labels, x.shape[0], num_classes=k)
    if not isinstance(y, jax.core.Tracer):
        _check_counts(np.asarray(y), k, covariance)
    ledoit_wolf = isinstance(shrinkage, str)
    fixed = jnp.asarray(0.0 if ledoit_wolf else shrinkage, x.dtype)
    return _gda_fit_core(x, y, jnp.asarray(ridge, x.dtype), fixed, k, ledoit_wolf, covariance,
                         priors)


@functools.partial(jax.jit, static_argnums=(4, 5, 6, 7))
def _gda_fit_core(x, y, ridge, fixed, k, ledoit_wolf, covariance, priors) -> GDAParams:
    # Arguments already checked by gda_fit; jitted so that eager calls compile once.
    shrinkage = "ledoit_wolf" if ledoit_wolf else fixed
    dtype = x.dtype
    p = x.shape[1]
    onehot = jax.nn.one_hot(y, k, dtype=dtype)                       # (N, K)
    counts = jnp.sum(onehot, axis=0)                                 # (K,)
    means = (onehot.T @ x) / jnp.maximum(counts, 1.0)[:, None]       # (K, p)
    z = x - means[y]                                                 # centred by own class
    z4 = jnp.sum(z * z, axis=-1) ** 2                                # ||z_b||^4
    pooled = (z.T @ z) / x.shape[0]
    scale = jnp.trace(pooled) / p
    jitter = ridge * jnp.where(scale > 0, scale, 1.0)
    eye = jnp.eye(p, dtype=dtype)

    if covariance == "per_class":
        def class_cov(col):
            w = col / jnp.maximum(jnp.sum(col), 1.0)
            return (z * w[:, None]).T @ z

        covs = jax.lax.map(class_cov, onehot.T)                      # (K, p, p)
        sigma, rho = _shrink(covs, onehot.T @ z4, counts, shrinkage)
        sigma = sigma + jitter * eye
    else:
        sigma, rho = _shrink(pooled, jnp.sum(z4), jnp.asarray(x.shape[0], dtype), shrinkage)
        sigma = sigma + jitter * eye
    chol = jnp.linalg.cholesky(sigma)
    log_det = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    log_det = jnp.broadcast_to(log_det, (k,))
    if priors == "empirical":
        prior = counts / x.shape[0]
    else:
        prior = jnp.where(counts > 0, 1.0, 0.0) / jnp.maximum(jnp.sum(counts > 0), 1)
    log_priors = jnp.where(prior > 0, jnp.log(jnp.where(prior > 0, prior, 1.0)), -jnp.inf)
    return GDAParams(means=means, cholesky=chol, log_det=log_det, log_priors=log_priors,
                     counts=counts, shrinkage=rho)


def gda_log_joint(params: GDAParams, features: ArrayLike) -> jax.Array:
    r"""Log joint density :math:`\log \pi_k + \log \mathcal N(x \mid \mu_k, \Sigma_k)`.

    .. math::

        g_k(x) = \log\pi_k - \tfrac12 \big(\|L_k^{-1}(x - \mu_k)\|^2
                 + \log\det\Sigma_k + n \log 2\pi\big), \qquad \Sigma_k = L_k L_k^\top

    computed with triangular solves (no explicit inverse) and the
    log-determinant from the Cholesky diagonal. ``jax.nn.log_softmax`` of
    the result is the log posterior.

    Args:
      params: from :func:`gda_fit`.
      features: (B, n).

    Returns:
      (B, K) float; -inf for classes that had no training samples.
    """
    x = as_float_array(features, "features")
    check_ndim(x, "features", 2, "(batch, dim)")
    means = params.means.astype(x.dtype)
    chol = params.cholesky.astype(x.dtype)
    if means.shape[1] != x.shape[1]:
        raise ValueError(f"`features` must have {means.shape[1]} columns like the fitted "
                         f"means, got shape {tuple(x.shape)}.")
    return _log_joint_core(x, means, chol, params.log_det.astype(x.dtype),
                           params.log_priors.astype(x.dtype))


@jax.jit
def _log_joint_core(x, means, chol, log_det, log_priors):
    p = x.shape[1]
    if chol.ndim == 2:  # shared covariance: whiten once, then plain distances
        zx = solve_triangular(chol, x.T, lower=True).T               # (B, p)
        zm = solve_triangular(chol, means.T, lower=True).T           # (K, p)
        maha = jax.lax.map(lambda m: jnp.sum((zx - m) ** 2, axis=-1), zm)   # (K, B)
    else:
        def one(args):
            mean, lower = args
            return jnp.sum(solve_triangular(lower, (x - mean).T, lower=True) ** 2, axis=0)

        maha = jax.lax.map(one, (means, chol))                       # (K, B)
    log_norm = -0.5 * (log_det + p * math.log(2.0 * math.pi))
    return (log_norm[:, None] - 0.5 * maha + log_priors[:, None]).T


def gda_predict(params: GDAParams, features: ArrayLike) -> jax.Array:
    r"""Most likely class under the fitted GDA model: (B,) int32 ``argmax_k gda_log_joint``.

    .. math::

        \hat y(x) = \arg\max_k \; \log \pi_k - \tfrac12 \log\det\Sigma_k
                   - \tfrac12 (x - \mu_k)^\top \Sigma_k^{-1} (x - \mu_k)

    References:
      Zhu and Zu, "A Softmax-free Loss Function Based on Predefined
      Optimal-distribution of Latent Features for Deep Learning Classifier",
      Table IX (GDA classifier).

    Args:
      params: from :func:`gda_fit`.
      features: (B, n).

    Returns:
      (B,) int32 class indices.
    """
    return jnp.argmax(gda_log_joint(params, features), axis=-1).astype(jnp.int32)


_gda_fit_jit = jax.jit(gda_fit, static_argnames=("num_classes", "shrinkage", "covariance",
                                                  "priors"))
_gda_predict_jit = jax.jit(gda_predict)


@dataclasses.dataclass
class GDAClassifier:
    """Small fit/predict wrapper around :func:`gda_fit` / :func:`gda_predict` (jitted).

    References:
      Zhu and Zu, "A Softmax-free Loss Function Based on Predefined
      Optimal-distribution of Latent Features for Deep Learning Classifier",
      section 4 and Table IX (GDA classifier on the latent features).

    >>> clf = GDAClassifier(shrinkage=0.5).fit(
    ...     jnp.array([[0.0, 0.0], [0.2, 0.1], [3.0, 3.0], [3.1, 2.8]]), jnp.array([0, 0, 1, 1]))
    >>> print(clf.predict(jnp.array([[3.0, 2.9]])), clf.num_classes)
    [1] 2
    """

    shrinkage: str | float = "ledoit_wolf"
    covariance: str = "per_class"
    priors: str = "empirical"
    ridge: float = 1e-6
    params: GDAParams | None = dataclasses.field(default=None, init=False, repr=False)
    num_classes: int | None = dataclasses.field(default=None, init=False)

    def fit(self, features, labels, num_classes: int | None = None) -> "GDAClassifier":
        """Fits on (N, n) features and (N,) labels; K defaults to max(labels) + 1."""
        if num_classes is None:
            num_classes = int(np.max(np.asarray(labels))) + 1
        # Eager argument checks (empty classes etc.) first, then the jitted fit.
        _check_gda_options(self.shrinkage, self.covariance, self.priors, self.ridge)
        y = check_labels(check_array(labels, "labels"), np.shape(features)[0],
                         num_classes=num_classes)
        _check_counts(np.asarray(y), num_classes, self.covariance)
        self.params = _gda_fit_jit(features, labels, num_classes, shrinkage=self.shrinkage,
                                   covariance=self.covariance, priors=self.priors,
                                   ridge=self.ridge)
        self.num_classes = num_classes
        return self

    def _fitted(self) -> GDAParams:
        if self.params is None:
            raise ValueError("GDAClassifier is not fitted; call .fit(features, labels) first.")
        return self.params

    def predict(self, features) -> jax.Array:
        """(B,) int32 predicted classes."""
        return _gda_predict_jit(self._fitted(), features)

    def predict_log_proba(self, features) -> jax.Array:
        """(B, K) log posterior class probabilities."""
        return jax.nn.log_softmax(gda_log_joint(self._fitted(), features), axis=-1)

    def score(self, features, labels) -> float:
        """Accuracy on (features, labels)."""
        return float(jnp.mean(self.predict(features) == jnp.asarray(labels)))

