"""Faults injected into the trainer: blow-ups, bit flips, a second trainer, kill -9, Ctrl-C,
resumes across the best epoch, reruns with other overrides, and config mistakes."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from mfdjax import cli
from mfdjax.train.checkpoint import Checkpointer
from mfdjax.train.loop import train_and_evaluate
from mfdjax.train.rundir import RunMismatch
from tests.train import _tiny

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "tests", "train", "tiny_config.py")
# 256 train images / batch 64 = 4 steps per epoch; 64 test images.
SMALL = ["dataset.train_subset=256", "dataset.test_subset=64", "correlation.batch_size=32"]


def _snapshot(workdir) -> dict:
    """Every file under ``workdir`` -> its bytes (the records a refused trainer must not touch)."""
    out = {}
    for root, _, files in os.walk(workdir):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, workdir)] = fh.read()
    return out


def _rows(workdir) -> list[dict]:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def _kind(row) -> str:
    return "eval" if "test/accuracy" in row else "train"


def _step_leaves(step_dir):
    """A checkpoint's arrays read with plain orbax (no template, no checks of ours)."""
    with ocp.StandardCheckpointer() as ck:
        tree = ck.restore(os.path.join(step_dir, "state"))
    return jax.tree.leaves(tree)


def _restore(workdir, template, keep=3):
    ck = Checkpointer(str(workdir), keep=keep, keep_best=False, async_save=False)
    try:
        return ck.restore(template)
    finally:
        ck.close()


def _assert_every_checkpoint_finite(workdir):
    n = 0
    for sub in ("checkpoints", "best"):
        d = os.path.join(workdir, sub)
        for step in (s for s in os.listdir(d) if s.isdigit()) if os.path.isdir(d) else ():
            for leaf in _step_leaves(os.path.join(d, step)):
                leaf = np.asarray(leaf)
                if np.issubdtype(leaf.dtype, np.inexact):
                    assert np.isfinite(leaf).all(), (sub, step)
            n += 1
    return n


# --------------------------------------------------------------- fault 1 and 2
@pytest.mark.slow
@pytest.mark.parametrize("lr", [1e6, 1e30])   # 1e3: the test after the next one
def test_blowup_saves_no_nonfinite_leaf_and_a_lower_lr_resumes(tmp_path, capsys, lr,
                                                                compile_cache):
    workdir = str(tmp_path / "run")
    args = ["train", "--config", TINY, "--workdir", workdir, *SMALL,
            "correlation.enabled=False"]
    assert cli.main(args + [f"optimizer.learning_rate={lr}"]) == 3
    err = capsys.readouterr().err
    assert "NaN/inf" in err and "no non-finite state was saved" in err
    _assert_every_checkpoint_finite(workdir)
    segments = json.loads(open(os.path.join(workdir, "run.json")).read())["segments"]
    assert segments[-1]["status"] == "nonfinite"

    # Following the message: the same command with a lower learning rate finishes the run.
    assert cli.main(args + ["optimizer.learning_rate=0.01"]) == 0
    out = capsys.readouterr().out
    assert "non-finite stop" in out and "optimizer.learning_rate" in out
    summary = json.loads(open(os.path.join(workdir, "summary.json")).read())
    assert summary["status"] == "completed" and summary["steps"] == 8
    assert summary["segments"] == 2


def test_infinite_number_in_the_config_is_refused_before_anything_is_written(tmp_path, capsys):
    workdir = tmp_path / "run"
    assert cli.main(["train", "--config", TINY, "--workdir", str(workdir),
                     "optimizer.learning_rate=1e400"]) == 2
    assert "optimizer.learning_rate" in capsys.readouterr().err
    assert not workdir.exists()


# ---------------------------------------------------------------------- fault 3
def _flip(path: str, rng: random.Random, n: int) -> None:
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        for _ in range(n):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        f.seek(0)
        f.write(data)


