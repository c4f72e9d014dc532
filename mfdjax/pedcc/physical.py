"""PEDCC by the physical model: unit charges repelling each other on the hypersphere.

Source: Zhu & Zu, "A Softmax-free Loss Function Based on Predefined
Optimal-distribution of Latent Features for CNN Classifier", section 2.1
("PEDCC ... can be obtained by physical model method [17] and mathematical
generation method [19]"), and the PEDCC-Loss authors' generator (Zhu et al.,
"A new loss function for CNN classifier based on predefined evenly-distributed
class centroids", github.com/ZLeopard/PEDCC-Loss, ``utils/PEDCC.py``).

:func:`mfdjax.pedcc.pedcc` uses the exact regular simplex whenever
k <= n + 1 (then the simplex IS the evenly distributed optimum) and this model
for k > n + 1, where no simplex exists: e.g. five classes in a 2-D feature
space (the paper's Figure 6), whose optimum is the regular pentagon.

The model (every point a unit charge, Coulomb's inverse-square repulsion)::

    F_i  = sum_{j != i} (u_i - u_j) / max(|u_i - u_j|, d_min)^3     (repulsion)
    T_i  = F_i - (F_i . u_i) u_i                                    (tangential part)
    v_i <- momentum * v_i + step * T_i / S,   S = max_i sum_{j != i} |u_i - u_j|^-3
    u_i <- (u_i + v_i) / |u_i + v_i|                                (back on the sphere)

started from ``k`` Gaussian points of ``numpy.random.default_rng(seed)``,
normalised. It is the authors' update (they use step G = 0.01, 200
iterations, no friction and no stopping test) with three changes, because the
paper gives neither a step nor a stopping rule: a friction ``momentum < 1``
so the charges come to rest instead of oscillating around the equilibrium;
the step is divided by S, the largest stiffness scale of the inverse-square
force (its derivative is 2 / d^3), so one step size is stable for any k and n
(a fixed step either crawls or diverges: measured, 10 points on a circle
diverge at G = 0.05 without it); and iteration stops when the largest
tangential force, relative to the mean force magnitude, falls below ``tol``,
or after ``max_iter`` iterations (many points in few dimensions, e.g.
k = 100 in n = 8, approach their equilibrium slowly: the points are then
evenly spread but not at rest to 1e-7). The equilibrium reached is a local
minimum of the Coulomb energy; for points on a circle (n = 2) it is always the
regular polygon, in general it depends on the seed (as the authors' pickles
do), and the same seed gives the same matrix on one machine.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["pedcc_physical", "PHYSICAL_STEP", "PHYSICAL_MOMENTUM", "PHYSICAL_MAX_ITER",
           "PHYSICAL_TOL"]

#: Step of the velocity update (in units of 1 / S, see the module docstring).
PHYSICAL_STEP = 0.1
#: Velocity kept per iteration (friction 1 - momentum; the authors use none).
PHYSICAL_MOMENTUM = 0.9
#: Iteration cap (the authors run 200 iterations).
PHYSICAL_MAX_ITER = 3000
#: Stop when max_i |T_i| / mean_i |F_i| < tol.
PHYSICAL_TOL = 1e-7
_MIN_DIST = 1e-2  # the authors' floor of a pairwise distance


def pedcc_physical(num_classes: int, dim: int, *, seed: int = 0,
                   step: float = PHYSICAL_STEP, momentum: float = PHYSICAL_MOMENTUM,
                   max_iter: int = PHYSICAL_MAX_ITER, tol: float = PHYSICAL_TOL) -> np.ndarray:
    r"""k evenly distributed unit vectors in R^n by damped charge repulsion (any k, n >= 2).

    Minimises (locally) the Coulomb energy :math:`\sum_{i<j} 1 / \|u_i - u_j\|` over
    unit vectors by the damped physical model of the module docstring. For
    n = 2 the result is a regular k-gon (pairwise neighbour angle 360/k
    degrees) in a seed-dependent rotation.

    Args:
      num_classes: k >= 2.
      dim: n >= 2 (n = 1 holds only the two points -1 and +1: use ``pedcc``).
      seed: seed of the Gaussian starting points.
      step: velocity step per iteration (> 0).
      momentum: velocity kept per iteration, in [0, 1).
      max_iter: iteration cap (>= 1).
      tol: stopping threshold of the relative tangential force (>= 0).

    Returns:
      float64 array (k, n), unit rows. The result is cached per argument set
      (a read-only array: copy it before writing).

    >>> p = pedcc_physical(4, 2, seed=0)
    >>> angles = np.sort(np.degrees(np.arctan2(p[:, 1], p[:, 0])) % 360)
    >>> print(np.round(np.diff(angles), 4))
    [90. 90. 90.]
    """
    for name, value in (("num_classes", num_classes), ("dim", dim), ("seed", seed),
                        ("max_iter", max_iter)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"`{name}` must be an int, got {type(value).__name__} {value!r}.")
    if num_classes < 2:
        raise ValueError(f"`num_classes` must be >= 2, got {num_classes}.")
    if dim < 2:
        raise ValueError(f"`dim` must be >= 2 for the physical model (a 1-D sphere holds only "
                         f"two points), got {dim}; use at least num_classes - 1 dimensions.")
    if max_iter < 1:
        raise ValueError(f"`max_iter` must be >= 1, got {max_iter}.")
    if not step > 0:
        raise ValueError(f"`step` must be > 0, got {step!r}.")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"`momentum` must be in [0, 1), got {momentum!r}.")
    if not tol >= 0:
        raise ValueError(f"`tol` must be >= 0, got {tol!r}.")
    return _cached(int(num_classes), int(dim), int(seed), float(step), float(momentum),
                   int(max_iter), float(tol))


@functools.lru_cache(maxsize=64)
def _cached(k, n, seed, step, momentum, max_iter, tol) -> np.ndarray:
    u = _iterate(k, n, seed, step, momentum, max_iter, tol)
    u.setflags(write=False)
    return u


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _forces(u: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(repulsion F, its tangential part T, stiffness scale S); F, T are (k, n)."""
    gram = u @ u.T
    d2 = np.maximum(2.0 - 2.0 * gram, _MIN_DIST ** 2)   # |u_i - u_j|^2 for unit rows
    w = d2 ** -1.5
    np.fill_diagonal(w, 0.0)
    f = u * w.sum(1, keepdims=True) - w @ u              # sum_j (u_i - u_j) / d_ij^3
    t = f - np.sum(f * u, axis=1, keepdims=True) * u
    return f, t, float(w.sum(1).max())


