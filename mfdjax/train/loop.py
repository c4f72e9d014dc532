"""The training loop: everything with side effects (data feeding, logging, checkpoints, signals).

:func:`train_and_evaluate` runs one config into one run directory:

* before anything is written or compiled: the config is validated
  (:func:`mfdjax.configs.base.validate_config`, the loss/head check), the data
  is opened, the model is traced abstractly (it must sow feature maps when MFD
  or the correlation diagnostic needs them), then the run directory is locked
  (:class:`mfdjax.train.rundir.RunDir`: a second trainer is refused) and the
  requested config is compared with the recorded one
  (:func:`~mfdjax.train.rundir.check_continuation`);
* data: :class:`mfdjax.train.feed.Feed` (in memory, or streamed through
  ``HostLoader``); every global batch is ``batch_indices(N, B, seed,
  epoch)[step_in_epoch]``, a pure function of ``(seed, epoch)``, so a resumed run
  gets exactly the same batches. Each process reads only its contiguous slice
  (``process_slice``) and the global array is assembled with
  ``jax.make_array_from_process_local_data``, sharded over the mesh's ``"data"`` axis;
* the jitted step (:mod:`mfdjax.train.step`) with the state replicated and the
  batch sharded, donating the old state;
* resume: if ``workdir/checkpoints`` holds a readable, verified state it is
  restored (newest good step), "resumed from step N" is printed, and
  ``metrics.jsonl`` is cut back to that step (the steps after it are trained
  again, so their rows would be duplicates);
* per epoch: test top-1 (top-5 for >= 100 classes) and test CE, the per-map
  mean |correlation| (Tables I/III of the MFD paper) on a FIXED batch (the
  first ``correlation.batch_size`` test images), a checkpoint, the best checkpoint;
* SIGTERM or SIGINT (Ctrl-C): the step in flight finishes, the state is saved,
  and :class:`Preempted` is raised (the CLI exits with 143 / 130); a second
  Ctrl-C aborts at once;
* a non-finite loss, gradient or updated state: the step discards the update
  (see step.py) and the loop raises :class:`NonFiniteLossError` WITHOUT saving
  the frozen state (finite, but usually already divergent: its next forward pass
  overflows under any learning rate). Rerunning with a lower learning rate
  resumes from the newest checkpoint; if that rerun diverges again before its
  next checkpoint, that checkpoint is marked suspect in ``run.json`` and the
  following rerun goes one further back;
* at the end: ``summary.json`` and the run report (report.md + PNGs), built
  from the run's records (``metrics.jsonl``, ``run.json``), so they describe
  the whole run however often it was resumed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import threading
import time
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from mfdjax.train import mesh as mesh_lib
from mfdjax.train.checkpoint import Checkpointer
from mfdjax.train.feed import Feed
from mfdjax.train.metrics import MetricWriter, read_jsonl, to_python
from mfdjax.train.optim import make_optimizer
from mfdjax.train.rundir import (RunDir, RunMismatch, atomic_write, check_continuation,
                                 config_to_dict)
from mfdjax.train.state import create_train_state, make_key, param_count
from mfdjax.train.step import make_correlation_fn, make_eval_step, make_train_step

__all__ = ["NonFiniteLossError", "Preempted", "build_model", "evaluate", "restore_run",
           "train_and_evaluate"]

log = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """The loss, a gradient or the updated state became NaN/inf (nothing non-finite was saved)."""


class Preempted(RuntimeError):
    """SIGTERM or SIGINT arrived; the state was saved and the run can be resumed.

    Attributes:
      signal_name: "SIGTERM" or "SIGINT".
    """

    def __init__(self, message: str, signal_name: str = "SIGTERM"):
        super().__init__(message)
        self.signal_name = signal_name


_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


def build_model(config: Any, num_classes: int):
    """``mfdjax.models.get`` from ``config.model`` (name, stem, head, head_kwargs, dtype...)."""
    from mfdjax import models

    m = config.model
    if m.dtype not in _DTYPES:
        raise ValueError(f"`model.dtype` must be one of {tuple(_DTYPES)}, got {m.dtype!r}.")
    kwargs = dict(m.kwargs.to_dict()) if hasattr(m.kwargs, "to_dict") else dict(m.kwargs)
    if m.stem:
        kwargs["stem"] = m.stem
    head_kwargs = (m.head_kwargs.to_dict() if hasattr(m.head_kwargs, "to_dict")
                   else dict(m.head_kwargs))
    try:
        return models.get(m.name, num_classes=num_classes, head=m.head,
                          head_kwargs=head_kwargs, dtype=_DTYPES[m.dtype], **kwargs)
    except TypeError as e:   # an option the model family does not have, or a wrong type
        raise ValueError(f"`model.kwargs` {sorted(kwargs)} / `model.head_kwargs` "
                         f"{sorted(head_kwargs)} of model {m.name!r}: {e}. The options of "
                         "each family are in docs/models.rst.") from None


def check_model_builds(model: Any, image_shape: tuple, name: str,
                       levels: Sequence[str] = ()) -> dict[str, list[str]]:
    """Traces the model (nothing is computed): once per feature level asked for, which
    also gives the names of the maps it sows there, else its initialisation alone. An
    option whose value the model cannot use fails here, before anything is written,
    naming the config fields.

    Returns:
      ``{level: names of the maps sown at that level}``.
    """
    try:
        if not levels:
            dummy = jax.ShapeDtypeStruct((2,) + tuple(image_shape), jnp.float32)
            key = jax.random.PRNGKey(0)
            jax.eval_shape(
                lambda x: model.init({"params": key, "dropout": key}, x, train=False), dummy)
        return {level: _sown_names(model, image_shape, level) for level in set(levels)}
    except (TypeError, ValueError) as e:
        raise ValueError(f"model {name!r} cannot be built with `model.kwargs` / "
                         f"`model.head_kwargs` as given: {type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''}") from None


class _StopSignals:
    """Sets a flag on SIGTERM or SIGINT (main thread only); restores the old handlers on exit.

    A second SIGINT (Ctrl-C pressed again) raises KeyboardInterrupt at once.
    """

    def __init__(self):
        self.raised: str | None = None
        self._old: dict = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        del frame
        if signum == signal.SIGINT and self.raised == "SIGINT":
            raise KeyboardInterrupt
        self.raised = signal.Signals(signum).name
        if signum == signal.SIGINT and jax.process_index() == 0:
            print("\nCtrl-C: finishing the step and saving (press Ctrl-C again to abort "
                  "without saving)", flush=True)

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


def _round_up(n: int, m: int) -> int:
    return ((n + m - 1) // m) * m


def evaluate(state, eval_fn, feed: Feed, mesh, eval_batch_size: int, split: str = "test"
             ) -> dict:
    """Top-1 / top-5 / CE over the whole test set (``split="val"``: the validation split),
    padded last batch, masked; keys ``"<split>/accuracy"``, ``"<split>/loss"``."""
    n = feed.num_val if split == "val" else feed.num_test
    bs = _round_up(min(eval_batch_size, _round_up(n, mesh.size)), mesh.size)
    totals = None
    for local in feed.eval_batches(bs, split):
        out = eval_fn(state, mesh_lib.global_batch(local, mesh))
        totals = out if totals is None else jax.tree.map(jnp.add, totals, out)
    totals = jax.device_get(totals)
    count = float(totals["count"])
    res = {f"{split}/accuracy": float(totals["correct"]) / count,
           f"{split}/loss": float(totals["loss"]) / count}
    if feed.num_classes >= 100:
        res[f"{split}/top5"] = float(totals["correct5"]) / count
    return res


def selection_metric(feed: Feed) -> str:
    """The metric the best checkpoint is chosen on: validation top-1 when the run holds
    out a validation split, else test top-1 (the behaviour of runs without one)."""
    return "val/accuracy" if feed.num_val else "test/accuracy"


def _sown_names(model, input_shape: tuple, level: str) -> list[str]:
    """Names of the maps ``model`` sows at ``level`` (abstract trace: nothing is compiled)."""
    from mfdjax.models.common import COLLECTION

    dummy = jnp.zeros((2,) + tuple(input_shape), jnp.float32)

    def run():
        key = jax.random.PRNGKey(0)
        variables = model.init({"params": key, "dropout": key}, dummy, train=False)
        _, updates = model.apply(variables, dummy, train=False, features=level,
                                 mutable=[COLLECTION])
        return updates.get(COLLECTION, {})

    from mfdjax.models.common import feature_names

    paths = [p.split("/") for p in feature_names(jax.eval_shape(run))]
    common = 0   # drop the wrapper modules every map shares (e.g. "backbone")
    while paths and all(len(p) > common + 1 and p[common] == paths[0][common] for p in paths):
        common += 1
    return ["/".join(p[common:]) for p in paths]


def _plan(config: Any) -> dict:
    """Every check that needs no compilation and writes nothing: config, data, model, optimizer."""
    from mfdjax.configs.base import validate_config
    from mfdjax.train.objective import check_loss_config

    validate_config(config)
    check_loss_config(config)
    feed = Feed(config)
    num_classes = feed.num_classes
    mesh = mesh_lib.make_mesh()
    gbs = int(config.batch_size)
    if gbs % mesh.size or gbs % jax.process_count():
        raise ValueError(f"`batch_size` ({gbs}) must be divisible by the number of devices "
                         f"({mesh.size}) and of processes ({jax.process_count()}).")
    steps_per_epoch = feed.num_train // gbs
    if steps_per_epoch < 1:
        raise ValueError(f"`batch_size` ({gbs}) is larger than the training set "
                         f"({feed.num_train} examples); lower batch_size.")
    total_steps = int(config.num_epochs) * steps_per_epoch
    if config.max_steps and config.max_steps > 0:
        total_steps = min(total_steps, int(config.max_steps))

    model = build_model(config, num_classes)
    tx, schedule = make_optimizer(config.optimizer, steps_per_epoch=steps_per_epoch,
                                  num_epochs=int(config.num_epochs))
    map_names = []
    needs = []
    if config.mfd.weight > 0:
        needs.append(("mfd.features", config.mfd.features, "set mfd.weight=0"))
    if config.correlation.enabled:
        from mfdjax.models.common import check_level

        check_level(config.correlation.features)
        needs.append(("correlation.features", config.correlation.features,
                      "set correlation.enabled=False"))
    sown = check_model_builds(model, feed.image_shape, config.model.name,
                              [level for _, level, _ in needs])
    for field, level, fix in needs:
        names = sown[level]
        if not names:
            raise ValueError(f"`{field}`={level!r}: model {config.model.name!r} sows no feature "
                             f"maps at that level; {fix}, or use a model that sows them "
                             "(see mfdjax.models).")
        if field == "correlation.features":
            map_names = names
    return dict(feed=feed, mesh=mesh, num_classes=num_classes, batch_size=gbs,
                steps_per_epoch=steps_per_epoch, total_steps=total_steps, model=model,
                tx=tx, schedule=schedule, map_names=map_names)


def _build(config: Any, env: dict) -> dict:
    """The replicated initial state and the jitted steps (compiles)."""
    feed, mesh, model, tx = env["feed"], env["mesh"], env["model"], env["tx"]
    state = create_train_state(config, model, rng=make_key(config.seed, config.prng_impl),
                               input_shape=feed.image_shape, num_classes=env["num_classes"],
                               tx=tx)
    n_params = param_count(state.params)
    state = mesh_lib.replicate(state, mesh)

    mean, std = feed.mean, feed.std
    repl = mesh_lib.replicated_sharding(mesh)
    data = mesh_lib.data_sharding(mesh)
    train_step = jax.jit(
        make_train_step(config, steps_per_epoch=env["steps_per_epoch"], mean=mean, std=std,
                        schedule=env["schedule"]),
        in_shardings=(repl, data), out_shardings=(repl, repl), donate_argnums=0)
    eval_step = jax.jit(make_eval_step(config, mean=mean, std=std,
                                       num_classes=env["num_classes"]),
                        in_shardings=(repl, data), out_shardings=repl)
    corr_fn = None
    corr_images = None
    if config.correlation.enabled:
        level = config.correlation.features
        corr_fn = jax.jit(make_correlation_fn(config, mean=mean, std=std, level=level),
                          in_shardings=(repl, data), out_shardings=repl)
        nc = min(int(config.correlation.batch_size), feed.num_test)
        nc = (nc // mesh.size) * mesh.size
        if nc >= 2 * mesh.size:
            corr_images = mesh_lib.global_batch({"image": feed.fixed_images(nc)}, mesh)["image"]
    env = dict(env)
    env.update(state=state, param_count=n_params, mean=mean, std=std, train_step=train_step,
               eval_step=eval_step, corr_fn=corr_fn, corr_images=corr_images)
    return env


def _setup(config: Any) -> dict:
    """Data, mesh, model, optimizer, the replicated initial state and the jitted steps."""
    return _build(config, _plan(config))


def restore_run(workdir: str, *, best: bool = False) -> dict:
    """Rebuilds a run from ``workdir/config.json`` and restores its newest (or best) state.

    Returns:
      the :func:`_setup` dict with ``state`` restored, plus ``config`` and ``step``.
    """
    import ml_collections

    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        subs = sorted(d for d in os.listdir(workdir)
                      if os.path.exists(os.path.join(workdir, d, "config.json"))
                      ) if os.path.isdir(workdir) else []
        if subs:
            raise FileNotFoundError(
                f"{workdir} is a comparison directory; give one of its runs as --workdir: "
                + ", ".join(os.path.join(workdir, d) for d in subs) + ".")
        raise FileNotFoundError(f"{path} is missing: {workdir} is not a run directory "
                                "(train one with `mfdjax train --workdir ...`).")
    with open(path) as f:
        config = ml_collections.ConfigDict(json.load(f))
    env = _setup(config)
    ckpt = Checkpointer(workdir, keep=max(int(config.checkpoint.keep), 1), keep_best=True,
                        async_save=False)
    try:
        state = ckpt.restore(env["state"], best=best)
    finally:
        ckpt.close()
    if state is None:
        raise FileNotFoundError(f"no {'best ' if best else ''}checkpoint in {workdir}.")
    env.update(state=state, config=config, step=int(jax.device_get(state.step)))
    return env


# ----------------------------------------------------------------------- records
def _is_eval(row: dict) -> bool:
    return "test/accuracy" in row


def _is_train(row: dict) -> bool:
    return "train/loss" in row


def _summary(config: Any, workdir: str, env: dict, rows: list[dict], segments: list[dict],
             state: Any, status: str) -> dict:
    """The run summary from its records: every segment and every logged row count."""
    evals = [r for r in rows if _is_eval(r)]
    trains = [r for r in rows if _is_train(r)]
    final = {k: v for k, v in evals[-1].items() if k not in ("step",)} if evals else {}
    def best_of(key):
        accs = [(r[key], r["step"]) for r in evals if isinstance(r.get(key), (int, float))]
        return max(accs, key=lambda a: (a[0], -a[1])) if accs else (float("nan"), None)

    best, best_step = best_of("test/accuracy")
    best_val, best_val_step = best_of("val/accuracy")
    steps = int(jax.device_get(state.step))
    spe = env["steps_per_epoch"]
    return {
        "status": status,
        "workdir": workdir,
        "name": os.path.basename(workdir),
        "description": config.get("description", ""),
        "model": config.model.name,
        "loss": config.loss.name,
        "mfd_weight": float(config.mfd.weight),
        "mfd_features": config.mfd.features,
        "dataset": config.dataset.name,
        "num_train": int(env["feed"].num_train),
        "num_test": int(env["feed"].num_test),
        "num_val": int(env["feed"].num_val),
        "param_count": env["param_count"],
        "steps": steps,
        "steps_per_epoch": spe,
        "epochs": steps / spe,
        "wall_seconds": float(sum(s.get("wall_seconds", 0.0) for s in segments)),
        "segments": len(segments),
        "train_images_per_sec_last": (trains[-1].get("train/images_per_sec", float("nan"))
                                      if trains else float("nan")),
        "final": final,
        "best_test_accuracy": best,
        "best_step": best_step,
        "best_val_accuracy": best_val,
        "best_val_step": best_val_step,
        "map_names": list(env.get("map_names") or []),
        "devices": jax.device_count(),
        "processes": jax.process_count(),
        "param_checksum": float(sum(float(jnp.sum(jnp.abs(x).astype(jnp.float32)))
                                    for x in jax.tree.leaves(state.params))),
    }


def _say(msg: str) -> None:
    if jax.process_index() == 0:
        print(msg, flush=True)


def train_and_evaluate(config: Any, workdir: str, *, return_state: bool = False):
    """Trains ``config`` into ``workdir`` (resuming if it holds a checkpoint).

    Returns:
      the run summary (also written to ``workdir/summary.json``): final and best
      test accuracy over the whole run, final per-map correlations, steps,
      epochs, wall time of every segment, images/s, parameter count. With
      ``return_state=True``: (summary, final state). On a finished run with the
      same config (fields that change only logging may differ) nothing is
      trained or written and the recorded summary is returned.

    Raises:
      ValueError: a bad config or data, checked before anything is written or
        compiled; :class:`~mfdjax.train.rundir.RunMismatch` when ``workdir``
        holds a run this config cannot continue.
      WorkdirBusy: another trainer holds ``workdir``.
      OSError: the run directory cannot be written (``CheckpointError`` included:
        a failed checkpoint write, or no readable checkpoint).
      Preempted: on SIGTERM / SIGINT (after saving).
      NonFiniteLossError: on a NaN/inf loss, gradient or state (nothing
        non-finite is saved; a rerun resumes from the newest checkpoint).
    """
    workdir = os.path.abspath(workdir)
    is_main = jax.process_index() == 0
    rundir = RunDir(workdir) if is_main else None
    if rundir is not None and os.path.isdir(workdir):
        rundir.acquire()                    # an existing run: refuse a second trainer first
    try:
        env = _plan(config)
        if rundir is not None and rundir._fd is None:
            rundir.acquire()
        return _train_locked(config, workdir, env, rundir, return_state)
    except BaseException:
        if rundir is not None and rundir.created and rundir._fd is not None and \
                rundir.is_empty_run():
            shutil.rmtree(workdir, ignore_errors=True)   # leave no stray run directory
        raise
    finally:
        if rundir is not None:
            rundir.release()


def _train_locked(config: Any, workdir: str, env: dict, rundir: RunDir | None,
                  return_state: bool):
    is_main = rundir is not None
    feed, mesh = env["feed"], env["mesh"]
    gbs, steps_per_epoch = env["batch_size"], env["steps_per_epoch"]
    total_steps = env["total_steps"]
    requested = config_to_dict(config)

    # ---- may this config continue what the directory holds? (nothing written yet)
    # Process 0 decides from the records; the other processes follow its verdict.
    segments = rundir.segments() if is_main else []
    changes: list = []
    recovered = False
    verdict, refusal, summary_old = 0, None, None     # 0 train, 1 nothing to do, 2 refused
    if is_main:
        recorded = rundir.read_json("config.json")
        ck_step = rundir.checkpoint_step()
        summary_old = rundir.read_json("summary.json")
        # A directory whose every attempt stopped before its first trained step (e.g. a
        # config error at step 0) holds no training: any config may start it afresh (the
        # attempts stay in run.json).
        has_run = (ck_step is not None or summary_old is not None
                   or any(int(seg.get("end_step", 0) or 0) > 0 for seg in segments))
        if recorded is not None and has_run:
            last_status = segments[-1]["status"] if segments else None
            run_step = ck_step if ck_step is not None else (
                segments[-1]["end_step"] if segments else None)
            finished = (summary_old is not None
                        and (last_status in (None, "completed"))
                        and summary_old.get("steps") == run_step)
            try:
                decision = check_continuation(recorded, requested, last_status=last_status,
                                              checkpoint_step=run_step,
                                              total_steps=total_steps, finished=finished,
                                              workdir=workdir)
            except RunMismatch as e:
                verdict, refusal = 2, e
            else:
                changes, recovered = decision.changes, decision.recovered
                if decision.nothing_to_do:
                    verdict = 1
                    _say(f"{workdir}: the run is already finished at step {run_step}; "
                         "nothing to train (its records are unchanged).")
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        verdict = int(multihost_utils.broadcast_one_to_all(np.int32(verdict)))
    if verdict == 2:
        raise refusal or RunMismatch(f"process 0 refused {workdir} (see its message).")
    if verdict == 1:
        summary_old = summary_old or {}
        return (summary_old, None) if return_state else summary_old

    env = _build(config, env)
    state, train_step, eval_step = env["state"], env["train_step"], env["eval_step"]
    corr_fn, corr_images = env["corr_fn"], env["corr_images"]
    rows = read_jsonl(os.path.join(workdir, "metrics.jsonl")) if is_main else []
    ckpt = None
    restored_step = 0
    if config.checkpoint.enabled:
        ckpt = Checkpointer(workdir, keep=int(config.checkpoint.keep),
                            keep_best=bool(config.checkpoint.keep_best),
                            async_save=bool(config.checkpoint.async_save))
        # A checkpoint that a previous segment resumed from and then went straight to a
        # non-finite stop (no new checkpoint since) is finite but divergent: go further back.
        suspect = max((int(seg["suspect_step"]) for seg in segments
                       if seg.get("suspect_step") is not None), default=-1)
        if jax.process_count() > 1:   # every process must restore the same step
            from jax.experimental import multihost_utils

            suspect = int(multihost_utils.broadcast_one_to_all(np.int32(suspect)))
        skip = {suspect: "a previous run resumed from it and became non-finite before its "
                "next checkpoint"} if suspect >= 0 else None
        restored = ckpt.restore(state, skip=skip)
        if is_main:
            for seg in segments:
                seg.pop("suspect_step", None)   # deleted below: a new save may reuse the step
        if restored is not None:
            state = restored.replace(nonfinite=restored.nonfinite * 0)
            restored_step = int(jax.device_get(state.step))
    start_step = int(jax.device_get(state.step))
    if ckpt is not None:
        dropped = ckpt.discard_after(start_step)
        if dropped:
            log.warning("deleted checkpoint steps %s (damaged or abandoned; they will be "
                        "trained again)", dropped)
    # Rows after the restored step are trained again: drop them (and a torn last line).
    rows = [r for r in rows if r.get("step", 0) <= start_step]
    chosen_on = selection_metric(feed)
    best_so_far = max((r[chosen_on] for r in rows if _is_eval(r)
                       and isinstance(r.get(chosen_on), (int, float))), default=None)
    if ckpt is not None:
        ckpt._best_value = best_so_far
    if is_main:
        atomic_write(os.path.join(workdir, "metrics.jsonl"),
                     "".join(json.dumps(r) + "\n" for r in rows))
        atomic_write(os.path.join(workdir, "config.json"), config.to_json_best_effort(indent=2))
        for seg in segments:
            if seg.get("status") == "running":
                seg["status"] = "killed"       # that trainer died without a word (kill -9)
        segments.append(RunDir.new_segment(start_step, changes))
        rundir.write_segments(segments)
    if restored_step:
        why = (" (the newest finite checkpoint, after the non-finite stop)" if recovered
               else "")
        what = (f"; changed: " + ", ".join(f"{k} {a} -> {b}" for k, a, b in changes)
                if changes else "")
        _say(f"resumed from step {restored_step}{why}{what}")
    elif recovered:
        _say("no finite checkpoint to go back to after the non-finite stop: training from "
             "step 0" + (f"; changed: " + ", ".join(f"{k} {a} -> {b}" for k, a, b in changes)
                         if changes else ""))

    writer = MetricWriter(workdir)
    from tqdm.auto import tqdm

    bar = tqdm(total=total_steps, initial=start_step, unit="step", dynamic_ncols=True,
               smoothing=0.0, disable=not (config.progress_bar and is_main),
               desc=os.path.basename(workdir))
    t_start = time.time()
    t_window = time.time()
    pending: list[dict] = []
    status = "running"
    eval_steps = {r["step"] for r in rows if _is_eval(r)}

    def save_segment(step_now: int, seg_status: str) -> None:
        if is_main:
            segments[-1].update(end_step=int(step_now), status=seg_status,
                                wall_seconds=time.time() - t_start)
            rundir.write_segments(segments)

    saved_any = False

    def save(force: bool = False) -> None:
        nonlocal saved_any
        if ckpt is not None and ckpt.save(state, force=force):
            saved_any = True
            save_segment(int(jax.device_get(state.step)), "running")

    def flush(step_now: int) -> None:
        nonlocal t_window
        if not pending:
            return
        host = jax.device_get(pending)
        dt = time.time() - t_window
        means = {f"train/{k}": float(np.mean([h[k] for h in host])) for k in host[0]}
        means["train/images_per_sec"] = len(host) * gbs / max(dt, 1e-9)
        means["epoch"] = step_now / steps_per_epoch
        means["window_steps"] = len(host)
        writer.write(step_now, means)
        rows.append({"step": step_now, **means})
        bar.set_postfix(loss=f"{means['train/loss']:.4f}", refresh=False)
        pending.clear()
        t_window = time.time()

    def check_finite(step_now: int) -> None:
        nonlocal status
        if int(jax.device_get(state.nonfinite)) > 0:
            good = int(jax.device_get(state.step))
            # The frozen state is finite but usually already divergent: it is not saved.
            if ckpt is not None:
                ckpt.wait()
            last = max(ckpt.all_steps(), default=None) if ckpt is not None else None
            status = "nonfinite"
            if is_main:
                segments[-1]["nonfinite_after_step"] = good
                if restored_step and not saved_any and last == start_step:
                    segments[-1]["suspect_step"] = start_step
            if is_main and segments[-1].get("suspect_step") is not None:
                prev = [s for s in (ckpt.all_steps() if ckpt else []) if s < start_step]
                again = (f"step {max(prev)}, the checkpoint before it" if prev
                         else "step 0 (no older checkpoint)")
                where = (f"this run resumed from step {start_step} and diverged before its "
                         f"next checkpoint, so a rerun goes back to {again}")
            elif last is not None:
                where = f"a rerun resumes from step {last}, the newest checkpoint"
            else:
                where = "there is no checkpoint yet, so a rerun starts from step 0"
            raise NonFiniteLossError(
                f"the training loss, a gradient or the updated state became NaN/inf after "
                f"step {good} (run {workdir}); no non-finite state was saved and {where}. "
                f"Lower `optimizer.learning_rate` (now {config.optimizer.learning_rate:g}), "
                "check the data, or try model.dtype='float32', then run the same command "
                "with the new value.")

    def run_eval(step_now: int) -> dict:
        res = evaluate(state, eval_step, feed, mesh, int(config.eval_batch_size))
        if feed.num_val:
            res.update(evaluate(state, eval_step, feed, mesh, int(config.eval_batch_size),
                                split="val"))
        if corr_fn is not None and corr_images is not None:
            corr = np.asarray(jax.device_get(corr_fn(state, corr_images)))
            for i, v in enumerate(corr):
                res[f"correlation/{i}"] = float(v)
        # Epoch averages over every train row of this epoch (before a resume too).
        lo = (max(step_now - 1, 0) // steps_per_epoch) * steps_per_epoch
        window = [r for r in rows if _is_train(r) and lo < r["step"] <= step_now]
        if window:
            w = np.array([r.get("window_steps", 1) for r in window], float)
            for k in window[-1]:
                if k.startswith("train/") and k != "train/images_per_sec":
                    vals = [r.get(k, np.nan) for r in window]
                    res[k + "_epoch"] = float(np.average(vals, weights=w))
            res["train/images_per_sec"] = window[-1]["train/images_per_sec"]
        res["epoch"] = step_now / steps_per_epoch
        writer.write(step_now, res)
        rows.append({"step": step_now, **res})
        eval_steps.add(step_now)
        if ckpt is not None and chosen_on in res:
            ckpt.save_best(state, res[chosen_on])
        if is_main:
            val = f", validation {res['val/accuracy']:.4f}" if "val/accuracy" in res else ""
            tqdm.write(f"[{os.path.basename(workdir)}] epoch {step_now / steps_per_epoch:g}: "
                       f"test accuracy {res['test/accuracy']:.4f}{val}")
        return res

    def eval_due(step_now: int) -> bool:
        if step_now <= 0 or step_now % steps_per_epoch:
            return False
        return ((step_now // steps_per_epoch) % int(config.eval_every_epochs) == 0
                or step_now >= total_steps)

    error: BaseException | None = None
    try:
        with _StopSignals() as stop:
            step = start_step
            if eval_due(step) and step not in eval_steps:   # killed between save and eval
                run_eval(step)
            while step < total_steps:
                epoch, in_epoch = divmod(step, steps_per_epoch)
                for local in feed.train_batches(epoch, in_epoch, gbs):
                    batch = mesh_lib.global_batch(local, mesh)
                    state, metrics = train_step(state, batch)
                    pending.append(metrics)
                    step += 1
                    bar.update(1)
                    if step % int(config.log_every_steps) == 0:
                        flush(step)
                        check_finite(step)
                    if (config.checkpoint.every_steps
                            and step % int(config.checkpoint.every_steps) == 0):
                        flush(step)
                        check_finite(step)
                        save()
                    if stop.raised:
                        flush(step)
                        check_finite(step)
                        save(force=True)
                        if ckpt is not None:
                            ckpt.wait()
                        status = "preempted"
                        saved = (f"state saved in {workdir}; run the same command again "
                                 "to resume" if ckpt is not None else
                                 "checkpoints are off (checkpoint.enabled=False), so nothing "
                                 "was saved")
                        raise Preempted(f"{stop.raised} at step {step}; {saved}.", stop.raised)
                    if step >= total_steps:
                        break
                flush(step)
                check_finite(step)
                if eval_due(step):
                    run_eval(step)
                if step % steps_per_epoch == 0 and config.checkpoint.every_epoch:
                    save()
            if step not in eval_steps:
                run_eval(step)
            save()
            if ckpt is not None:
                ckpt.wait()
            status = "completed"
    except BaseException as e:
        error = e
        if status == "running":
            status = "failed"
        raise
    finally:
        bar.close()
        for closer in (writer.close, ckpt.close if ckpt is not None else None):
            if closer is None:
                continue
            try:
                closer()
            except Exception:   # noqa: BLE001 -- do not hide the error that got us here
                if error is None:
                    raise
                log.warning("while stopping: %s", closer)
        if is_main:
            try:
                save_segment(int(jax.device_get(state.step)), status)
            except Exception:   # noqa: BLE001
                if error is None:
                    raise

    summary = _summary(config, workdir, env, rows, segments, state, status)
    if is_main:
        atomic_write(os.path.join(workdir, "summary.json"),
                     json.dumps(to_python(summary), indent=2))
        from mfdjax.train.report import write_run_report

        write_run_report(workdir)
    if return_state:
        return summary, state
    return summary
