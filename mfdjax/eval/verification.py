"""Face verification in the LFW protocol: pairs file, cosine scores, 10-fold accuracy.

The W-Softmax paper (Xiaobin Li and Weiqiang Wang, "Learning Discriminative Features Via
Weights-biased Softmax Loss"), section 5.5 and Table 3: features of a network trained on
CASIA-WebFace, "the cosine distance of features is adopted as the similarity score", and
the LFW accuracy. The protocol is LFW's own (Huang, Ramesh, Berg, Learned-Miller,
"Labeled Faces in the Wild", UMass tech. report 07-49, 2007, "View 2"): ten disjoint
folds of pairs; for each fold the decision threshold is chosen on the other nine (the one
with the highest accuracy there) and the accuracy is measured on the held-out fold; the
result is the mean (and spread) of the ten fold accuracies.

Pairs file (``pairs.txt`` of LFW)::

    10  300                     <- folds, matched (= mismatched) pairs per fold
    Abel_Pacheco   1   4        <- a matched pair: name, image number, image number
    ...                         (300 matched, then 300 mismatched lines, per fold)
    Abdel_Madi_Shabneh  1  Dean_Barker  1   <- a mismatched pair

A header with one number ``N`` (``pairsDevTrain.txt``) means N matched then N mismatched
pairs; they are dealt into ``folds`` folds (default 10) in order. Image ``i`` of ``name``
is ``root/name/name_{i:04d}.{jpg,png,...}``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["Pair", "kfold_accuracy", "pairs_from_labels", "read_pairs", "resolve_pair_paths",
           "verify_folder", "verify_pairs"]

_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp")


@dataclasses.dataclass(frozen=True)
class Pair:
    """One verification pair: two (name, image number) references, same person or not."""

    a: tuple[str, int]
    b: tuple[str, int]
    same: bool
    fold: int


def _int(tok: str, path: str, lineno: int, what: str) -> int:
    try:
        return int(tok)
    except ValueError:
        raise ValueError(f"{path}, line {lineno}: {what} must be an integer, got {tok!r}."
                         ) from None


def read_pairs(path: str, *, folds: int = 10) -> list[Pair]:
    """Parses an LFW-style pairs file (see the module docstring) into Pair objects.

    Args:
      path: the pairs file.
      folds: number of folds when the header gives only the pair count (ignored when the
        header is ``folds per_fold``).

    Raises:
      FileNotFoundError: ``path`` does not exist.
      ValueError: a malformed header or line (the message names the line), or counts that
        do not match the header.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pairs file {path} does not exist (LFW's pairs.txt: "
                                "http://vis-www.cs.umass.edu/lfw/pairs.txt).")
    with open(path) as f:
        lines = [(i + 1, ln.split()) for i, ln in enumerate(f) if ln.strip()]
    if not lines:
        raise ValueError(f"{path} is empty; expected a header line '10 300' then the pairs.")
    lineno, head = lines[0]
    if len(head) == 2:
        n_folds, per = (_int(t, path, lineno, "the header") for t in head)
    elif len(head) == 1:
        n_folds, per = 1, _int(head[0], path, lineno, "the header")
    else:
        raise ValueError(f"{path}, line {lineno}: the header must be 'FOLDS PAIRS_PER_FOLD' or "
                         f"'PAIRS', got {' '.join(head)!r}.")
    if n_folds < 1 or per < 1:
        raise ValueError(f"{path}, line {lineno}: header numbers must be >= 1, got {head}.")
    body = lines[1:]
    if len(body) != 2 * n_folds * per:
        raise ValueError(f"{path}: the header announces {n_folds} fold(s) x {per} matched + "
                         f"{per} mismatched = {2 * n_folds * per} pairs, found {len(body)} lines.")
    pairs = []
    for k, (lineno, tok) in enumerate(body):
        set_index, within = divmod(k, 2 * per)
        same = within < per
        if same:
            if len(tok) != 3:
                raise ValueError(f"{path}, line {lineno}: a matched pair is 'NAME I J', got "
                                 f"{' '.join(tok)!r}.")
            a = (tok[0], _int(tok[1], path, lineno, "the image number"))
            b = (tok[0], _int(tok[2], path, lineno, "the image number"))
        else:
            if len(tok) != 4:
                raise ValueError(f"{path}, line {lineno}: a mismatched pair is 'NAME1 I NAME2 "
                                 f"J', got {' '.join(tok)!r}.")
            a = (tok[0], _int(tok[1], path, lineno, "the image number"))
            b = (tok[2], _int(tok[3], path, lineno, "the image number"))
        if n_folds > 1:
            fold = set_index
        else:  # one set: deal the matched and the mismatched pairs into `folds` blocks
            fold = (within % per) * folds // per
        pairs.append(Pair(a, b, same, fold))
    if n_folds == 1 and (isinstance(folds, bool) or not isinstance(folds, int)
                         or not 2 <= folds <= per):
        raise ValueError(f"`folds` must be an integer in [2, {per}] for {path}, got {folds!r}.")
    return pairs


