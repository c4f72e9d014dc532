"""Orbax checkpoints: periodic async saves, keep last K + the best, robust exact resume.

One job: put the whole :class:`~mfdjax.train.state.TrainState` pytree (params,
batch_stats, optimizer state, rng, loss state -- POD delta and accumulator,
centres, COT optimizer state --, non-finite counter and ``step``, which fixes
the data position) on disk and get it back bit-identically.

Two ``ocp.CheckpointManager`` instances under the run directory:

* ``checkpoints/``: the last ``keep`` saves (every N steps and/or each epoch,
  and on SIGTERM / non-finite stop), for resuming;
* ``best/``: one save, the state with the best test accuracy so far.

Restore walks ``all_steps()`` newest first and falls back to the previous step
when one is damaged (truncated file, bit flips, missing metadata): orbax still
lists such a step as ``latest_step()`` and raises only on restore. Both
managers use ``item_handlers=ocp.StandardCheckpointHandler()`` so that an empty
step directory does not break the restore of every other step
(/work/shared/notes/jax-stack.md).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import jax
import orbax.checkpoint as ocp

__all__ = ["Checkpointer"]

log = logging.getLogger(__name__)


def _abstract(state: Any) -> Any:
    return jax.tree.map(ocp.utils.to_shape_dtype_struct, state)


class Checkpointer:
    """Saves and restores train states under ``workdir``.

    Args:
      workdir: run directory (``checkpoints/`` and ``best/`` go under it).
      keep: how many recent checkpoints to keep.
      keep_best: also keep the best state by ``metrics["test_accuracy"]``.
      async_save: write in a background thread (``wait()`` before reading or exiting).
    """

    def __init__(self, workdir: str, *, keep: int = 2, keep_best: bool = True,
                 async_save: bool = True):
        if keep < 1:
            raise ValueError(f"`checkpoint.keep` must be >= 1, got {keep}.")
        self.workdir = os.path.abspath(workdir)
        opts = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                            enable_async_checkpointing=async_save)
        self._last = ocp.CheckpointManager(os.path.join(self.workdir, "checkpoints"),
                                           options=opts,
                                           item_handlers=ocp.StandardCheckpointHandler())
        self._best = None
        self._best_value = None
        if keep_best:
            best_opts = ocp.CheckpointManagerOptions(
                max_to_keep=1, create=True, enable_async_checkpointing=async_save,
                best_fn=lambda m: float(m["test_accuracy"]), best_mode="max")
            self._best = ocp.CheckpointManager(os.path.join(self.workdir, "best"),
                                               options=best_opts,
                                               item_handlers=ocp.StandardCheckpointHandler())

    # ------------------------------------------------------------------ save
    def save(self, state: Any, *, force: bool = False) -> bool:
        """Saves ``state`` at its step (skips a step already saved). Returns True if saved."""
        step = int(jax.device_get(state.step))
        if step in self._last.all_steps():
            return False
        return bool(self._last.save(step, args=ocp.args.StandardSave(state), force=force))

    def save_best(self, state: Any, test_accuracy: float) -> bool:
        """Offers ``state`` to ``best/``; orbax keeps the one with the highest accuracy."""
        if self._best is None:
            return False
        if self._best_value is not None and test_accuracy <= self._best_value:
            return False
        step = int(jax.device_get(state.step))
        if step in self._best.all_steps():
            return False
        saved = self._best.save(step, args=ocp.args.StandardSave(state),
                                metrics={"test_accuracy": float(test_accuracy)}, force=True)
        self._best_value = float(test_accuracy)
        return bool(saved)

    def wait(self) -> None:
        """Blocks until pending async saves are on disk."""
        self._last.wait_until_finished()
        if self._best is not None:
            self._best.wait_until_finished()

    def close(self) -> None:
        self.wait()
        self._last.close()
        if self._best is not None:
            self._best.close()

    # --------------------------------------------------------------- restore
    def all_steps(self) -> list[int]:
        return sorted(self._last.all_steps())

    def latest_step(self) -> int | None:
        return self._last.latest_step()

    def restore(self, template: Any, *, best: bool = False) -> Any | None:
        """The newest readable state, or None when there is no checkpoint.

        Args:
          template: a state with the right structure, shapes, dtypes and
            shardings (e.g. the freshly initialised, replicated state).
          best: read ``best/`` instead of the rolling checkpoints.

        Damaged steps are skipped with a warning, newest first. If steps exist
        but none can be read, raises RuntimeError listing the errors.
        """
        manager = self._best if best else self._last
        if manager is None:
            raise ValueError("this Checkpointer was built with keep_best=False.")
        self.wait()
        manager.reload()
        steps = sorted(manager.all_steps(), reverse=True)
        if not steps:
            return None
        errors = []
        abstract = _abstract(template)
        for step in steps:
            try:
                restored = manager.restore(step, args=ocp.args.StandardRestore(abstract))
            except Exception as e:  # noqa: BLE001 -- any damage means: try the previous one
                log.warning("checkpoint step %d is unreadable (%s: %s); trying an older one",
                            step, type(e).__name__, e)
                errors.append(f"step {step}: {type(e).__name__}: {e}")
                continue
            return restored
        raise RuntimeError("no readable checkpoint in "
                           f"{manager.directory}:\n" + "\n".join(errors))
