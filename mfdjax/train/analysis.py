"""Post-hoc analyses of a trained run: latent features, GDA, norm and spectrum statistics.

A run directory written by ``mfdjax train`` is restored with
:func:`mfdjax.train.loop.restore_run`; :func:`extract_features` then runs its
network in inference mode (BatchNorm running averages, no augmentation) over
the training or test images and returns, per image, the latent feature ``x``
(``out["pre_logits"]``: FC1's output for the POD head, the pooled backbone
feature for the other heads), the logits, the label and optionally the
backbone feature before any head layer.

The statistics are those of the POD paper (Zhu and Zu, "A Softmax-free Loss
Function Based on Predefined Optimal-distribution of Latent Features for CNN
Classifier"):

* :func:`norm_split_accuracy` -- Table I: accuracy of the test samples whose
  latent-feature L2 norm is below / above the mean norm;
* :func:`eigen_variance` -- Table V: the variance of the eigenvalues of the
  covariance of the L2-normalised features (our reading of "the variance of
  the feature eigen-vectors (normalized)": how evenly the feature energy is
  spread over the principal directions; smaller = more balanced);
* :func:`gda_evaluate` -- Table IX: a Gaussian discriminant analysis
  classifier fitted on the training features, against the cosine (head)
  classifier, on the same test features.

Single process only (the features of every image are gathered on the host).
"""

from __future__ import annotations

from typing import Any, Iterator

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["extract_features", "norm_split_accuracy", "eigen_variance", "gda_evaluate"]

_SPLITS = ("train", "test")


def _batches(feed, split: str, batch_size: int, limit: int | None
             ) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """(images, labels, valid_rows) of ``split`` in order, the last batch padded."""
    if split == "test":
        n = feed.num_test
    else:
        n = feed.num_train
    if limit is not None:
        n = min(n, int(limit))
    if not feed.streaming:
        ds = feed.test if split == "test" else feed.train
        for start in range(0, n, batch_size):
            idx = np.arange(start, min(start + batch_size, n))
            pad = batch_size - idx.size
            full = np.concatenate([idx, np.zeros(pad, idx.dtype)]) if pad else idx
            yield ds.images[full], ds.labels[full], idx.size
        return
    from mfdjax.data import HostLoader
    from mfdjax.train.feed import _Prefix

    source = feed.test if split == "test" else feed.train
    if n < len(source):
        source = _Prefix(source, n)
    loader = HostLoader(source, batch_size, seed=0, epoch=0, shuffle=False,
                        drop_remainder=False, num_workers=feed._workers(),
                        transform=feed.eval_transform)
    for images, labels in loader:
        valid = int(np.sum(labels >= 0))
        yield images, np.maximum(labels, 0), valid


def extract_features(run: dict, split: str = "test", *, limit: int | None = None,
                     batch_size: int | None = None, backbone: bool = False
                     ) -> dict[str, np.ndarray]:
    """Latent features of a restored run over its training or test images.

    Args:
      run: the dict of :func:`mfdjax.train.loop.restore_run` (``state``, ``feed``,
        ``config``, ``mean``, ``std``).
      split: ``"train"`` or ``"test"`` (training images without augmentation).
      limit: use only the first ``limit`` images of the split (None: all).
      batch_size: images per forward pass (default ``config.eval_batch_size``).
      backbone: also return the backbone's pooled feature (the input of the
        head: for the POD head the feature before FC1).

    Returns:
      dict of NumPy arrays: ``features`` (N, n) float32, ``logits`` (N, K)
      float32, ``labels`` (N,) int, and ``backbone`` (N, D) float32 if asked.

    Raises:
      ValueError: on a bad ``split``, ``limit`` or ``batch_size``, or with more
        than one process.
    """
    if split not in _SPLITS:
        raise ValueError(f"`split` must be one of {_SPLITS}, got {split!r}.")
    if limit is not None and (isinstance(limit, bool) or int(limit) < 1):
        raise ValueError(f"`limit` must be None or an int >= 1, got {limit!r}.")
    if jax.process_count() != 1:
        raise ValueError("extract_features gathers every feature on one host: run it in a "
                         "single process (e.g. `mfdjax eval` without --num-processes).")
    from mfdjax.data import normalize
    from mfdjax.train.step import _variables

    config, state, feed = run["config"], run["state"], run["feed"]
    bs = int(batch_size or config.eval_batch_size)
    if bs < 1:
        raise ValueError(f"`batch_size` must be >= 1, got {bs}.")
    mean, std = run.get("mean", feed.mean), run.get("std", feed.std)

    def capture(module, method_name):
        return backbone and module.name == "backbone" and method_name == "__call__"

    @jax.jit
    def forward(state, images):
        x = normalize(images, mean, std)
        (logits, out), inter = state.apply_fn(
            _variables(state.params, state.batch_stats), x, train=False,
            capture_intermediates=capture, mutable=["intermediates"])
        res = {"features": out["pre_logits"].astype(jnp.float32),
               "logits": logits.astype(jnp.float32)}
        if backbone:
            res["backbone"] = jnp.asarray(
                inter["intermediates"]["backbone"]["__call__"][0], jnp.float32)
        return res

    parts: dict[str, list] = {}
    labels = []
    for images, y, valid in _batches(feed, split, bs, limit):
        out = jax.device_get(forward(state, jnp.asarray(images)))
        for k, v in out.items():
            parts.setdefault(k, []).append(np.asarray(v)[:valid])
        labels.append(np.asarray(y)[:valid])
    if not labels:
        raise ValueError(f"the {split} split of this run is empty.")
    res = {k: np.concatenate(v) for k, v in parts.items()}
    res["labels"] = np.concatenate(labels)
    return res


