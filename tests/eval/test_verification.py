"""The LFW verification protocol: pairs file, folder layout, 10-fold threshold selection."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mfdjax.eval import verification as V

# One colour per identity: a feature that sees colour tells people apart.
COLOURS = {"Ann_A": (220, 30, 30), "Bob_B": (30, 220, 30), "Cid_C": (30, 30, 220),
           "Dee_D": (220, 220, 30)}


def _folder(tmp_path, n_images=3):
    rng = np.random.default_rng(0)
    root = tmp_path / "lfw"
    for name, rgb in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(1, n_images + 1):
            img = np.clip(np.array(rgb)[None, None] + rng.integers(-20, 20, (20, 24, 3)), 0, 255)
            ext = "png" if i % 2 else "jpg"
            Image.fromarray(img.astype(np.uint8)).save(root / name / f"{name}_{i:04d}.{ext}")
    return root


def _pairs_file(tmp_path, text):
    p = tmp_path / "pairs.txt"
    p.write_text(text)
    return str(p)


PAIRS = """2 2
Ann_A 1 2
Bob_B 1 3
Ann_A 3 Bob_B 1
Cid_C 1 Dee_D 2
Cid_C 2 3
Dee_D 1 3
Ann_A 1 Cid_C 3
Bob_B 2 Dee_D 1
"""


def test_read_pairs_layout(tmp_path):
    pairs = V.read_pairs(_pairs_file(tmp_path, PAIRS))
    assert [p.same for p in pairs] == [True, True, False, False] * 2
    assert [p.fold for p in pairs] == [0] * 4 + [1] * 4
    assert pairs[2].a == ("Ann_A", 3) and pairs[2].b == ("Bob_B", 1)
    assert pairs[4].a == ("Cid_C", 2) and pairs[4].b == ("Cid_C", 3)


def test_read_pairs_single_set_is_dealt_into_folds(tmp_path):
    text = "4\n" + "Ann_A 1 2\n" * 4 + "Ann_A 1 Bob_B 1\n" * 4
    pairs = V.read_pairs(_pairs_file(tmp_path, text), folds=2)
    assert [p.fold for p in pairs] == [0, 0, 1, 1, 0, 0, 1, 1]


@pytest.mark.parametrize("text, match", [
    ("2 2\nAnn_A 1 2\n", "found 1 lines"),
    ("1 1\nAnn_A 1\nAnn_A 1 Bob_B 2\n", "line 2: a matched pair"),
    ("1 1\nAnn_A 1 x\nAnn_A 1 Bob_B 2\n", "line 2: the image number"),
    ("a b c\n", "line 1: the header"),
])
def test_read_pairs_errors_name_the_line(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        V.read_pairs(_pairs_file(tmp_path, text))


def test_missing_image_names_the_path(tmp_path):
    root = _folder(tmp_path, n_images=2)
    pairs = V.read_pairs(_pairs_file(tmp_path, PAIRS))
    with pytest.raises(FileNotFoundError, match="Bob_B_0003"):
        V.resolve_pair_paths(str(root), pairs)


def test_threshold_is_chosen_on_the_other_folds():
    # Fold 0's best threshold (from fold 1) is 0.55; fold 1's (from fold 0) is 0.25.
    scores = np.array([0.9, 0.6, 0.5, 0.1, 0.8, 0.3, 0.2, 0.0])
    same = np.array([1, 1, 0, 0, 1, 1, 0, 0], bool)
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    res = V.kfold_accuracy(scores, same, folds)
    np.testing.assert_allclose(res["thresholds"], [0.25, 0.55])
    # Fold 0 at 0.25: 0.9, 0.6 same (right), 0.5 same (wrong), 0.1 different -> 3/4;
    # fold 1 at 0.55: 0.8 same, 0.3 different (wrong), 0.2, 0.0 different -> 3/4.
    np.testing.assert_allclose(res["accuracies"], [0.75, 0.75])
    assert res["mean"] == 0.75 and res["std"] == 0.0


def test_end_to_end_on_a_synthetic_folder(tmp_path):
    root = _folder(tmp_path)
    path = _pairs_file(tmp_path, PAIRS)

    def colour(images):  # mean colour, centred: one direction per identity
        return images.reshape(len(images), -1, 3).mean(1) - 127.5

    res = V.verify_folder(colour, str(root), path, size=(16, 16))
    assert res["pairs"] == 8 and res["images"] == 12 and res["folds"] == 2
    assert res["mean"] == 1.0
    # A feature that cannot tell anyone apart: every score 1, accuracy at chance.
    res = V.verify_folder(lambda im: np.ones((len(im), 4)), str(root), path, size=16)
    assert res["mean"] == 0.5


def test_pairs_from_labels():
    labels = np.repeat(np.arange(5), 20)
    index, same, folds = V.pairs_from_labels(labels, per_fold=6, folds=10, seed=1)
    assert index.shape == (120, 2) and same.sum() == 60
    assert np.all((labels[index[:, 0]] == labels[index[:, 1]]) == same)
    assert np.all(index[:, 0] != index[:, 1])
    assert np.all(np.bincount(folds) == 12)
    assert len({tuple(sorted(r)) for r in index.tolist()}) == 120
