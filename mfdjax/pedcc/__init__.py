"""PEDCC: predefined evenly-distributed class centroids.

The fixed class centroids of the POD paper (Q. Zhu and X. Zu, "A Softmax-free Loss
Function Based on Predefined Optimal-distribution of Latent Features for Deep Learning
Classifier") and of PEDCC-Loss. One module that the models (the fixed PEDCC head) and
the losses (POD, NaC, SC, PEDCC-Loss) both import, so neither depends on the other.

* :func:`pedcc`: the exact regular simplex when k <= n + 1, else
* :func:`~mfdjax.pedcc.physical.pedcc_physical`: unit charges repelling on the sphere.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from mfdjax.pedcc.physical import pedcc_physical

__all__ = ["pedcc", "pedcc_physical"]


def _check_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"`{name}` must be an int, got bool {value!r}.")
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(
            f"`{name}` must be an int, got {type(value).__name__} {value!r}; "
            f"pass int({name})."
        ) from None


def pedcc(num_classes: int, dim: int, *, seed: int = 0) -> np.ndarray:
    r"""Predefined evenly-distributed class centroids (a regular simplex).

    Returns ``k = num_classes`` unit vectors in :math:`\mathbb{R}^n`
    (``n = dim``) whose pairwise inner products all equal :math:`-1/(k-1)`:

    .. math::

        \|p_i\| = 1, \qquad \langle p_i, p_j \rangle = -\frac{1}{k-1}
        \quad (i \ne j), \qquad \text{possible iff } k \le n + 1 .

    Construction (exact, not iterative): the centred one-hot vectors
    :math:`e_i - \frac1k \mathbf 1` of :math:`\mathbb{R}^k` are a regular
    simplex in the (k-1)-dimensional subspace :math:`\mathbf 1^\perp`;
    they are written in an orthonormal basis of that subspace (QR), scaled to
    unit length, and mapped into :math:`\mathbb{R}^n` by a random
    n x (k-1) matrix with orthonormal columns (QR of a Gaussian matrix with
    the sign fix that makes it Haar-distributed), drawn from
    ``numpy.random.default_rng(seed)``. The simplex therefore has a random
    orientation, as the paper's PEDCC points do, and the same seed gives the
    same matrix (on one machine; LAPACK builds may differ in the last bits).

    The authors' generator builds the same simplex exactly (recursively, in the
    first k - 1 coordinates) and rotates it by a random orthonormal basis, so
    both give a regular simplex in a random orientation; the matrices differ
    only because the rotations are drawn differently. When k > n + 1 no
    simplex exists and this function returns the points of the paper's other
    generator, the physical model of charges repelling on the sphere
    (:func:`mfdjax.pedcc.physical.pedcc_physical`, deterministic from
    ``seed``): e.g. ``pedcc(5, 2)`` is a regular pentagon.

    Args:
      num_classes: k >= 2, the number of classes.
      dim: n >= k - 1, the feature dimension (the POD paper's Table III uses 256
        for CIFAR-10, 512 for CIFAR-100 / Tiny ImageNet / FaceScrub).
      seed: seed of the random rotation.

    Returns:
      float64 NumPy array of shape (k, n), one unit row per class.

    Raises:
      ValueError: if k < 2, n < 1, k > 2 with n = 1, or an argument is not an int.

    References:
      Zhu and Zu, "A Softmax-free Loss Function Based on Predefined
      Optimal-distribution of Latent Features for Deep Learning Classifier",
      section 2.1 (theorem of its reference [19]) and section 3.2.

    >>> p = pedcc(4, 3, seed=0)
    >>> print(p.shape, np.round(p @ p.T, 6)[0])
    (4, 3) [ 1.       -0.333333 -0.333333 -0.333333]
    """
    k = _check_int(num_classes, "num_classes")
    n = _check_int(dim, "dim")
    seed = _check_int(seed, "seed")
    if k < 2:
        raise ValueError(f"`num_classes` must be >= 2, got {k}.")
    if n < 1:
        raise ValueError(f"`dim` must be >= 1, got {n}.")
    if k > n + 1:  # no regular simplex: the physical model (charges on the sphere)
        return np.array(pedcc_physical(k, n, seed=seed))
    # Regular simplex centred at the origin, in coordinates of 1^perp (k x (k-1)).
    centred = np.eye(k) - 1.0 / k
    basis, _ = np.linalg.qr(centred[:, : k - 1])  # orthonormal basis of 1^perp
    simplex = centred @ basis
    simplex /= np.linalg.norm(simplex, axis=1, keepdims=True)
    # Random orthonormal frame of R^n with k-1 columns (Haar: fix the QR signs).
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((n, k - 1)))
    q = q * np.where(np.diag(r) < 0, -1.0, 1.0)
    return np.ascontiguousarray(simplex @ q.T)