@pytest.mark.parametrize("n_bytes", [1, 64])
def test_bit_flips_are_detected_or_harmless_never_restored_silently(tmp_path, caplog, n_bytes):
    from flax import struct

    @struct.dataclass
    class S:
        step: jax.Array
        w: jax.Array
        m: jax.Array

    def state(step):
        r = np.random.default_rng(step)
        return S(step=jnp.asarray(step), w=jnp.asarray(r.normal(size=(64, 48)), jnp.float32),
                 m=jnp.asarray(r.normal(size=(300,)), jnp.float32))

    template = state(0)
    outcomes = []
    for trial in range(8):
        workdir = str(tmp_path / f"t{n_bytes}_{trial}")
        ck = Checkpointer(workdir, keep=3, keep_best=False, async_save=False)
        for step in (1, 2):
            ck.save(state(step))
        ck.close()
        step_dir = os.path.join(workdir, "checkpoints", "2")
        files = sorted(os.path.join(r, f) for r, _, fs in os.walk(step_dir) for f in fs
                       if os.path.sep + "d" + os.path.sep in os.path.join(r, f))
        assert files, "no data files found in the checkpoint"
        rng = random.Random(trial)
        _flip(rng.choice(files), rng, n_bytes)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="mfdjax.train.checkpoint"):
            got = _restore(workdir, template)
        if int(got.step) == 2:
            # The flip hit bytes that do not change the data: it must be exactly step 2.
            for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(state(2))):
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
            outcomes.append("harmless")
        else:
            assert int(got.step) == 1
            for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(state(1))):
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
            warnings = [r.getMessage() for r in caplog.records if "damaged" in r.getMessage()]
            assert len(warnings) == 1 and "\n" not in warnings[0], warnings
            assert len(warnings[0]) < 400
            outcomes.append("fell back")
    assert "fell back" in outcomes, outcomes


def test_flipped_checksum_record_or_missing_checksums_make_a_step_damaged(tmp_path):
    from flax import struct

    @struct.dataclass
    class S:
        step: jax.Array
        w: jax.Array

    ck = Checkpointer(str(tmp_path), keep=3, keep_best=False, async_save=False)
    for step in (1, 2):
        ck.save(S(step=jnp.asarray(step), w=jnp.full((8,), float(step))))
    ck.close()
    meta = os.path.join(str(tmp_path), "checkpoints", "2", "checksums", "metadata")
    record = json.loads(open(meta).read())
    key = next(k for k in record if "w" in k)
    record[key] = "00000000" + record[key][8:]
    with open(meta, "w") as f:
        json.dump(record, f)
    got = _restore(tmp_path, S(step=jnp.asarray(0), w=jnp.zeros((8,))))
    assert int(got.step) == 1


def test_a_nonfinite_state_is_never_checkpointed(tmp_path):
    from flax import struct

    from mfdjax.train.checkpoint import NonFiniteState

    @struct.dataclass
    class S:
        step: jax.Array
        w: jax.Array

    ck = Checkpointer(str(tmp_path), keep=3, keep_best=True, async_save=False)
    bad = S(step=jnp.asarray(3), w=jnp.asarray([1.0, np.inf]))
    with pytest.raises(NonFiniteState, match="w"):
        ck.save(bad)
    with pytest.raises(NonFiniteState):
        ck.save_best(bad, 0.9)
    ck.close()
    ck = Checkpointer(str(tmp_path), keep=3)
    assert ck.all_steps() == []
    ck.close()


# ---------------------------------------------------------------------- fault 4
def _hold_lock(workdir):
    code = ("import sys, time; from mfdjax.train.rundir import RunDir; "
            "r = RunDir(sys.argv[1]); r.acquire(); print('locked', flush=True); time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", code, workdir], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout.readline().strip() == b"locked"
    return proc