def norm_split_accuracy(features, logits, labels) -> dict[str, float]:
    """Table I: top-1 (%) of the samples whose ||x|| is below / above the mean ||x||.

    Args:
      features: (N, n) latent features x.
      logits: (N, K) the head's scores (prediction = argmax).
      labels: (N,) integer labels.

    Returns:
      ``{"acc_low_norm", "acc_high_norm", "frac_low_norm", "mean_norm"}``;
      an empty group gives NaN accuracy.

    >>> f = np.array([[0.1, 0.0], [0.2, 0.0], [3.0, 0.0], [4.0, 0.0]])
    >>> lg = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    >>> r = norm_split_accuracy(f, lg, np.array([0, 0, 0, 0]))
    >>> print(r["acc_low_norm"], r["acc_high_norm"], r["frac_low_norm"])
    50.0 100.0 0.5
    """
    f = np.asarray(features, np.float64)
    lg = np.asarray(logits)
    y = np.asarray(labels)
    if f.ndim != 2 or lg.ndim != 2 or y.ndim != 1 or not f.shape[0] == lg.shape[0] == y.shape[0]:
        raise ValueError(f"need features (N, n), logits (N, K), labels (N,); got shapes "
                         f"{f.shape}, {lg.shape}, {y.shape}.")
    norms = np.linalg.norm(f, axis=1)
    correct = np.argmax(lg, axis=1) == y
    low = norms < norms.mean()

    def acc(mask):
        return float(100.0 * correct[mask].mean()) if mask.any() else float("nan")

    return {"acc_low_norm": acc(low), "acc_high_norm": acc(~low),
            "frac_low_norm": float(low.mean()), "mean_norm": float(norms.mean())}


def eigen_variance(features) -> float:
    """Table V: variance of the eigenvalues of the covariance of the L2-normalised features.

    Each row is divided by its norm (zero rows stay zero); the (n, n) covariance
    (divided by N - 1) is diagonalised and the population variance of its n
    eigenvalues returned. The eigenvalues sum to the total variance (at most 1
    for unit rows), so the result measures how unevenly that energy is spread
    over the principal directions: 0 when it is spread evenly.

    >>> rng = np.random.default_rng(0)
    >>> iso = rng.standard_normal((20000, 4))
    >>> one = iso * np.array([1.0, 0.01, 0.01, 0.01])
    >>> print(eigen_variance(iso) < 1e-4, round(eigen_variance(one), 3))
    True 0.179
    """
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"`features` must be (N, n) with N >= 2, got shape {f.shape}.")
    norms = np.linalg.norm(f, axis=1, keepdims=True)
    u = f / np.where(norms > 0, norms, 1.0)
    cov = np.cov(u, rowvar=False).reshape(f.shape[1], f.shape[1])
    return float(np.var(np.linalg.eigvalsh(cov)))


def gda_evaluate(run: dict, *, train_limit: int | None = None, test_limit: int | None = None,
                 shrinkage: Any = "ledoit_wolf", covariance: str = "per_class",
                 batch_size: int | None = None) -> dict[str, float]:
    """Table IX: GDA fitted on a run's training features vs its own (cosine) head.

    Fits :class:`mfdjax.eval.classifiers.GDAClassifier` on the latent features
    of the training images (no augmentation) and scores both classifiers on the
    same test features.

    Returns:
      ``{"test/accuracy_gda", "test/accuracy_head", "train/accuracy_gda",
      "gda/num_train", "gda/num_test", "gda/feature_dim"}`` (accuracies in [0, 1]).
    """
    from mfdjax.eval.classifiers import GDAClassifier

    tr = extract_features(run, "train", limit=train_limit, batch_size=batch_size)
    te = extract_features(run, "test", limit=test_limit, batch_size=batch_size)
    k = int(run["feed"].num_classes)
    clf = GDAClassifier(shrinkage=shrinkage, covariance=covariance).fit(
        tr["features"], tr["labels"], num_classes=k)
    return {"test/accuracy_gda": clf.score(te["features"], te["labels"]),
            "test/accuracy_head": float(np.mean(np.argmax(te["logits"], 1) == te["labels"])),
            "train/accuracy_gda": clf.score(tr["features"], tr["labels"]),
            "gda/num_train": int(tr["labels"].size), "gda/num_test": int(te["labels"].size),
            "gda/feature_dim": int(tr["features"].shape[1])}
