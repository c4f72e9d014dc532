"""The training loop: everything with side effects (data feeding, logging, checkpoints, signals).

:func:`train_and_evaluate` runs one config into one run directory:

* data: :class:`mfdjax.train.feed.Feed` (in memory, or streamed through
  ``HostLoader``); every global batch is ``batch_indices(N, B, seed,
  epoch)[step_in_epoch]``, a pure function of ``(seed, epoch)``, so a resumed run
  gets exactly the same batches. Each process reads only its contiguous slice
  (``process_slice``) and the global array is assembled with
  ``jax.make_array_from_process_local_data``, sharded over the mesh's ``"data"`` axis;
* the jitted step (:mod:`mfdjax.train.step`) with the state replicated and the
  batch sharded, donating the old state;
* resume: if ``workdir/checkpoints`` holds a readable state it is restored
  (newest readable step) and training continues from its step;
* per epoch: test top-1 (top-5 for >= 100 classes) and test CE, the per-map
  mean |correlation| (Tables I/III) on a FIXED batch (the first
  ``correlation.batch_size`` test images), a checkpoint, the best checkpoint;
* SIGTERM: the step in flight finishes, the state is saved, and
  :class:`Preempted` is raised (the CLI exits with status 143);
* a non-finite loss/gradient: the step discards the update (see step.py); the
  loop saves the last good state and raises :class:`NonFiniteLossError`;
* at the end: ``summary.json`` and the run report (report.md + PNGs).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from mfdjax.train import mesh as mesh_lib
from mfdjax.train.checkpoint import Checkpointer
from mfdjax.train.feed import Feed
from mfdjax.train.metrics import MetricWriter, to_python
from mfdjax.train.optim import make_optimizer
from mfdjax.train.state import create_train_state, make_key, param_count
from mfdjax.train.step import make_correlation_fn, make_eval_step, make_train_step

__all__ = ["NonFiniteLossError", "Preempted", "build_model", "evaluate", "restore_run",
           "train_and_evaluate"]

log = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """The loss or a gradient became NaN/inf; the last good state was saved."""


class Preempted(RuntimeError):
    """SIGTERM arrived; the state was saved and the run can be resumed."""


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
    return models.get(m.name, num_classes=num_classes, head=m.head, head_kwargs=head_kwargs,
                      dtype=_DTYPES[m.dtype], **kwargs)


class _SigtermFlag:
    """Sets a flag on SIGTERM (main thread only); restores the old handler on exit."""

    def __init__(self):
        self.raised = False
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame):
        del signum, frame
        self.raised = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)
        return False


def _round_up(n: int, m: int) -> int:
    return ((n + m - 1) // m) * m


def evaluate(state, eval_fn, feed: Feed, mesh, eval_batch_size: int) -> dict:
    """Test top-1 / top-5 / CE over the whole test set (padded last batch, masked)."""
    n = feed.num_test
    bs = _round_up(min(eval_batch_size, _round_up(n, mesh.size)), mesh.size)
    totals = None
    for local in feed.eval_batches(bs):
        out = eval_fn(state, mesh_lib.global_batch(local, mesh))
        totals = out if totals is None else jax.tree.map(jnp.add, totals, out)
    totals = jax.device_get(totals)
    count = float(totals["count"])
    res = {"test/accuracy": float(totals["correct"]) / count,
           "test/loss": float(totals["loss"]) / count}
    if feed.num_classes >= 100:
        res["test/top5"] = float(totals["correct5"]) / count
    return res


def _setup(config: Any) -> dict:
    """Data, mesh, model, optimizer, the replicated initial state and the jitted steps."""
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
                         f"({feed.num_train} examples).")
    total_steps = int(config.num_epochs) * steps_per_epoch
    if config.max_steps and config.max_steps > 0:
        total_steps = min(total_steps, int(config.max_steps))

    model = build_model(config, num_classes)
    tx, schedule = make_optimizer(config.optimizer, steps_per_epoch=steps_per_epoch,
                                  num_epochs=int(config.num_epochs))
    state = create_train_state(config, model, rng=make_key(config.seed, config.prng_impl),
                               input_shape=feed.image_shape, num_classes=num_classes,
                               tx=tx)
    n_params = param_count(state.params)
    state = mesh_lib.replicate(state, mesh)

    mean, std = feed.mean, feed.std
    repl = mesh_lib.replicated_sharding(mesh)
    data = mesh_lib.data_sharding(mesh)
    train_step = jax.jit(
        make_train_step(config, steps_per_epoch=steps_per_epoch, mean=mean, std=std,
                        schedule=schedule),
        in_shardings=(repl, data), out_shardings=(repl, repl), donate_argnums=0)
    eval_step = jax.jit(make_eval_step(config, mean=mean, std=std, num_classes=num_classes),
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
    return dict(feed=feed, mesh=mesh, num_classes=num_classes, batch_size=gbs,
                steps_per_epoch=steps_per_epoch, total_steps=total_steps, model=model,
                tx=tx, schedule=schedule, state=state, param_count=n_params, mean=mean,
                std=std, train_step=train_step, eval_step=eval_step, corr_fn=corr_fn,
                corr_images=corr_images)


def restore_run(workdir: str, *, best: bool = False) -> dict:
    """Rebuilds a run from ``workdir/config.json`` and restores its newest (or best) state.

    Returns:
      the :func:`_setup` dict with ``state`` restored, plus ``config`` and ``step``.
    """
    import ml_collections

    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
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


def train_and_evaluate(config: Any, workdir: str, *, return_state: bool = False):
    """Trains ``config`` into ``workdir`` (resuming if it holds a checkpoint).

    Returns:
      the run summary (also written to ``workdir/summary.json``): final and best
      test accuracy, final per-map correlations, steps, epochs, wall time,
      images/s, parameter count. With ``return_state=True``: (summary, final state).

    Raises:
      Preempted: on SIGTERM (after saving).
      NonFiniteLossError: on a NaN/inf loss or gradient (after saving the last good state).
    """
    workdir = os.path.abspath(workdir)
    is_main = jax.process_index() == 0
    if is_main:
        os.makedirs(workdir, exist_ok=True)
        with open(os.path.join(workdir, "config.json"), "w") as f:
            f.write(config.to_json_best_effort(indent=2))

    env = _setup(config)
    feed, mesh = env["feed"], env["mesh"]
    gbs, steps_per_epoch = env["batch_size"], env["steps_per_epoch"]
    total_steps = env["total_steps"]
    n_params = env["param_count"]
    state, train_step, eval_step = env["state"], env["train_step"], env["eval_step"]
    corr_fn, corr_images = env["corr_fn"], env["corr_images"]
    ckpt = None
    if config.checkpoint.enabled:
        ckpt = Checkpointer(workdir, keep=int(config.checkpoint.keep),
                            keep_best=bool(config.checkpoint.keep_best),
                            async_save=bool(config.checkpoint.async_save))
        restored = ckpt.restore(state)
        if restored is not None:
            state = restored
            log.info("resumed from step %d", int(jax.device_get(state.step)))

    writer = MetricWriter(workdir)
    start_step = int(jax.device_get(state.step))
    history_epochs: list[dict] = []
    from tqdm.auto import tqdm

    bar = tqdm(total=total_steps, initial=start_step, unit="step", dynamic_ncols=True,
               disable=not (config.progress_bar and is_main), desc=os.path.basename(workdir))
    t_start = time.time()
    t_window = time.time()
    images_per_sec = float("nan")
    pending: list[dict] = []
    epoch_rows: list[dict] = []
    last_eval: dict = {}
    status = "completed"

    def flush(step_now: int) -> None:
        nonlocal t_window, images_per_sec
        if not pending:
            return
        host = jax.device_get(pending)
        dt = time.time() - t_window
        images_per_sec = len(host) * gbs / max(dt, 1e-9)
        means = {f"train/{k}": float(np.mean([h[k] for h in host])) for k in host[0]}
        means["train/images_per_sec"] = images_per_sec
        means["epoch"] = step_now / steps_per_epoch
        epoch_rows.append({"n": len(host), **means})
        writer.write(step_now, means)
        bar.set_postfix(loss=f"{means['train/loss']:.4f}", refresh=False)
        pending.clear()
        t_window = time.time()

    def check_finite(step_now: int) -> None:
        if int(jax.device_get(state.nonfinite)) > 0:
            good = int(jax.device_get(state.step))
            if ckpt is not None:
                ckpt.save(state, force=True)
                ckpt.wait()
            writer.write(step_now, {"event": "nonfinite_loss"})
            raise NonFiniteLossError(
                f"the training loss or a gradient became NaN/inf after step {good} "
                f"(run {workdir}); the last good state (step {good}) was saved. Lower "
                "`optimizer.learning_rate`, check the data, or try model.dtype='float32'.")

    def run_eval(step_now: int) -> dict:
        res = evaluate(state, eval_step, feed, mesh, int(config.eval_batch_size))
        if corr_fn is not None and corr_images is not None:
            corr = np.asarray(jax.device_get(corr_fn(state, corr_images)))
            for i, v in enumerate(corr):
                res[f"correlation/{i}"] = float(v)
        if epoch_rows:
            w = np.array([r["n"] for r in epoch_rows], float)
            for k in epoch_rows[-1]:
                if k.startswith("train/") and k != "train/images_per_sec":
                    res[k + "_epoch"] = float(np.average([r[k] for r in epoch_rows], weights=w))
            res["train/images_per_sec"] = images_per_sec
            epoch_rows.clear()
        res["epoch"] = step_now / steps_per_epoch
        writer.write(step_now, res)
        history_epochs.append({"step": step_now, **res})
        if ckpt is not None and "test/accuracy" in res:
            ckpt.save_best(state, res["test/accuracy"])
        return res

    try:
        with _SigtermFlag() as sigterm:
            step = start_step
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
                    if (ckpt is not None and config.checkpoint.every_steps
                            and step % int(config.checkpoint.every_steps) == 0):
                        ckpt.save(state)
                    if sigterm.raised:
                        flush(step)
                        check_finite(step)
                        if ckpt is not None:
                            ckpt.save(state, force=True)
                            ckpt.wait()
                        status = "preempted"
                        raise Preempted(f"SIGTERM at step {step}; state saved in {workdir}; "
                                        "run the same command again to resume.")
                    if step >= total_steps:
                        break
                flush(step)
                check_finite(step)
                end_of_epoch = step % steps_per_epoch == 0
                if end_of_epoch and ((step // steps_per_epoch) % int(config.eval_every_epochs) == 0
                                     or step >= total_steps):
                    last_eval = run_eval(step)
                    if is_main:
                        tqdm.write(f"[{os.path.basename(workdir)}] epoch "
                                   f"{step // steps_per_epoch}: test accuracy "
                                   f"{last_eval['test/accuracy']:.4f}")
                if ckpt is not None and end_of_epoch and config.checkpoint.every_epoch:
                    ckpt.save(state)
            if not history_epochs or history_epochs[-1]["step"] != step:
                last_eval = run_eval(step)
            if ckpt is not None:
                ckpt.save(state)
    finally:
        bar.close()
        writer.close()
        if ckpt is not None:
            ckpt.close()

    wall = time.time() - t_start
    best = max((h["test/accuracy"] for h in history_epochs), default=float("nan"))
    summary = {
        "status": status,
        "workdir": workdir,
        "name": os.path.basename(workdir),
        "description": config.get("description", ""),
        "model": config.model.name,
        "loss": config.loss.name,
        "mfd_weight": float(config.mfd.weight),
        "mfd_features": config.mfd.features,
        "dataset": config.dataset.name,
        "num_train": int(feed.num_train),
        "num_test": int(feed.num_test),
        "param_count": n_params,
        "steps": int(jax.device_get(state.step)),
        "steps_per_epoch": steps_per_epoch,
        "epochs": int(jax.device_get(state.step)) / steps_per_epoch,
        "wall_seconds": wall,
        "train_images_per_sec_last": images_per_sec,
        "final": {k: v for k, v in last_eval.items()},
        "best_test_accuracy": best,
        "devices": jax.device_count(),
        "processes": jax.process_count(),
        "param_checksum": float(sum(float(jnp.sum(jnp.abs(x).astype(jnp.float32)))
                                    for x in jax.tree.leaves(state.params))),
    }
    if is_main:
        with open(os.path.join(workdir, "summary.json"), "w") as f:
            json.dump(to_python(summary), f, indent=2)
        from mfdjax.train.report import write_run_report

        write_run_report(workdir)
    if return_state:
        return summary, state
    return summary
