"""The run directory: one trainer at a time, and the records that say what the run was.

One job: decide, before anything is written or compiled, whether ``mfdjax
train`` may work in ``workdir``, and keep the records that describe the whole
run however often it was resumed.

* :class:`RunDir` holds an exclusive ``flock`` on ``workdir/.lock`` for the
  life of the trainer. The kernel drops the lock when the process dies (kill
  -9 included), so a crashed trainer never leaves it stuck; a second trainer
  on the same directory gets :class:`WorkdirBusy` at once, before it writes
  anything. The lock file holds the owner's pid and host (for the message).
* ``run.json`` lists the segments of the run (one per ``mfdjax train``
  invocation that trained): start and end step, status (``running``,
  ``completed``, ``preempted``, ``nonfinite``, ``failed``; ``killed`` when the
  next trainer finds it still ``running``), wall seconds, the config fields
  changed at its start, and after a non-finite stop ``nonfinite_after_step``
  (plus ``suspect_step`` when it diverged straight from the checkpoint it
  resumed from: the next rerun skips that checkpoint). The summary adds the
  wall time of every segment.
* :func:`check_continuation` compares the requested config with the recorded
  ``config.json``. Fields that do not change what is learnt (logging,
  evaluation and checkpoint cadence, progress bar, data location) may change
  at any time; the run length (``num_epochs``, ``max_steps``) may grow, which
  continues the run; after a non-finite stop ``optimizer.learning_rate`` and
  ``model.dtype`` may change too (what the non-finite message advises). Any
  other difference is refused with :class:`RunMismatch`, naming the fields.

Every record is written atomically (temporary file + ``os.replace``), so a
crash leaves the old or the new version, never a torn one.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import json
import math
import os
import socket
import time
from typing import Any

__all__ = ["RunDir", "RunMismatch", "UnsafeRunDir", "WorkdirBusy", "Continuation",
           "atomic_write", "check_continuation", "check_no_outside_links", "config_to_dict",
           "flatten"]

# Fields that change how the run is logged or stored, not what it learns.
FREE_FIELDS = ("progress_bar", "log_every_steps", "eval_every_epochs", "eval_batch_size",
               "description", "dataset.data_dir", "dataset.num_workers", "checkpoint.",
               "correlation.")
# Fields that set the run length: growing them continues the run.
LENGTH_FIELDS = ("num_epochs", "max_steps")
# Fields added after runs were recorded: absent from an old config.json = this value.
LATER_FIELDS = {"dataset.validation_size": 0, "dataset.validation_seed": 0}
# Fields that the non-finite message advises changing; allowed after a non-finite stop.
RECOVERY_FIELDS = ("optimizer.learning_rate", "model.dtype")


class WorkdirBusy(RuntimeError):
    """Another trainer holds the run directory's lock."""


class RunMismatch(ValueError):
    """The run directory holds a run with a config that cannot be continued with this one."""


class UnsafeRunDir(ValueError):
    """The run directory holds a link that would make a write land outside it."""


def atomic_write(path: str, data: str | bytes) -> None:
    """Writes ``data`` to ``path``: a new temporary file in the same directory (created
    exclusively, so a link planted at its name is never followed), fsync, then
    ``os.replace``, which replaces whatever is at ``path`` -- a symbolic link included --
    instead of writing through it. Every file the package writes into a run directory
    goes through here (or is appended to after being written here)."""
    import tempfile

    folder, name = os.path.split(os.path.abspath(path))
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def check_no_outside_links(workdir: str) -> None:
    """Raises :class:`UnsafeRunDir` if any entry under ``workdir`` (the directory itself
    included) is a symbolic link that resolves outside it: a run directory received from
    someone else could otherwise make the next resume or report overwrite any file the
    user can write. Links that stay inside are allowed."""
    root = os.path.realpath(workdir)
    if os.path.islink(workdir.rstrip(os.sep)) and not os.path.isdir(root):
        raise UnsafeRunDir(f"--workdir {workdir} is a symbolic link to {root}, which is not a "
                           "directory; give the run directory itself.")
    for here, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            path = os.path.join(here, name)
            if not os.path.islink(path):
                continue
            target = os.path.realpath(path)
            if os.path.commonpath([root, target]) != root:
                raise UnsafeRunDir(
                    f"{path} is a symbolic link to {target}, outside the run directory "
                    f"{root}: mfdjax never writes through such links. Remove it (rm "
                    f"{path!r}) if the run came from elsewhere, or train into a new --workdir.")


def config_to_dict(config: Any) -> dict:
    """A ConfigDict as plain JSON data (tuples become lists), as config.json stores it."""
    return json.loads(config.to_json_best_effort())


