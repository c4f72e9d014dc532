"""The held-out validation split: disjoint from training, stratified, fixed by its seed,
scored at every evaluation, and the split the best checkpoint is chosen on."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mfdjax.train.feed import Feed, hold_out
from mfdjax.train.rundir import check_continuation
from tests.train._tiny import tiny_config


def _rows(ds) -> set:
    return {(int(y), x.tobytes()) for x, y in zip(ds.images, ds.labels)}


def test_hold_out_is_disjoint_stratified_and_fixed_by_its_seed():
    whole = Feed(tiny_config()).train
    rest, val = hold_out(whole, 300, seed=3)
    assert len(val.labels) == 300 and len(rest.labels) == len(whole.labels) - 300
    # Together they are the split (as a multiset of rows: digits has no duplicates here).
    assert sorted(_rows(rest) | _rows(val)) == sorted(_rows(whole))
    assert not (_rows(rest) & _rows(val))
    share = np.bincount(val.labels, minlength=10) / 300
    full = np.bincount(whole.labels, minlength=10) / len(whole.labels)
    np.testing.assert_allclose(share, full, atol=1.0 / 300 + 1e-12)
    again = hold_out(whole, 300, seed=3)[1]
    np.testing.assert_array_equal(again.images, val.images)
    other = hold_out(whole, 300, seed=4)[1]
    assert not np.array_equal(other.images, val.images)


def test_feed_takes_validation_before_fraction_and_subset():
    plain = Feed(tiny_config())
    feed = Feed(tiny_config(dataset__validation_size=200, dataset__validation_seed=1))
    assert feed.num_val == 200
    assert feed.num_train == plain.num_train - 200
    assert feed.num_test == plain.num_test
    # The same validation images whatever the run's seed, fraction or subset.
    other = Feed(tiny_config(dataset__validation_size=200, dataset__validation_seed=1,
                             seed=5, dataset__train_fraction=0.5, dataset__train_subset=300))
    np.testing.assert_array_equal(other.val.images, feed.val.images)
    assert other.num_train == 300
    assert not (_rows(other.train) & _rows(feed.val))
    batches = list(feed.eval_batches(64, "val"))
    assert sum(b["mask"].sum() for b in batches) == 200
    with pytest.raises(ValueError, match="no validation split"):
        next(plain.eval_batches(64, "val"))


@pytest.mark.parametrize("value,match", [(-1, "validation_size"), (10 ** 6, "lower it")])
def test_bad_validation_size_is_named(value, match):
    with pytest.raises(ValueError, match=match):
        cfg = tiny_config()
        cfg.dataset.validation_size = value
        from mfdjax.configs.base import validate_config

        validate_config(cfg)
        Feed(cfg)


def test_streaming_refuses_a_validation_split():
    with pytest.raises(ValueError, match="in-memory"):
        Feed(tiny_config(dataset__validation_size=100, dataset__streaming=True))


def test_training_scores_validation_and_chooses_the_best_on_it(tmp_path):
    from mfdjax.train.loop import train_and_evaluate

    cfg = tiny_config(dataset__validation_size=200, num_epochs=2,
                      correlation__enabled=False)
    summary = train_and_evaluate(cfg, str(tmp_path / "run"))
    assert summary["num_val"] == 200
    rows = [json.loads(line) for line in open(tmp_path / "run" / "metrics.jsonl")]
    evals = [r for r in rows if "test/accuracy" in r]
    assert len(evals) == 2 and all("val/accuracy" in r for r in evals)
    vals = [r["val/accuracy"] for r in evals]
    assert summary["best_val_accuracy"] == max(vals)
    assert summary["final"]["val/accuracy"] == vals[-1]
    assert summary["best_val_step"] == evals[int(np.argmax(vals))]["step"]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "validation top-1" in report


def test_a_config_recorded_before_the_field_still_continues():
    old = {"dataset": {"name": "digits"}, "num_epochs": 1}
    new = {"dataset": {"name": "digits", "validation_size": 0, "validation_seed": 0},
           "num_epochs": 1}
    got = check_continuation(old, new, last_status="completed", checkpoint_step=10,
                             total_steps=10, finished=True, workdir="w")
    assert got.nothing_to_do and not got.changes
    new["dataset"]["validation_size"] = 100
    with pytest.raises(ValueError, match="validation_size"):
        check_continuation(old, new, last_status="completed", checkpoint_step=10,
                           total_steps=10, finished=True, workdir="w")
