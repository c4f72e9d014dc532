"""Complement Objective Training (COT): the complement entropy that COT maximises.

Chen, Chen, Hsu, Li, Wang and Hsu, "Complement Objective Training", ICLR 2019.
Takes ``(logits, labels, *, normalize, where)`` and returns (B,).

Labels: concrete labels outside [0, K) raise a ValueError; traced ones (under
``jax.jit``) give NaN on their row with a zero gradient, unless ``where`` masks the
row out (then 0, as for every masked row).
"""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from mfdjax.losses._checks import as_float_array, check_labels, check_ndim, check_where
from mfdjax.losses._numerics import clip_labels, per_sample

__all__ = ["complement_entropy"]


def complement_entropy(logits: ArrayLike, labels: ArrayLike, *,
                       normalize: Literal["none", "num_classes", "log"] = "none",
                       where: ArrayLike | None = None) -> jax.Array:
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
      where: optional (B,) bool mask; a False row gives 0 and no gradient, whatever
        its label (optax's meaning: e.g. the padding rows of a last batch).

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
    where = check_where(where, logits.shape[0])
    if where is not None:   # padding values (NaN included) leave no trace
        logits = jnp.where(where[:, None], logits, 0.0)
    labels = check_labels(labels, logits.shape[0], num_classes, where=where)
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
    return per_sample(h, valid, where)