def test_second_trainer_is_refused_before_writing_and_a_killed_one_leaves_no_lock(
        tmp_path, capsys):
    workdir = str(tmp_path / "run")
    os.makedirs(workdir)
    with open(os.path.join(workdir, "config.json"), "w") as f:
        f.write("{}")                       # an existing run's record
    holder = _hold_lock(workdir)
    try:
        before = _snapshot(workdir)
        t0 = time.time()
        rc = cli.main(["train", "--config", TINY, "--workdir", workdir, *SMALL])
        assert rc == 5
        assert time.time() - t0 < 30
        err = capsys.readouterr().err
        assert "in use by another trainer" in err and f"pid {holder.pid}" in err
        assert _snapshot(workdir) == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    from mfdjax.train.rundir import RunDir

    with RunDir(workdir):                   # the kernel dropped the dead trainer's lock
        pass


# ------------------------------------------------- faults 5 and 6: whole-run records
def _tiny_cfg(**kw):
    # seed 1: test accuracy 10.9 / 7.8 / 7.8 % at epochs 1 / 2 / 3 (best before a resume at 8).
    base = dict(dataset__train_subset=256, dataset__test_subset=64,
                correlation__batch_size=32, num_epochs=3, seed=1)
    base.update(kw)
    return _tiny.tiny_config(**base)


@pytest.mark.slow
def test_resume_across_the_best_epoch_and_reruns_with_other_overrides(tmp_path, capsys,
                                                                     compile_cache):
    ref = train_and_evaluate(_tiny_cfg(), str(tmp_path / "ref"))
    evals = [r for r in _rows(str(tmp_path / "ref")) if _kind(r) == "eval"]
    assert [r["step"] for r in evals] == [4, 8, 12]
    # The premise of this test: the best epoch is before the resume point (step 8).
    assert ref["best_step"] <= 8, evals

    workdir = str(tmp_path / "run")
    train_and_evaluate(_tiny_cfg(max_steps=8), workdir)
    capsys.readouterr()
    summary = train_and_evaluate(_tiny_cfg(), workdir)
    assert "resumed from step 8" in capsys.readouterr().out
    for key in ("best_test_accuracy", "best_step", "steps", "param_checksum"):
        assert summary[key] == ref[key], key
    assert summary["final"]["test/accuracy"] == ref["final"]["test/accuracy"]
    assert summary["final"]["train/loss_epoch"] == pytest.approx(
        ref["final"]["train/loss_epoch"], rel=1e-6)
    rows = _rows(workdir)
    keys = [(r["step"], _kind(r)) for r in rows]
    assert len(keys) == len(set(keys)), "duplicate metrics rows"
    assert keys == [(r["step"], _kind(r)) for r in _rows(str(tmp_path / "ref"))]
    report = open(os.path.join(workdir, "report.md")).read()
    assert f"| best test top-1 (%) | {100 * ref['best_test_accuracy']:.2f} |" in report

    # A finished run, the same command: nothing trained, nothing rewritten.
    before = _snapshot(workdir)
    before.pop(".lock", None)
    again = train_and_evaluate(_tiny_cfg(progress_bar=False, log_every_steps=2), workdir)
    assert again["best_test_accuracy"] == ref["best_test_accuracy"]
    after = _snapshot(workdir)
    after.pop(".lock", None)
    assert after == before
    # Different overrides that cannot continue the run: refused, naming the fields.
    with pytest.raises(RunMismatch, match=r"optimizer\.momentum.*seed|seed.*optimizer\.momentum"):
        train_and_evaluate(_tiny_cfg(optimizer__momentum=0.5, seed=3), workdir)
    with pytest.raises(RunMismatch, match="num_epochs"):
        train_and_evaluate(_tiny_cfg(num_epochs=1), workdir)   # the README's example
    with pytest.raises(RunMismatch, match="optimizer.learning_rate"):
        train_and_evaluate(_tiny_cfg(optimizer__learning_rate=0.05), workdir)
    after = _snapshot(workdir)
    after.pop(".lock", None)
    assert after == before
    # More epochs continue the run.
    more = train_and_evaluate(_tiny_cfg(num_epochs=4), workdir)
    assert more["steps"] == 16 and more["segments"] == 3
    assert "resumed from step 12" in capsys.readouterr().out
    assert more["best_test_accuracy"] >= ref["best_test_accuracy"]

    # A torn last line (a crash in the middle of a write) does not break the report.
    with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:
        f.write('{"step": 17, "train/lo')
    assert cli.main(["report", "--workdir", workdir]) == 0


