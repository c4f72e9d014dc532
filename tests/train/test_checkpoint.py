"""Checkpoints: exact resume, damaged-checkpoint fallback, SIGTERM, non-finite stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mfdjax.train.checkpoint import CheckpointError, Checkpointer
from mfdjax.train.loop import NonFiniteLossError, train_and_evaluate
from tests.train._tiny import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _pod_config(max_steps):
    # 256 examples / batch 64 = 4 steps per epoch: step 4 ends epoch 1 (delta update).
    return tiny_config(loss__name="pod", model__head="pod", model__head_kwargs__dim=16,
                       mfd__weight=1.0, dataset__train_subset=256, dataset__test_subset=64,
                       num_epochs=2, max_steps=max_steps, correlation__enabled=False,
                       checkpoint__keep_best=False)


@pytest.mark.slow
def test_resume_is_bit_identical(tmp_path, compile_cache):
    _, full = train_and_evaluate(_pod_config(7), str(tmp_path / "a"), return_state=True)
    first, part = train_and_evaluate(_pod_config(5), str(tmp_path / "b"), return_state=True)
    assert first["steps"] == 5  # stopped mid-epoch 2
    summary, resumed = train_and_evaluate(_pod_config(7), str(tmp_path / "b"),
                                          return_state=True)
    assert summary["steps"] == 7 and int(resumed.step) == 7
    for name in ("params", "batch_stats", "opt_state", "loss_state", "rng"):
        # Same structure, shapes, dtypes and bits (chex names the leaf that differs).
        chex.assert_trees_all_equal_structs(getattr(full, name), getattr(resumed, name))
        chex.assert_trees_all_equal(jax.device_get(getattr(full, name)),
                                    jax.device_get(getattr(resumed, name)), strict=True)
    # delta was updated at the epoch boundary, and is part of what was restored.
    assert float(resumed.loss_state["delta"]) != pytest.approx(0.0005)


def _corrupt(step_dir):
    n = 0
    for root, _, files in os.walk(step_dir):
        for f in files:
            p = os.path.join(root, f)
            size = os.path.getsize(p)
            with open(p, "r+b") as fh:
                fh.truncate(size // 3)
            n += 1
    assert n > 0


def test_damaged_newest_checkpoint_falls_back(tmp_path):
    from flax import struct

    @struct.dataclass
    class S:
        step: jax.Array
        w: jax.Array

    ck = Checkpointer(str(tmp_path), keep=3, keep_best=False, async_save=False)
    for step in (1, 2):
        ck.save(S(step=jnp.asarray(step), w=jnp.full((4, 3), float(step))))
    ck.wait()
    _corrupt(os.path.join(str(tmp_path), "checkpoints", "2"))
    os.makedirs(os.path.join(str(tmp_path), "checkpoints", "3"))  # empty step dir
    template = S(step=jnp.asarray(0), w=jnp.zeros((4, 3)))
    ck2 = Checkpointer(str(tmp_path), keep=3, keep_best=False, async_save=False)
    got = ck2.restore(template)
    assert int(got.step) == 1
    np.testing.assert_array_equal(np.asarray(got.w), np.ones((4, 3)))
    _corrupt(os.path.join(str(tmp_path), "checkpoints", "1"))
    with pytest.raises(CheckpointError, match="no readable checkpoint"):
        Checkpointer(str(tmp_path), keep=3, keep_best=False, async_save=False).restore(template)


@pytest.mark.slow
def test_sigterm_finishes_the_step_saves_and_exits(tmp_path):
    workdir = tmp_path / "run"
    cmd = [sys.executable, "-m", "mfdjax.cli", "train", "--config",
           os.path.join(ROOT, "tests", "train", "tiny_config.py"), "--workdir", str(workdir),
           "num_epochs=1000", "log_every_steps=1", "checkpoint.every_epoch=False"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        metrics = workdir / "metrics.jsonl"
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            if metrics.exists() and metrics.read_text().count("\n") >= 2:
                break
            time.sleep(0.5)
        assert proc.poll() is None, proc.stdout.read().decode()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, out.decode()
    assert b"SIGTERM" in out
    steps = sorted(int(d) for d in os.listdir(workdir / "checkpoints") if d.isdigit())
    assert steps and steps[-1] >= 2


@pytest.mark.slow
def test_nonfinite_loss_stops_with_error_and_saves_nothing_nonfinite(tmp_path):
    import json

    config = tiny_config(optimizer__learning_rate=1e30, optimizer__weight_decay=0.0,
                         log_every_steps=1, correlation__enabled=False)
    with pytest.raises(NonFiniteLossError, match="NaN/inf"):
        train_and_evaluate(config, str(tmp_path))
    # The first step already blows up: no checkpoint at all (a rerun starts from step 0).
    assert Checkpointer(str(tmp_path), keep=2, keep_best=False, async_save=False
                        ).all_steps() == []
    segments = json.loads((tmp_path / "run.json").read_text())["segments"]
    assert segments[-1]["status"] == "nonfinite"
