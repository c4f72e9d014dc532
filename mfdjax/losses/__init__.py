"""Pure-functional losses of the three papers (and the baselines their tables compare).

Per-sample losses return shape (B,) (reduce as you like, as optax does);
batch-level losses (MFD, SC, POD, Barlow Twins, VICReg) return a scalar.
Names are loaded lazily from their family module on first access.
"""

from __future__ import annotations

import importlib

_FAMILIES = {
    "mfd": ("feature_correlation", "mfd_loss", "mean_abs_correlation"),
    "pod": ("pedcc", "cosine_loss", "nac_loss", "sc_loss", "pod_loss", "pedcc_loss",
            "nac_delta", "nac_norm_stats", "NAC_ALPHA", "NAC_INITIAL_MEAN_NORM",
            "NAC_REFERENCE_INITIAL_DELTA"),
    "margin": ("softmax_cross_entropy", "am_softmax_loss", "arcface_loss",
               "combined_margin_loss", "l_softmax_loss", "w_softmax_loss", "center_loss",
               "center_update", "complement_entropy", "w_softmax_weights", "w_softmax_logits",
               "min_fc_units"),
    "self_supervised": ("barlow_twins_loss", "vicreg_loss"),
    "classifiers": ("cosine_classify", "gda_fit", "gda_predict", "gda_log_joint",
                    "ledoit_wolf_shrinkage", "GDAParams", "GDAClassifier"),
}
_WHERE = {name: family for family, names in _FAMILIES.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    family = _WHERE.get(name)
    if family is None:
        raise AttributeError(f"module 'mfdjax.losses' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"mfdjax.losses.{family}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