def resolve_pair_paths(root: str, pairs: Sequence[Pair]) -> tuple[list[str], np.ndarray]:
    """The distinct image files of ``pairs`` and, per pair, the indices of its two images.

    Returns:
      ``(paths, index)`` with ``index`` (P, 2) int into ``paths``.

    Raises:
      FileNotFoundError: naming the first missing image and the layout expected.
    """
    if not os.path.isdir(root):
        raise FileNotFoundError(f"image folder {root} does not exist (expected "
                                "root/NAME/NAME_0001.jpg, the LFW layout).")
    found: dict[tuple[str, int], int] = {}
    paths: list[str] = []
    index = np.zeros((len(pairs), 2), np.int64)
    for p, pair in enumerate(pairs):
        for s, (name, num) in enumerate((pair.a, pair.b)):
            key = (name, num)
            if key not in found:
                stem = os.path.join(root, name, f"{name}_{num:04d}")
                hit = next((stem + e for e in _EXTS + tuple(x.upper() for x in _EXTS)
                            if os.path.isfile(stem + e)), None)
                if hit is None:
                    raise FileNotFoundError(
                        f"image {name} #{num} not found: expected {stem}.jpg (or "
                        f"{'/'.join(_EXTS)}) in the LFW layout root/NAME/NAME_0001.jpg.")
                found[key] = len(paths)
                paths.append(hit)
            index[p, s] = found[key]
    return paths, index


def load_images(paths: Sequence[str], *, size: tuple[int, int] | int, channels: int
                ) -> np.ndarray:
    """(N, H, W, C) uint8 images read with PIL, bilinear-resized to ``size`` (H, W)."""
    from PIL import Image

    h, w = (size, size) if isinstance(size, int) else size
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3, got {channels!r}.")
    out = np.zeros((len(paths), h, w, channels), np.uint8)
    for i, p in enumerate(paths):
        with Image.open(p) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            if im.size != (w, h):
                im = im.resize((w, h), Image.BILINEAR)
            arr = np.asarray(im, np.uint8)
        out[i] = arr[..., None] if channels == 1 else arr
    return out


def cosine_scores(fa: Any, fb: Any) -> np.ndarray:
    """Row-wise cosine similarity of two (P, D) feature arrays (0 where a feature is 0)."""
    fa, fb = np.asarray(fa, np.float64), np.asarray(fb, np.float64)
    if fa.shape != fb.shape or fa.ndim != 2:
        raise ValueError(f"features must be two (P, D) arrays of one shape, got {fa.shape} "
                         f"and {fb.shape}.")
    den = np.linalg.norm(fa, axis=1) * np.linalg.norm(fb, axis=1)
    num = np.einsum("pd,pd->p", fa, fb)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def _best_threshold(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """(threshold, accuracy) maximising accuracy of "same iff score >= threshold".

    Candidates: every distinct score and +inf (all "different"); of equally accurate
    thresholds the highest wins (fewest "same" calls); the returned threshold is the midpoint between the chosen score and the
    next lower one, so held-out scores equal to a training score are decided alike.
    """
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], same[order].astype(np.int64)
    n, n_diff = len(s), int(np.sum(1 - y))
    # Threshold just below s[i] (predict "same" for the first i+1): correct =
    # same among the first i+1 + different among the rest.
    tp = np.cumsum(y)
    fp = np.cumsum(1 - y)
    correct = tp + (n_diff - fp)
    last = np.r_[s[1:] != s[:-1], True]           # only cut between distinct scores
    cand_acc = np.where(last, correct, -1)
    i = int(np.argmax(cand_acc))
    best_all = (cand_acc[i], i)
    none_correct = n_diff                          # threshold +inf: all "different"
    if none_correct > best_all[0]:
        return math.inf, none_correct / n
    lower = s[i + 1] if i + 1 < n else s[i] - 1.0
    return float((s[i] + lower) / 2.0), best_all[0] / n


