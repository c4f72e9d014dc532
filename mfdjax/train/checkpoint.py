"""Orbax checkpoints: periodic async saves, keep last K + the best, verified exact resume.

One job: put the whole :class:`~mfdjax.train.state.TrainState` pytree (params,
batch_stats, optimizer state, rng, loss state -- POD delta and accumulator,
centres, COT optimizer state --, non-finite counter and ``step``, which fixes
the data position) on disk and get it back bit-identically, or not at all.

Two ``ocp.CheckpointManager`` instances under the run directory:

* ``checkpoints/``: the last ``keep`` saves (every N steps and/or each epoch,
  and on SIGTERM / SIGINT / non-finite stop), for resuming;
* ``best/``: one save, the state with the best test accuracy so far.

Each step holds two items: ``state`` (``StandardSave``) and ``checksums``
(``JsonSave``): the CRC-32 of the bytes, the dtype and the shape of every saved
array, computed from the in-memory state before the write. A restore
recomputes them from what it read back; any difference (a flipped bit that
the storage layer did not notice), a missing checksum, or a non-finite value
makes the step *damaged*. A step written before checksums existed (one
``default`` item) is still restored, unverified, with a warning.

Saving refuses a state with a NaN/inf leaf (:class:`NonFiniteState`): no
checkpoint ever holds one. Restore walks the steps newest first and skips a
damaged or unreadable step (truncated file, flipped bits, missing metadata:
orbax still lists such a step and raises only on restore) with a one-line
warning, falling back to the previous one; when steps exist but none is
readable it raises :class:`CheckpointError`. A failed write (full disk,
read-only directory) raises :class:`CheckpointError` too.
"""

from __future__ import annotations

import logging
import os
import sys
import zlib
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

__all__ = ["CheckpointError", "Checkpointer", "NonFiniteState", "checksums"]

log = logging.getLogger(__name__)


class CheckpointError(OSError):
    """No readable checkpoint, or a checkpoint could not be written."""


class NonFiniteState(FloatingPointError):
    """A state with a NaN/inf leaf was offered for saving."""


def _abstract(state: Any) -> Any:
    return jax.tree.map(ocp.utils.to_shape_dtype_struct, state)


