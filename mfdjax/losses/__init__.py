"""Pure-functional losses of the three papers (and the baselines their tables compare).

One argument order for every loss that takes a class matrix:
``loss(features, labels, class_matrix, *, hyper-parameters, where=None)`` -- labels
right after the predictions, as in optax and pytorch-metric-learning (the class
matrix is the weights, centroids or centres, one row per class). Per-sample losses
return shape (B,) (reduce as you like, as optax does); batch-level losses (MFD, SC,
POD, PEDCC-Loss, Barlow Twins, VICReg) return a scalar. ``where`` (B,) bool: a
masked row gives 0 and no gradient in a per-sample loss, and leaves the statistics
of a batch-level one. Labels outside [0, K) in the rows that are kept raise a
ValueError when concrete; traced ones (under ``jax.jit``) give NaN -- the row of a
per-sample loss, the whole scalar of a batch-level one -- with a zero gradient.

One family per module: :mod:`~mfdjax.losses.mfd`, :mod:`~mfdjax.losses.pod`,
:mod:`~mfdjax.losses.softmax`, :mod:`~mfdjax.losses.cosine_margin` (AM-Softmax,
ArcFace, combined margin), :mod:`~mfdjax.losses.l_softmax`,
:mod:`~mfdjax.losses.w_softmax`, :mod:`~mfdjax.losses.center`,
:mod:`~mfdjax.losses.cot`, :mod:`~mfdjax.losses.self_supervised`. The PEDCC
centroids live in :mod:`mfdjax.pedcc` (re-exported here as :func:`pedcc`), the
classifiers on latent features (cosine, GDA) in :mod:`mfdjax.eval.classifiers`.
"""

from mfdjax.losses.center import center_loss, center_update
from mfdjax.losses.cosine_margin import am_softmax_loss, arcface_loss, combined_margin_loss
from mfdjax.losses.cot import complement_entropy
from mfdjax.losses.l_softmax import l_softmax_loss
from mfdjax.losses.mfd import feature_correlation, mean_abs_correlation, mfd_loss
from mfdjax.losses.pod import (
    NAC_ALPHA,
    NAC_INITIAL_MEAN_NORM,
    NAC_REFERENCE_INITIAL_DELTA,
    cosine_loss,
    nac_delta,
    nac_loss,
    nac_norm_stats,
    pedcc_loss,
    pod_loss,
    sc_loss,
)
from mfdjax.losses.self_supervised import barlow_twins_loss, vicreg_loss
from mfdjax.losses.softmax import softmax_cross_entropy
from mfdjax.losses.w_softmax import (
    min_fc_units,
    w_softmax_logits,
    w_softmax_loss,
    w_softmax_weights,
)
from mfdjax.pedcc import pedcc

__all__ = [
    "NAC_ALPHA",
    "NAC_INITIAL_MEAN_NORM",
    "NAC_REFERENCE_INITIAL_DELTA",
    "am_softmax_loss",
    "arcface_loss",
    "barlow_twins_loss",
    "center_loss",
    "center_update",
    "combined_margin_loss",
    "complement_entropy",
    "cosine_loss",
    "feature_correlation",
    "l_softmax_loss",
    "mean_abs_correlation",
    "mfd_loss",
    "min_fc_units",
    "nac_delta",
    "nac_loss",
    "nac_norm_stats",
    "pedcc",
    "pedcc_loss",
    "pod_loss",
    "sc_loss",
    "softmax_cross_entropy",
    "vicreg_loss",
    "w_softmax_logits",
    "w_softmax_loss",
    "w_softmax_weights",
]
