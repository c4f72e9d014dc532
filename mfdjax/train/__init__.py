"""The trainer: state, optimizer, jitted steps, loop, checkpoints, metrics, reports.

Modules (one job each): :mod:`~mfdjax.train.mesh` (devices, data-parallel mesh,
multi-host start-up), :mod:`~mfdjax.train.optim` (optax optimizers and
schedules), :mod:`~mfdjax.train.state` (the TrainState pytree),
:mod:`~mfdjax.train.objective` (loss composition: classification loss +
lambda * MFD), :mod:`~mfdjax.train.step` (pure jitted train / eval /
correlation steps), :mod:`~mfdjax.train.feed` (host-side batches, in memory or
streamed), :mod:`~mfdjax.train.loop` (the loop with its side effects),
:mod:`~mfdjax.train.checkpoint` (orbax, checksummed), :mod:`~mfdjax.train.rundir`
(one trainer per run directory, the run's records, may a config continue a
run), :mod:`~mfdjax.train.metrics` (JSONL + TensorBoard),
:mod:`~mfdjax.train.report` (report.md + plots).

Typical use::

    from mfdjax.configs import load_config
    from mfdjax.train import train_and_evaluate

    summary = train_and_evaluate(load_config("default"), "runs/mine")
"""

from mfdjax.train.loop import NonFiniteLossError, Preempted, restore_run, train_and_evaluate
from mfdjax.train.optim import make_optimizer, make_schedule
from mfdjax.train.state import TrainState, create_train_state
from mfdjax.train.step import make_correlation_fn, make_eval_step, make_train_step

__all__ = ["NonFiniteLossError", "Preempted", "TrainState", "create_train_state",
           "make_correlation_fn", "make_eval_step", "make_optimizer", "make_schedule",
           "make_train_step", "restore_run", "train_and_evaluate"]
