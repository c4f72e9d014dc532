"""Features and class weights of a trained run, and the mean feature-to-class-weight angle.

The W-Softmax paper (Xiaobin Li and Weiqiang Wang, "Learning Discriminative Features Via
Weights-biased Softmax Loss"), section 5.3 and Figure 5, measures intra-class compactness
as the mean, per class, of the angle between each feature and the weight vector of its
own class (eq. 14):

.. math::

   \\bar\\theta_i = \\frac{1}{N_i} \\sum_{k=1}^{N_i}
       \\arccos \\frac{x_k^{(i)} \\cdot w_i}{\\|x_k^{(i)}\\|\\,\\|w_i\\|}

with ``x`` the head's input (the FC feature) and ``w_i`` the class weight: the cosine
head's weight row, or the linear head's kernel column (its bias plays no part in an
angle). Typical use, on a run directory::

    from mfdjax.train.loop import restore_run
    run = restore_run("runs/w_softmax/mnist_a1.5/seed0")
    out = run_features(run, run["feed"].test.images)
    angles = mean_class_angles(out["features"], run["feed"].test.labels, class_weights(run))
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["class_weights", "mean_class_angles", "run_features"]


def class_weights(run: dict) -> np.ndarray:
    """(K, D) class weights of a restored run's head (``mfdjax.train.loop.restore_run``).

    The cosine head's ``weights`` (un-normalised as stored), the linear head's
    kernel transposed, or the POD head's fixed PEDCC centroids.
    """
    params = run["state"].params
    head = params.get("head") if hasattr(params, "get") else None
    if head is None:
        raise ValueError("class_weights: the run's params have no 'head' (expected a "
                         "mfdjax.models Classifier).")
    if "weights" in head:
        return np.asarray(jax.device_get(head["weights"]), np.float64)
    if "fc" in head and "kernel" in head["fc"]:
        return np.asarray(jax.device_get(head["fc"]["kernel"]), np.float64).T
    if "fc1" in head:   # POD head: the fixed PEDCC rows are the class directions
        from mfdjax.pedcc import pedcc

        cfg = run["config"].model.head_kwargs
        return np.asarray(pedcc(int(run["num_classes"]), int(cfg.dim),
                                seed=int(cfg.get("seed", 0))), np.float64)
    raise ValueError(f"class_weights: unknown head with params {sorted(head)}; expected "
                     "'weights' (cosine head), 'fc/kernel' (linear head) or 'fc1' (POD head).")


def run_features(run: dict, images: Any, *, batch_size: int = 500) -> dict[str, np.ndarray]:
    """The head input (``pre_logits``) and the logits of a restored run on ``images``.

    Args:
      run: the dict of ``mfdjax.train.loop.restore_run`` (``state``, ``mean``, ``std``).
      images: (N, H, W, C) uint8 (or 0-255 float) images of the run's input shape.
      batch_size: images per forward pass (the last batch is padded, then dropped).

    Returns:
      ``{"features": (N, D) float32, "logits": (N, K) float32}``, evaluation mode
      (BatchNorm running statistics), the dataset's normalisation.
    """
    from mfdjax.data import normalize

    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"`images` must be a non-empty (N, H, W, C) array, got shape "
                         f"{images.shape}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an integer >= 1, got {batch_size!r}.")
    state = run["state"]
    mean, std = run["mean"], run["std"]
    variables = {"params": state.params}
    if state.batch_stats:
        variables["batch_stats"] = state.batch_stats

    forward = run.get("_features_fn")
    if forward is None:  # one jitted forward per run (train and test images share it)
        @jax.jit
        def forward(variables, x):
            logits, out = state.apply_fn(variables, normalize(x, mean, std), train=False)
            return out["pre_logits"].astype(jnp.float32), logits.astype(jnp.float32)

        run["_features_fn"] = forward

    n = images.shape[0]
    bs = min(batch_size, n)
    feats, logits = [], []
    for start in range(0, n, bs):
        chunk = images[start:start + bs]
        pad = bs - chunk.shape[0]
        if pad:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
        f, lg = forward(variables, chunk)
        feats.append(np.asarray(f)[:bs - pad])
        logits.append(np.asarray(lg)[:bs - pad])
    return {"features": np.concatenate(feats), "logits": np.concatenate(logits)}


def mean_class_angles(features: Any, labels: Any, weights: Any, *,
                      degrees: bool = True) -> np.ndarray:
    """Eq. 14 of the W-Softmax paper: per class, the mean angle between features and w_y.

    Args:
      features: (N, D) features (any norm; a zero feature has no angle and is skipped).
      labels: (N,) integer labels in [0, K).
      weights: (K, D) class weights (any norm).
      degrees: degrees (True, as Figure 5) or radians.

    Returns:
      (K,) float64: the mean angle of each class; NaN for a class without samples.
    """
    x = np.asarray(features, np.float64)
    w = np.asarray(weights, np.float64)
    y = np.asarray(labels)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(f"`features` (N, D) and `weights` (K, D) must share D, got "
                         f"{x.shape} and {w.shape}.")
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"`labels` must be ({x.shape[0]},) integers, got {y.dtype} {y.shape}.")
    k = w.shape[0]
    if y.size and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"`labels` must lie in [0, {k}) (one row of `weights` per class), "
                         f"got [{y.min()}, {y.max()}].")
    wn = np.linalg.norm(w, axis=1)
    if np.any(wn == 0):
        raise ValueError("`weights` has a zero row: a class without a direction has no angle.")
    xn = np.linalg.norm(x, axis=1)
    ok = xn > 0
    cos = np.einsum("nd,nd->n", x[ok], w[y[ok]]) / (xn[ok] * wn[y[ok]])
    theta = np.arccos(np.clip(cos, -1.0, 1.0))
    if degrees:
        theta = np.degrees(theta)
    sums = np.bincount(y[ok], weights=theta, minlength=k)
    counts = np.bincount(y[ok], minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