def kfold_accuracy(scores: Any, same: Any, folds: Any) -> dict:
    """LFW's k-fold accuracy: per fold, the threshold is fit on the other folds.

    Args:
      scores: (P,) similarity scores (higher = more alike).
      same: (P,) bool, True for matched pairs.
      folds: (P,) int fold id of each pair (at least two distinct folds).

    Returns:
      ``{"mean", "std" (ddof 1), "sem" (std / sqrt(k)), "accuracies" (k,), "thresholds"
      (k,), "folds": k}``; accuracies are fractions in [0, 1].
    """
    scores = np.asarray(scores, np.float64)
    same = np.asarray(same, bool)
    folds = np.asarray(folds)
    if not (scores.shape == same.shape == folds.shape) or scores.ndim != 1:
        raise ValueError(f"`scores`, `same`, `folds` must be (P,) arrays of one length, got "
                         f"{scores.shape}, {same.shape}, {folds.shape}.")
    if not np.all(np.isfinite(scores)):
        raise ValueError("`scores` has NaN or inf entries.")
    ids = np.unique(folds)
    if ids.size < 2:
        raise ValueError(f"k-fold accuracy needs at least two folds, got {ids.tolist()}.")
    accs, ths = [], []
    for f in ids:
        test = folds == f
        th, _ = _best_threshold(scores[~test], same[~test])
        pred = scores[test] >= th
        accs.append(float(np.mean(pred == same[test])))
        ths.append(th)
    accs = np.asarray(accs)
    std = float(np.std(accs, ddof=1))
    return {"mean": float(accs.mean()), "std": std, "sem": std / math.sqrt(accs.size),
            "accuracies": accs, "thresholds": np.asarray(ths), "folds": int(ids.size)}


def verify_pairs(embed: Callable[[np.ndarray], np.ndarray], images: np.ndarray,
                 index: np.ndarray, same: Any, folds: Any) -> dict:
    """Cosine scores of embedded image pairs and their k-fold accuracy.

    Args:
      embed: ``(N, H, W, C) uint8 -> (N, D)`` features.
      images: the distinct images; ``index`` (P, 2) picks each pair's two.
      same, folds: (P,) as in :func:`kfold_accuracy`.

    Returns:
      :func:`kfold_accuracy`'s dict plus ``"scores"`` (P,).
    """
    feats = np.asarray(embed(images))
    if feats.ndim != 2 or feats.shape[0] != len(images):
        raise ValueError(f"`embed` must return (N, D) features for N = {len(images)} images, "
                         f"got shape {feats.shape}.")
    index = np.asarray(index)
    scores = cosine_scores(feats[index[:, 0]], feats[index[:, 1]])
    res = kfold_accuracy(scores, same, folds)
    res["scores"] = scores
    return res


def verify_folder(embed: Callable[[np.ndarray], np.ndarray], root: str, pairs_path: str, *,
                  size: tuple[int, int] | int, channels: int = 3, folds: int = 10) -> dict:
    """The whole protocol on an LFW-layout image folder and its pairs file.

    Returns:
      :func:`verify_pairs`'s dict plus ``"pairs"`` (P) and ``"images"`` (N read).
    """
    pairs = read_pairs(pairs_path, folds=folds)
    paths, index = resolve_pair_paths(root, pairs)
    images = load_images(paths, size=size, channels=channels)
    res = verify_pairs(embed, images, index, [p.same for p in pairs], [p.fold for p in pairs])
    res.update(pairs=len(pairs), images=len(paths))
    return res


def pairs_from_labels(labels: Any, *, per_fold: int, folds: int = 10, seed: int = 0
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LFW-shaped pairs drawn from a labelled image set (for data without a pairs file).

    Each fold gets ``per_fold`` matched pairs (two distinct images of one label) and
    ``per_fold`` mismatched pairs (two labels), drawn with ``seed``; no image pair repeats.

    Returns:
      ``(index (P, 2), same (P,), folds (P,))`` with P = 2 * folds * per_fold.
    """
    y = np.asarray(labels)
    if y.ndim != 1 or y.size < 4:
        raise ValueError(f"`labels` must be a 1-D array of at least 4 labels, got shape {y.shape}.")
    rng = np.random.default_rng(seed)
    by = {c: np.flatnonzero(y == c) for c in np.unique(y)}
    multi = [c for c, ix in by.items() if ix.size >= 2]
    if not multi or len(by) < 2:
        raise ValueError("`labels` needs a label with two images and at least two labels.")
    seen: set[tuple[int, int]] = set()
    rows, same, fold = [], [], []
    need = folds * per_fold
    for want_same in (True, False):
        got, tries = 0, 0
        while got < need:
            tries += 1
            if tries > 100 * need + 1000:
                raise ValueError(f"cannot draw {need} distinct {'matched' if want_same else 'mismatched'} "
                                 "pairs from these labels; lower per_fold.")
            if want_same:
                c = multi[rng.integers(len(multi))]
                i, j = rng.choice(by[c], 2, replace=False)
            else:
                i, j = rng.choice(y.size, 2, replace=False)
                if y[i] == y[j]:
                    continue
            key = (min(i, j), max(i, j))
            if key in seen:
                continue
            seen.add(key)
            rows.append((i, j))
            same.append(want_same)
            fold.append(got % folds)
            got += 1
    return np.asarray(rows, np.int64), np.asarray(same), np.asarray(fold)