def _iterate(k, n, seed, step, momentum, max_iter, tol) -> np.ndarray:
    # Small problems run single-threaded: BLAS threads cost more than they save on
    # (k, k, n) products this small, and far more on a busy machine (measured: 84 ms
    # instead of 3 ms per iteration for k = 100, n = 98 on a loaded 2-core CPU).
    if k * k * n < 50_000_000:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover -- a scikit-learn dependency
            pass
        else:
            with threadpool_limits(limits=1):
                return _loop(k, n, seed, step, momentum, max_iter, tol)
    return _loop(k, n, seed, step, momentum, max_iter, tol)


def _loop(k, n, seed, step, momentum, max_iter, tol) -> np.ndarray:
    rng = np.random.default_rng(seed)
    u = _unit(rng.standard_normal((k, n)))
    v = np.zeros_like(u)
    for _ in range(max_iter):
        f, t, stiffness = _forces(u)
        scale = np.mean(np.linalg.norm(f, axis=1))
        if np.max(np.linalg.norm(t, axis=1)) <= tol * max(scale, 1e-300):
            break
        v = momentum * v + step * t / stiffness
        u = _unit(u + v)
        v = v - np.sum(v * u, axis=1, keepdims=True) * u   # keep the velocity tangential
    return np.ascontiguousarray(u)