# ------------------------------------------------------- kill -9 at random points
def _env(cache):
    env = dict(os.environ)
    env.update(JAX_PLATFORMS="cpu", JAX_COMPILATION_CACHE_DIR=str(cache),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    return env


def _cli(workdir, extra, env):
    return subprocess.Popen([sys.executable, "-m", "mfdjax.cli", "train", "--config", TINY,
                             "--workdir", str(workdir), *SMALL, "num_epochs=3",
                             "checkpoint.every_steps=1", "checkpoint.async_save=True",
                             "log_every_steps=1", *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _segments(workdir) -> int:
    try:
        return len(json.loads((workdir / "run.json").read_text())["segments"])
    except (OSError, ValueError):
        return 0


@pytest.mark.slow
def test_kill_9_at_random_points_then_resume_matches_an_uninterrupted_run(tmp_path):
    env = _env(tmp_path / "cache")
    ref = _cli(tmp_path / "ref", [], env)
    out, _ = ref.communicate(timeout=300)
    assert ref.returncode == 0, out.decode()[-2000:]
    ref_summary = json.loads((tmp_path / "ref" / "summary.json").read_text())

    workdir = tmp_path / "run"
    rng = random.Random(0)
    kills = 0
    for _ in range(3):
        before = _segments(workdir)
        proc = _cli(workdir, [], env)
        deadline = time.time() + 240        # wait until this trainer has started training
        while time.time() < deadline and proc.poll() is None and _segments(workdir) == before:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        if proc.poll() is None:
            proc.kill()                      # SIGKILL: no handler runs
            kills += 1
        proc.communicate(timeout=60)
    assert kills >= 2
    proc = _cli(workdir, [], env)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out.decode()[-2000:]
    summary = json.loads((workdir / "summary.json").read_text())
    for key in ("steps", "param_checksum", "best_test_accuracy", "best_step"):
        assert summary[key] == ref_summary[key], key
    keys = [(r["step"], _kind(r)) for r in _rows(workdir)]
    assert keys == [(r["step"], _kind(r)) for r in _rows(tmp_path / "ref")]
    statuses = [s["status"] for s in json.loads((workdir / "run.json").read_text())["segments"]]
    assert statuses[-1] == "completed" and statuses.count("killed") == kills, statuses


# ---------------------------------------------------------------------- fault 7
@pytest.mark.slow
def test_ctrl_c_saves_and_the_rerun_says_where_it_resumed(tmp_path, capsys):
    workdir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "mfdjax.cli", "train", "--config", TINY,
                             "--workdir", str(workdir), "num_epochs=1000", "log_every_steps=1",
                             "checkpoint.every_epoch=False", "correlation.enabled=False"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        metrics = workdir / "metrics.jsonl"
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            if metrics.exists() and metrics.read_text().count("\n") >= 2:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stdout.read().decode()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out.decode()
    assert proc.returncode == 130, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    assert "SIGINT" in text and "run the same command again to resume" in text
    steps = sorted(int(d) for d in os.listdir(workdir / "checkpoints") if d.isdigit())
    assert steps and steps[-1] >= 2
    rc = cli.main(["train", "--config", TINY, "--workdir", str(workdir), "num_epochs=1000",
                   "log_every_steps=1", "checkpoint.every_epoch=False",
                   "correlation.enabled=False", f"max_steps={steps[-1] + 1}"])
    assert rc == 0
    assert f"resumed from step {steps[-1]}" in capsys.readouterr().out


# ------------------------------------------------------------- config mistakes
class _NoSow(_tiny.TinyCNN):
    """The tiny CNN without any sow_feature call."""

    def __call__(self, x, *, train: bool, features=None):
        return super().__call__(x, train=train, features=None)


if "trainer_tiny_nosow" not in _tiny.registry.list_models():
    @_tiny.registry.register("trainer_tiny_nosow")
    def _nosow(*, num_classes, stem=None, head="linear", head_kwargs=None, dtype=jnp.float32,
               **options):
        del stem
        return _tiny.Classifier(_NoSow(dtype=dtype, **options),
                                _tiny.make_head(head, num_classes, **(head_kwargs or {})))


MISTAKES = [
    ("batch_size=0", "batch_size"),
    ("batch_size=-64", "batch_size"),
    ("log_every_steps=0", "log_every_steps"),
    ("eval_every_epochs=0", "eval_every_epochs"),
    ("eval_batch_size=0", "eval_batch_size"),
    ("num_epochs=0", "num_epochs"),
    ("num_epochs=-2", "num_epochs"),
    ("dataset.train_subset=-5", "dataset.train_subset"),
    ("optimizer.learning_rate=1e400", "optimizer.learning_rate"),
    ("batch_size=4096", "larger than the training set"),
    ("model.name=trainer_tiny_nosow mfd.weight=1.0", "mfd.features"),
    ("model.name=trainer_tiny_nosow", "correlation.features"),
    ("no_such_field=1", "no_such_field"),
]


@pytest.mark.parametrize("override,named", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_config_mistakes_exit_2_naming_the_field_and_write_nothing(tmp_path, capsys,
                                                                  override, named):
    workdir = tmp_path / "run"
    rc = cli.main(["train", "--config", TINY, "--workdir", str(workdir), *SMALL,
                   *override.split()])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert named in err and "Traceback" not in err
    assert not workdir.exists(), "a stray run directory was left behind"


def test_file_workdir_is_an_io_failure_with_one_line(tmp_path, capsys):
    path = tmp_path / "afile"
    path.write_text("x")
    assert cli.main(["train", "--config", TINY, "--workdir", str(path), *SMALL]) == 4
    err = capsys.readouterr().err.strip()
    assert "is a file" in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_full_disk_and_unreadable_checkpoints_exit_4(tmp_path, capsys, monkeypatch,
                                                     compile_cache):
    workdir = str(tmp_path / "run")
    args = ["train", "--config", TINY, "--workdir", workdir, *SMALL, "num_epochs=1",
            "correlation.enabled=False"]
    real_save = ocp.CheckpointManager.save

    def full(self, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ocp.CheckpointManager, "save", full)
    assert cli.main(args) == 4
    err = capsys.readouterr().err
    assert "No space left on device" in err and "I/O failure" in err
    monkeypatch.setattr(ocp.CheckpointManager, "save", real_save)
    assert cli.main(args) == 0
    capsys.readouterr()
    # Damage every checkpoint: one-line warnings, then exit 4 naming the directory.
    for root, _, files in os.walk(os.path.join(workdir, "checkpoints")):
        for f in files:
            if os.path.sep + "d" + os.path.sep in os.path.join(root, f):
                with open(os.path.join(root, f), "r+b") as fh:
                    fh.truncate(3)
    assert cli.main(args + ["num_epochs=2"]) == 4
    err = capsys.readouterr().err
    assert "no readable checkpoint" in err and "Traceback" not in err
    for line in err.splitlines():
        assert len(line) < 600, line


# ------------------------------------------------------------------ small things
def test_info_shows_every_variant_of_a_comparison(capsys):
    assert cli.main(["info", "--config", "default"]) == 0
    out = capsys.readouterr().out
    assert "variant softmax:" in out and "variant softmax_mfd:" in out
    assert "MFD weight 0 " in out and "MFD weight 1 " in out


def test_help_lists_the_config_names(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = capsys.readouterr().out
    assert "mfd_cifar" in out and "pod_losses" in out


def test_a_checkpoint_from_before_the_checksums_still_restores(tmp_path, caplog):
    """Run directories written by the previous layout (one ``default`` item) resume."""
    from flax import struct

    @struct.dataclass
    class S:
        step: jax.Array
        w: jax.Array

    old = ocp.CheckpointManager(str(tmp_path / "checkpoints"),
                                options=ocp.CheckpointManagerOptions(create=True),
                                item_handlers=ocp.StandardCheckpointHandler())
    old.save(3, args=ocp.args.StandardSave(S(step=jnp.asarray(3), w=jnp.full((4,), 3.0))))
    old.wait_until_finished()
    old.close()
    with caplog.at_level(logging.WARNING, logger="mfdjax.train.checkpoint"):
        got = _restore(tmp_path, S(step=jnp.asarray(0), w=jnp.zeros((4,))), keep=2)
    assert int(got.step) == 3 and float(got.w[0]) == 3.0
    assert any("unverified" in r.getMessage() for r in caplog.records)


def test_unwritable_workdir_is_an_io_failure_with_one_line(tmp_path, capsys, monkeypatch):
    """A read-only parent (simulated: the tests may run as root, which ignores modes)."""
    from mfdjax.train import rundir

    def denied(path, *a, **k):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(rundir.os, "makedirs", denied)
    workdir = tmp_path / "ro" / "run"
    assert cli.main(["train", "--config", TINY, "--workdir", str(workdir), *SMALL]) == 4
    err = capsys.readouterr().err.strip()
    assert "Permission denied" in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_a_checkpoint_that_diverges_again_is_skipped_on_the_next_rerun(tmp_path, capsys,
                                                                       compile_cache):
    """lr=1e3 blows up after step 5 (epoch-end checkpoint at 4). Rerunning with the same lr
    resumes from 4 and blows up again before a new checkpoint, so step 4 is suspect: the
    next rerun (lower lr) goes further back -- here to step 0 -- instead of looping."""
    workdir = str(tmp_path / "run")
    args = ["train", "--config", TINY, "--workdir", workdir, *SMALL,
            "correlation.enabled=False"]
    assert cli.main(args + ["optimizer.learning_rate=1e3"]) == 3
    assert "resumes from step 4" in capsys.readouterr().err
    assert _assert_every_checkpoint_finite(workdir) >= 1
    assert cli.main(args + ["optimizer.learning_rate=1e3"]) == 3
    _assert_every_checkpoint_finite(workdir)
    captured = capsys.readouterr()
    assert "resumed from step 4" in captured.out
    assert "goes back to step 0" in captured.err
    assert cli.main(args + ["optimizer.learning_rate=0.01"]) == 0
    out = capsys.readouterr().out
    assert "training from step 0" in out and "resumed from step" not in out
    summary = json.loads(open(os.path.join(workdir, "summary.json")).read())
    assert summary["status"] == "completed" and summary["segments"] == 3
    ck = Checkpointer(workdir, keep=2, keep_best=False, async_save=False)
    assert ck.all_steps()[-1] == 8
    ck.close()
    # best/ holds the best state of the run that finished, not one of the abandoned branch.
    best = [int(d) for d in os.listdir(os.path.join(workdir, "best")) if d.isdigit()]
    assert best == [summary["best_step"]]


def test_every_shipped_config_and_variant_passes_validate_config():
    import copy

    from mfdjax.configs import apply_overrides, list_configs, load_config
    from mfdjax.configs.base import validate_config

    for name in list_configs():
        config = load_config(name)
        validate_config(config)
        for variant in config.comparison:
            c = copy.deepcopy(config)
            apply_overrides(c, config.comparison[variant])
            validate_config(c)
