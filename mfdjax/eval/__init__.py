"""Evaluation beyond test top-1: features of a trained run, class angles, face verification.

* :mod:`mfdjax.eval.classifiers` -- classifiers on latent features: cosine to the
  PEDCC centroids and Gaussian discriminant analysis (the POD paper, eqs. 21-24 and
  Table IX).
* :mod:`mfdjax.eval.features` -- the feature (head input) and the class weights of a
  restored run, and the mean angle between features and their class weight per class
  (the W-Softmax paper, eq. 14 and Figure 5).
* :mod:`mfdjax.eval.verification` -- the LFW verification protocol (pairs file, cosine
  scores, 10-fold threshold selection, accuracy mean ± std; the W-Softmax paper, Table 3).
"""

from mfdjax.eval.classifiers import (GDAClassifier, GDAParams, cosine_classify, gda_fit,
                                     gda_log_joint, gda_predict, ledoit_wolf_shrinkage)
from mfdjax.eval.features import class_weights, mean_class_angles, run_features
from mfdjax.eval.verification import (Pair, kfold_accuracy, pairs_from_labels, read_pairs,
                                      resolve_pair_paths, verify_folder, verify_pairs)

__all__ = ["GDAClassifier", "GDAParams", "Pair", "class_weights", "cosine_classify", "gda_fit",
           "gda_log_joint", "gda_predict", "ledoit_wolf_shrinkage", "kfold_accuracy", "mean_class_angles", "pairs_from_labels",
           "read_pairs", "resolve_pair_paths", "run_features", "verify_folder", "verify_pairs"]