def _host(x: Any) -> np.ndarray:
    """A (replicated) array's value on this host, also when it spans several hosts."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        x = x.addressable_data(0)
    return np.asarray(jax.device_get(x))


def _leaves(state: Any) -> list[tuple[str, np.ndarray]]:
    flat, _ = jax.tree_util.tree_flatten_with_path(state)
    return [(jax.tree_util.keystr(path), _host(x)) for path, x in flat]


def checksums(state: Any, *, leaves: list | None = None) -> dict[str, str]:
    """``{leaf path: "crc32 dtype shape"}`` for every array of ``state``."""
    out = {}
    for name, a in (leaves if leaves is not None else _leaves(state)):
        a = np.ascontiguousarray(a)
        out[name] = f"{zlib.crc32(a.view(np.uint8).reshape(-1)):08x} {a.dtype} {a.shape}"
    return out


def nonfinite_leaves(state: Any, *, leaves: list | None = None) -> list[str]:
    """Paths of the floating-point leaves of ``state`` holding a NaN or an inf."""
    return [name for name, a in (leaves if leaves is not None else _leaves(state))
            if np.issubdtype(a.dtype, np.inexact) and not np.isfinite(a).all()]


def _quiet_abandoned_reads() -> None:
    """Silences the "Event loop is closed" tracebacks of a damaged step's abandoned reads.

    When orbax gives up on a damaged step, TensorStore still completes the other
    reads of that step later and their callbacks hit orbax's closed event loop:
    Python prints each as an unraisable-exception traceback (about 140 lines for
    one damaged step). Only that exact error is dropped; anything else reaches the
    previous ``sys.unraisablehook``.
    """
    previous = sys.unraisablehook
    if getattr(previous, "_mfdjax_quiet", False):
        return

    def hook(unraisable):
        exc = unraisable.exc_value
        if isinstance(exc, RuntimeError) and str(exc) == "Event loop is closed":
            return
        previous(unraisable)

    hook._mfdjax_quiet = True
    sys.unraisablehook = hook


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    line = text[0] if text else ""
    return f"{type(e).__name__}: {line[:160]}" + ("..." if len(line) > 160 else "")


class Checkpointer:
    """Saves and restores train states under ``workdir``.

    Args:
      workdir: run directory (``checkpoints/`` and ``best/`` go under it).
      keep: how many recent checkpoints to keep.
      keep_best: also keep the best state by ``metrics["test_accuracy"]``.
      async_save: write in a background thread (``wait()`` before reading or exiting).
      best_so_far: the best test accuracy already recorded for the run (a resumed
        run offers ``best/`` only states that beat it).
    """

    def __init__(self, workdir: str, *, keep: int = 2, keep_best: bool = True,
                 async_save: bool = True, best_so_far: float | None = None):
        if keep < 1:
            raise ValueError(f"`checkpoint.keep` must be >= 1, got {keep}.")
        self.workdir = os.path.abspath(workdir)
        opts = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                            enable_async_checkpointing=async_save)
        try:
            self._last = ocp.CheckpointManager(os.path.join(self.workdir, "checkpoints"),
                                               options=opts, item_handlers=self._handlers())
            self._best = None
            if keep_best:
                best_opts = ocp.CheckpointManagerOptions(
                    max_to_keep=1, create=True, enable_async_checkpointing=async_save,
                    best_fn=lambda m: float(m["test_accuracy"]), best_mode="max")
                self._best = ocp.CheckpointManager(os.path.join(self.workdir, "best"),
                                                   options=best_opts,
                                                   item_handlers=self._handlers())
        except OSError as e:
            raise CheckpointError(e.errno, f"cannot create the checkpoint directories in "
                                  f"{self.workdir}: {e.strerror or e}") from e
        self._best_value = best_so_far

    @staticmethod
    def _handlers() -> dict:
        return {"state": ocp.StandardCheckpointHandler(),
                "checksums": ocp.JsonCheckpointHandler()}

    @staticmethod
    def _save_args(state: Any) -> ocp.args.Composite:
        leaves = _leaves(state)          # one host copy for both checks
        bad = nonfinite_leaves(state, leaves=leaves)
        if bad:
            raise NonFiniteState(f"refusing to save a state with non-finite values in "
                                 f"{', '.join(bad[:4])}" + (" ..." if len(bad) > 4 else ""))
        return ocp.args.Composite(state=ocp.args.StandardSave(state),
                                  checksums=ocp.args.JsonSave(checksums(state, leaves=leaves)))

    def _io(self, fn, what: str):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 -- a failed write is an I/O failure
            raise CheckpointError(f"could not {what} in {self.workdir}: {_first_line(e)}"
                                  ) from e

    # ------------------------------------------------------------------ save
    def save(self, state: Any, *, force: bool = False) -> bool:
        """Saves ``state`` at its step (skips a step already saved). Returns True if saved."""
        step = int(_host(state.step))
        if step in self._last.all_steps():
            return False
        args = self._save_args(state)
        return bool(self._io(lambda: self._last.save(step, args=args, force=force),
                             f"write checkpoint step {step}"))

    def save_best(self, state: Any, test_accuracy: float) -> bool:
        """Offers ``state`` to ``best/``; orbax keeps the one with the highest accuracy."""
        if self._best is None:
            return False
        if self._best_value is not None and test_accuracy <= self._best_value:
            return False
        step = int(_host(state.step))
        if step in self._best.all_steps():
            return False
        args = self._save_args(state)
        saved = self._io(lambda: self._best.save(
            step, args=args, metrics={"test_accuracy": float(test_accuracy)}, force=True),
            f"write the best checkpoint (step {step})")
        self._best_value = float(test_accuracy)
        return bool(saved)

    def wait(self) -> None:
        """Blocks until pending async saves are on disk."""
        self._io(self._last.wait_until_finished, "finish writing a checkpoint")
        if self._best is not None:
            self._io(self._best.wait_until_finished, "finish writing the best checkpoint")

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._last.close()
            if self._best is not None:
                self._best.close()

    # --------------------------------------------------------------- restore
    def all_steps(self) -> list[int]:
        return sorted(self._last.all_steps())

    def latest_step(self) -> int | None:
        return self._last.latest_step()

    def discard_after(self, step: int) -> list[int]:
        """Deletes the checkpoints (rolling and best) newer than ``step``: damaged or abandoned.

        A resumed run trains those steps again; a stale step directory left in
        place would stop the new state from being saved at that step, and a best
        state from an abandoned branch (e.g. before a non-finite stop) would
        outrank the states of the run that continues.
        """
        gone = []
        for manager in (self._last, self._best):
            if manager is None:
                continue
            for s in [s for s in manager.all_steps() if s > step]:
                self._io(lambda m=manager, s=s: m.delete(s), f"delete checkpoint step {s}")
                gone.append(s)
        return sorted(set(gone))

    def restore(self, template: Any, *, best: bool = False, skip: dict | None = None
                ) -> Any | None:
        """The newest readable, verified state, or None when there is no checkpoint.

        Args:
          template: a state with the right structure, shapes, dtypes and
            shardings (e.g. the freshly initialised, replicated state).
          best: read ``best/`` instead of the rolling checkpoints.
          skip: ``{step: reason}`` of steps not to use (e.g. a step that led
            straight to a non-finite stop); each is skipped with a warning.

        Damaged steps are skipped with a one-line warning, newest first. If
        steps exist but none can be read, raises CheckpointError.
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
            if skip and step in skip:
                log.warning("checkpoint step %d: %s; skipping it", step, skip[step])
                continue
            step_dir = os.path.join(str(manager.directory), str(step))
            try:
                if self._legacy(step_dir):
                    restored = self._restore_legacy(str(manager.directory), step, abstract)
                    problem = self._verify(restored, None, legacy=True)
                    if problem is None:
                        log.warning("checkpoint step %d in %s predates per-array checksums; "
                                    "restored it unverified", step, manager.directory)
                else:
                    got = manager.restore(step, args=ocp.args.Composite(
                        state=ocp.args.StandardRestore(abstract),
                        checksums=ocp.args.JsonRestore()))
                    restored = got.state
                    problem = self._verify(got.state, got.checksums)
            except Exception as e:  # noqa: BLE001 -- any damage means: try the previous one
                problem = _first_line(e)
                _quiet_abandoned_reads()
            if problem is None:
                return restored
            log.warning("checkpoint step %d in %s is damaged (%s); skipping it", step,
                        manager.directory, problem)
            errors.append(f"step {step}: {problem}")
        if skip and not errors:
            return None
        raise CheckpointError(
            f"no readable checkpoint in {manager.directory} ({'; '.join(errors)}). Move the "
            "run directory aside (or delete it) to start the run over.")

    @staticmethod
    def _legacy(step_dir: str) -> bool:
        """A step written before the checksums (one ``default`` item, no ``state``)."""
        return (os.path.isdir(os.path.join(step_dir, "default"))
                and not os.path.exists(os.path.join(step_dir, "state")))

    @staticmethod
    def _restore_legacy(directory: str, step: int, abstract: Any) -> Any:
        with ocp.CheckpointManager(directory,
                                   item_handlers=ocp.StandardCheckpointHandler()) as old:
            return old.restore(step, args=ocp.args.StandardRestore(abstract))

    @staticmethod
    def _verify(state: Any, expected: Any, *, legacy: bool = False) -> str | None:
        if not legacy and (not isinstance(expected, dict) or not expected):
            return "no checksums stored with the step"
        if legacy:
            expected = checksums(state)   # nothing to compare with: only the finite check
        leaves = _leaves(state)
        got = checksums(state, leaves=leaves)
        for name in sorted(set(got) | set(expected)):
            if got.get(name) != expected.get(name):
                return f"checksum mismatch in {name}"
        bad = nonfinite_leaves(state, leaves=leaves)
        if bad:
            return f"non-finite values in {bad[0]}"
        return None