def flatten(tree: Any, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (empty dicts kept as ``{}`` leaves)."""
    if isinstance(tree, dict) and tree:
        out = {}
        for k, v in tree.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: tree}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not (
            isinstance(a, bool) or isinstance(b, bool)):
        return float(a) == float(b)
    return a == b


def _matches(key: str, fields: tuple) -> bool:
    return any(key == f or (f.endswith(".") and key.startswith(f)) for f in fields)


@dataclasses.dataclass
class Continuation:
    """What :func:`check_continuation` decided.

    Attributes:
      changes: ``(field, recorded, requested)`` for every differing field.
      nothing_to_do: the run is finished at the requested length.
      recovered: the previous segment stopped on a non-finite value.
    """

    changes: list
    nothing_to_do: bool = False
    recovered: bool = False

    def describe(self) -> str:
        return ", ".join(f"{k} {_show(a)} -> {_show(b)}" for k, a, b in self.changes)


def _show(v: Any) -> str:
    return json.dumps(v) if not isinstance(v, str) else repr(v)


def check_continuation(recorded: dict, requested: dict, *, last_status: str | None,
                       checkpoint_step: int | None, total_steps: int, finished: bool,
                       workdir: str) -> Continuation:
    """May ``requested`` continue the run recorded in ``workdir``? Raises RunMismatch if not.

    Args:
      recorded: the run's ``config.json`` (plain data).
      requested: the config asked for now (plain data).
      last_status: status of the last segment in ``run.json`` (None: no record).
      checkpoint_step: newest checkpoint step on disk (None: none).
      total_steps: the run length of ``requested``, in steps.
      finished: the run has its final evaluation at ``checkpoint_step``.
      workdir: for the messages.
    """
    old, new = flatten(recorded), flatten(requested)
    for k, default in LATER_FIELDS.items():
        if k in new and k not in old:
            old[k] = default
    changes = [(k, old.get(k), new.get(k)) for k in sorted(set(old) | set(new))
               if not _same(old.get(k), new.get(k))]
    nonfinite = last_status == "nonfinite"
    refused = [c for c in changes if not (
        _matches(c[0], FREE_FIELDS) or _matches(c[0], LENGTH_FIELDS)
        or (nonfinite and _matches(c[0], RECOVERY_FIELDS)))]
    if refused:
        detail = ", ".join(f"{k}: recorded {_show(a)}, requested {_show(b)}"
                           for k, a, b in refused)
        hint = ("" if nonfinite or not any(_matches(k, RECOVERY_FIELDS) for k, _, _ in refused)
                else f" ({', '.join(RECOVERY_FIELDS)} may change only after a non-finite stop.)")
        raise RunMismatch(
            f"{workdir} holds a run trained with a different config ({detail}). Its records "
            "are left untouched: train into a new --workdir, or rerun with the recorded "
            f"values (see {os.path.join(workdir, 'config.json')}).{hint}")
    if checkpoint_step is not None and checkpoint_step > total_steps:
        raise RunMismatch(
            f"{workdir} holds a run already at step {checkpoint_step}, past the requested "
            f"length of {total_steps} steps ("
            + (", ".join(f"{k} {_show(a)} -> {_show(b)}" for k, a, b in changes
                         if _matches(k, LENGTH_FIELDS)) or "num_epochs / max_steps")
            + "). A run cannot be shortened: train into a new --workdir.")
    done = finished and checkpoint_step == total_steps
    return Continuation(changes=changes, nothing_to_do=done, recovered=nonfinite)


class RunDir:
    """The lock and records of one run directory (process 0 of a run uses it).

    Args:
      workdir: the run directory (created by :meth:`acquire` if missing).
    """

    LOCK = ".lock"

    def __init__(self, workdir: str):
        self.workdir = os.path.abspath(workdir)
        self.created = False
        self._fd: int | None = None

    # ---------------------------------------------------------------- lock
    def acquire(self) -> None:
        """Creates the directory if needed and takes the lock; raises WorkdirBusy or OSError."""
        if os.path.exists(self.workdir) and not os.path.isdir(self.workdir):
            raise NotADirectoryError(errno.ENOTDIR, f"--workdir {self.workdir} is a file, "
                                     "not a directory; choose another --workdir")
        if not os.path.exists(self.workdir):
            try:
                os.makedirs(self.workdir)
                self.created = True
            except FileExistsError:         # another trainer made it just now: the lock decides
                pass
        check_no_outside_links(self.workdir)
        path = os.path.join(self.workdir, self.LOCK)
        try:   # never through a link: a planted .lock -> file would be truncated
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            if e.errno != errno.ELOOP:
                raise
            raise UnsafeRunDir(f"{path} is a symbolic link; the lock of a run directory must "
                               f"be a plain file. Remove it (rm {path!r}) or train into a new "
                               "--workdir. Nothing was written.") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                owner = os.read(fd, 200).decode(errors="replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise WorkdirBusy(
                f"{self.workdir} is in use by another trainer ({owner}); wait for it to "
                "finish or stop it, or choose another --workdir. Nothing was written.") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunDir":
        self.acquire()
        return self

    def __exit__(self, *exc) -> bool:
        self.release()
        return False

    # ------------------------------------------------------------- records
    def path(self, name: str) -> str:
        return os.path.join(self.workdir, name)

    def read_json(self, name: str) -> Any:
        """A JSON record of the run, or None if missing."""
        p = self.path(name)
        if not os.path.exists(p):
            return None
        with open(p, encoding="utf-8") as f:
            try:
                return json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{p} is not valid JSON ({e}); it is a record of the run in "
                                 f"{self.workdir}: restore it, or train into a new --workdir."
                                 ) from None

    def checkpoint_step(self) -> int | None:
        """The newest finished step directory under ``checkpoints/`` (no orbax, no writes)."""
        d = self.path("checkpoints")
        if not os.path.isdir(d):
            return None
        steps = [int(s) for s in os.listdir(d) if s.isdigit()]
        return max(steps) if steps else None

    def is_empty_run(self) -> bool:
        """Nothing but the lock (a run directory this trainer may simply start in)."""
        return not any(n != self.LOCK for n in os.listdir(self.workdir))

    def segments(self) -> list[dict]:
        data = self.read_json("run.json") or {}
        return list(data.get("segments", []))

    def write_segments(self, segments: list[dict]) -> None:
        atomic_write(self.path("run.json"), json.dumps({"segments": segments}, indent=2))

    @staticmethod
    def new_segment(start_step: int, changes: list) -> dict:
        return {"start_step": int(start_step), "end_step": int(start_step),
                "status": "running", "started": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                              time.gmtime()),
                "wall_seconds": 0.0,
                "changes": [{"field": k, "recorded": a, "requested": b}
                            for k, a, b in changes]}
