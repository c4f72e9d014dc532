"""Independent runs side by side, one per CPU core.

On a CPU-only machine XLA's step of a small network does not use two cores well: the
default Fashion-MNIST network trains at about 1.5x the images/s of one core on two
cores, while two runs pinned to one core each get 2x (benchmarks/README.md,
``bench_study_throughput.py``). So several runs that do not depend on each other (the
variants of a comparison config, the seeds and rows of a study) train faster in
separate worker processes, each pinned to its own core, than one after another.

:func:`default_jobs` decides how many workers, :func:`run_all` runs the tasks. A worker
is a fresh ``spawn`` process (no JAX state is inherited); it pins itself to one core
before JAX starts, so the XLA threads it creates stay on that core. Every run writes its
own run directory exactly as a run in the main process does (it IS the same trainer),
so resuming, reports and the experiment runner's records do not change.
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib.util
import multiprocessing as mp
import os
import signal
from typing import Any, Callable, Sequence

__all__ = ["WorkerDied", "available_cores", "default_jobs", "jobs_option", "parse_jobs",
           "run_all", "worker_core"]


class WorkerDied(RuntimeError):
    """A worker process ended without a result (killed, or out of memory)."""


_ACCELERATOR_PLUGINS = ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm60_plugin",
                        "jax_rocm7_plugin", "libtpu")


def available_cores() -> list[int]:
    """The cores this process may run on (its affinity mask), in order."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):   # not Linux
        return list(range(os.cpu_count() or 1))


def _cpu_only() -> bool:
    """True when JAX will run on the CPU: no accelerator plugin, or JAX_PLATFORMS=cpu.

    Decided without starting a JAX backend, so a parent process never takes the GPU's
    memory away from its workers."""
    platforms = os.environ.get("JAX_PLATFORMS", "").strip().lower()
    if platforms:
        return platforms.split(",")[0] == "cpu"
    return not any(importlib.util.find_spec(p) is not None for p in _ACCELERATOR_PLUGINS)


def default_jobs(n_runs: int) -> int:
    """How many runs to train at once when the user did not say: one per core on a
    CPU-only, single-process machine, never more than there are runs; else 1."""
    if n_runs <= 1 or not _cpu_only() or any(
            os.environ.get(v) for v in ("JAX_COORDINATOR_ADDRESS", "MFDJAX_COORDINATOR_ADDRESS")):
        return 1
    return max(1, min(n_runs, len(available_cores())))


def _check_jobs(value: str | int) -> int | None:
    """The integer of ``value``, None for ``"auto"``; a ValueError for anything else."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return None
    try:
        jobs = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"`jobs` must be 'auto' or an integer >= 1, got {value!r}.") from None
    if jobs < 1:
        raise ValueError(f"`jobs` must be 'auto' or an integer >= 1, got {jobs}.")
    return jobs


def parse_jobs(value: str | int, n_runs: int) -> int:
    """``"auto"`` -> :func:`default_jobs`; an int >= 1 is taken as it is (capped at the runs)."""
    jobs = _check_jobs(value)
    if jobs is None:
        return default_jobs(n_runs)
    return max(1, min(jobs, max(n_runs, 1)))


def jobs_option(value: str) -> str:
    """``argparse`` type of a ``--jobs`` option: ``"auto"`` or an integer >= 1."""
    import argparse

    try:
        jobs = _check_jobs(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return "auto" if jobs is None else str(jobs)


def _pin(cores) -> None:
    """Worker initializer: take one core off the shared queue and stay on it."""
    core = cores.get()
    try:
        os.sched_setaffinity(0, {core})
    except (AttributeError, OSError):
        pass
    os.environ["MFDJAX_WORKER_CORE"] = str(core)
    # The parent handles Ctrl-C and SIGTERM and forwards SIGTERM to its workers once;
    # a worker's trainer then saves its state and stops (mfdjax.train.loop).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_all(fn: Callable[[Any], Any], tasks: Sequence[Any], *, jobs: int,
            on_done: Callable[[int, Any], None] | None = None) -> list[Any]:
    """``[fn(t) for t in tasks]``, with up to ``jobs`` tasks at a time in pinned workers.

    ``fn`` and each task must be picklable (a module-level function; configs,
    strings, numbers). ``jobs <= 1`` runs everything here, in order. With workers, the
    results come back in the order of ``tasks``; if a task raises, the tasks not yet
    started are cancelled, the running ones finish, and the first error is raised.
    ``on_done(i, result)`` is called in this process as each task finishes (e.g. to
    write a study's results after every run).
    SIGTERM or Ctrl-C in the parent is passed to every worker as SIGTERM (each trainer
    saves its checkpoint and stops), then :class:`~mfdjax.train.loop.Preempted` is raised.
    """
    if jobs <= 1 or len(tasks) <= 1:
        out = []
        for i, t in enumerate(tasks):
            out.append(fn(t))
            if on_done is not None:
                on_done(i, out[-1])
        return out
    ctx = mp.get_context("spawn")
    cores = available_cores()
    queue = ctx.Queue()
    for i in range(jobs):
        queue.put(cores[i % len(cores)])
    stopped: list[str] = []
    pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_pin,
                                  initargs=(queue,))

    def forward(signum, frame):
        name = signal.Signals(signum).name
        if not stopped:
            stopped.append(name)
            for proc in list(getattr(pool, "_processes", {}).values()):
                try:
                    os.kill(proc.pid, signal.SIGTERM)
                except OSError:
                    pass

    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)} \
        if _main_thread() else {}
    results: list[Any] = [None] * len(tasks)
    first_error: BaseException | None = None
    try:
        futures = {pool.submit(fn, t): i for i, t in enumerate(tasks)}
        for fut in cf.as_completed(futures):
            try:
                results[futures[fut]] = fut.result()
                if on_done is not None:
                    on_done(futures[fut], results[futures[fut]])
            except BaseException as e:  # noqa: BLE001 -- re-raised below, after the others
                if first_error is None:
                    first_error = e
                    for other in futures:
                        other.cancel()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for s, h in old.items():
            signal.signal(s, h)
    if stopped:
        from mfdjax.train.loop import Preempted

        raise Preempted(f"{stopped[0]}: every worker saved its run; run the same command "
                        "again to resume.", stopped[0])
    if isinstance(first_error, cf.process.BrokenProcessPool):
        raise WorkerDied(
            "a worker process died while training (killed, or out of memory); the runs "
            "that finished are kept and the others resume from their checkpoints: run "
            "the same command again (--jobs 1 trains one run at a time).") from first_error
    if first_error is not None:
        raise first_error
    return results


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def worker_core() -> int | None:
    """The core a worker of :func:`run_all` is pinned to (None in the main process)."""
    core = os.environ.get("MFDJAX_WORKER_CORE")
    return int(core) if core is not None else None

