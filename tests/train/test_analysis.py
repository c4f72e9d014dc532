"""Features of a restored run, GDA evaluation (`mfdjax eval --classifier gda`), POD statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mfdjax import cli
from mfdjax.pedcc import pedcc
from mfdjax.train import analysis
from tests.train import _tiny  # noqa: F401  (registers the tiny model)
from tests.train._tiny import tiny_config


@pytest.fixture(scope="module")
def pod_run(tmp_path_factory):
    """A tiny POD-head run on a digits slice (12 steps), restored."""
    from mfdjax.train.loop import restore_run, train_and_evaluate

    workdir = str(tmp_path_factory.mktemp("pod_run"))
    config = tiny_config(max_steps=12, num_epochs=1, dataset__train_subset=640,
                         dataset__test_subset=300, loss__name="pod", model__head="pod",
                         model__head_kwargs={"dim": 12}, correlation__enabled=False)
    summary = train_and_evaluate(config, workdir)
    return workdir, summary, restore_run(workdir)


@pytest.mark.slow
def test_features_logits_labels_of_a_restored_run(pod_run):
    workdir, summary, run = pod_run
    te = analysis.extract_features(run, "test", batch_size=128, backbone=True)
    n = 300
    assert te["features"].shape == (n, 12) and te["logits"].shape == (n, 10)
    assert te["backbone"].shape == (n, 16)            # TinyCNN's last width
    np.testing.assert_array_equal(te["labels"], run["feed"].test.labels[:n])
    # The head's prediction on these features is the trainer's own test accuracy.
    acc = np.mean(np.argmax(te["logits"], 1) == te["labels"])
    assert acc == pytest.approx(summary["final"]["test/accuracy"], abs=1e-6)
    # POD head: logits are the cosines to the fixed PEDCC rows (eqs. 21-24) ...
    p = pedcc(10, 12, seed=0)
    f = te["features"] / np.linalg.norm(te["features"], axis=1, keepdims=True)
    np.testing.assert_allclose(te["logits"], f @ p.T, atol=1e-5)
    # ... and the features are FC1 applied to the backbone feature.
    fc1 = run["state"].params["head"]["fc1"]
    np.testing.assert_allclose(te["features"],
                               te["backbone"] @ np.asarray(fc1["kernel"]) + np.asarray(fc1["bias"]),
                               rtol=1e-4, atol=1e-4)
    tr = analysis.extract_features(run, "train", limit=100, batch_size=64)
    np.testing.assert_array_equal(tr["labels"], run["feed"].train.labels[:100])
    with pytest.raises(ValueError, match="`split` must be one of"):
        analysis.extract_features(run, "val")


@pytest.mark.slow
def test_eval_cli_with_gda_classifier(pod_run, capsys):
    workdir, summary, _ = pod_run
    assert cli.main(["eval", "--workdir", workdir, "--classifier", "gda"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["test/accuracy_head"] == pytest.approx(res["test/accuracy"], abs=1e-6)
    assert res["gda/num_train"] == 640 and res["gda/num_test"] == 300
    assert res["gda/feature_dim"] == 12
    # GDA fitted on 640 training features of 10 digits beats chance by far on the test set.
    assert 0.3 < res["test/accuracy_gda"] <= 1.0
    assert res["train/accuracy_gda"] >= res["test/accuracy_gda"] - 0.1


def test_norm_split_accuracy_splits_at_the_mean_norm():
    f = np.array([[1.0, 0.0], [0.0, 2.0], [9.0, 0.0], [0.0, 12.0], [1.5, 0.0]])
    lg = np.array([[0, 1], [1, 0], [1, 0], [0, 1], [0, 1]], float)
    y = np.array([0, 0, 0, 1, 0])
    # mean norm 5.1: low = samples 0, 1, 4 (1 of 3 correct), high = 2, 3 (both correct)
    r = analysis.norm_split_accuracy(f, lg, y)
    assert r["acc_low_norm"] == pytest.approx(100.0 / 3)
    assert r["acc_high_norm"] == 100.0
    assert r["frac_low_norm"] == pytest.approx(0.6) and r["mean_norm"] == pytest.approx(5.1)
    with pytest.raises(ValueError, match="need features"):
        analysis.norm_split_accuracy(f, lg, y[:3])


def test_eigen_variance_is_scale_free_and_zero_for_balanced_energy():
    # Four orthogonal directions with equal counts: the covariance of the unit rows
    # has eigenvalues 0.25 (+-1 along each axis, zero mean) -> variance 0.
    u = np.concatenate([np.eye(4), -np.eye(4)] * 50)
    assert analysis.eigen_variance(u) == pytest.approx(0.0, abs=1e-12)
    assert analysis.eigen_variance(7.0 * u) == pytest.approx(0.0, abs=1e-12)
    # All energy along one axis: eigenvalues (200/199, 0, 0, 0) (ddof 1) -> 3/16 of its square.
    one = np.concatenate([np.eye(4)[:1], -np.eye(4)[:1]] * 100)
    assert analysis.eigen_variance(one) == pytest.approx(3 / 16 * (200 / 199) ** 2, rel=1e-9)
    with pytest.raises(ValueError, match="N >= 2"):
        analysis.eigen_variance(u[:1])
