"""Backbones that sow their stage features, heads, and a registry by name."""

from mfdjax.models.common import (COLLECTION, LEVELS, check_level, collect_features, feature_names,
                                  sow_feature)
from mfdjax.models.registry import get, list_models, register

# Importing the family modules registers their models.
from mfdjax.models import heads, layers  # noqa: F401  (isort: skip)
from mfdjax.models import resnet, densenet, mobilenet, lsoftmax_cnn, vit, swin  # noqa: F401,E402

__all__ = ["COLLECTION", "LEVELS", "check_level", "collect_features", "feature_names", "get",
           "list_models", "register", "sow_feature"]
