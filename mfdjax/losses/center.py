"""Center loss and its centre update rule.

Wen, Zhang, Li and Qiao, "A Discriminative Feature Learning Approach for Deep Face
Recognition", ECCV 2016: a baseline of the MFD and POD papers' margin tables.

Argument order, ``where`` and the label rule (concrete out-of-range labels raise,
traced ones give NaN rows) are those of every loss: see :mod:`mfdjax.losses`.

:func:`center_update` (not a loss) ignores rows with out-of-range labels, as it
ignores masked rows.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from mfdjax.losses._checks import check_number
from mfdjax.losses._logits import check_triple
from mfdjax.losses._numerics import per_sample, psum
from mfdjax.losses._sharding import replicated, take_rows
from mfdjax.losses.mfd import AxisName

__all__ = ["center_loss", "center_update"]


def center_loss(features: ArrayLike, labels: ArrayLike, centers: ArrayLike, *,
                stop_center_gradient: bool = True,
                where: ArrayLike | None = None) -> jax.Array:
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
      where: optional (B,) bool mask; a False row gives 0 and no gradient, whatever
        its label (optax's meaning: e.g. the padding rows of a last batch).

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
    features, c, labels, valid, where = check_triple(features, labels, centers, where,
                                                     name="centers", min_classes=1)
    if stop_center_gradient:
        c = jax.lax.stop_gradient(c)
    diff = features - take_rows(c, labels)
    return per_sample(0.5 * jnp.sum(diff * diff, axis=-1), valid, where)


def center_update(features: ArrayLike, labels: ArrayLike, centers: ArrayLike, *,
                  alpha: float = 0.5, where: ArrayLike | None = None,
                  axis_name: AxisName = None) -> jax.Array:
    r"""Center loss's centre update rule (a pure function), returns new (K, D) centres.

    .. math::

       \Delta c_j = \frac{\sum_i \delta(y_i = j)\,(c_j - x_i)}{1 + \sum_i \delta(y_i = j)},
       \qquad c_j \leftarrow c_j - \alpha\, \Delta c_j .

    Classes absent from the batch keep their centre. No gradient flows through
    the update (features are treated as constants).

    Args:
      features: (B, D) deep features.
      labels: (B,) integer labels in [0, K).
      centers: (K, D) current centres.
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
      >>> c = center_update(jnp.array([[3.0]]), jnp.array([0]), jnp.zeros((2, 1)), alpha=1.0)
      >>> c.ravel().tolist()
      [1.5, 0.0]
    """
    features, c, labels, valid, where = check_triple(features, labels, centers, where,
                                                     name="centers", min_classes=1)
    check_number(alpha, "alpha", low=0.0)
    if not isinstance(alpha, jax.core.Tracer) and float(alpha) > 1.0:
        raise ValueError(f"`alpha` must lie in [0, 1] (Wen et al.), got {alpha!r}.")
    x = jax.lax.stop_gradient(features)
    weight = valid.astype(x.dtype)  # rows with out-of-range (traced) labels are ignored
    if where is not None:
        weight = weight * where.astype(x.dtype)
    # Per-class counts and sums as one product with the (B, K) one-hot matrix (a
    # contraction over the batch, which every sharding mode can place).
    onehot = jax.nn.one_hot(labels, c.shape[0], dtype=x.dtype) * weight[:, None]
    sums = jax.lax.dot_general(onehot, x, (((0,), (0,)), ((), ())),
                               precision=jax.lax.Precision.HIGHEST,
                               out_sharding=replicated(onehot))                  # (K, D)
    sums, counts = psum((sums, jnp.sum(onehot, axis=0)), axis_name)
    delta = (counts[:, None] * c - sums) / (1.0 + counts[:, None])
    return c - alpha * delta
