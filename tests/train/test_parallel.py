"""mfdjax.train.parallel: how many workers, and tasks run in workers pinned to one core."""

from __future__ import annotations

import functools
import os
import time

import pytest

from mfdjax.train import parallel


def _affinity(tag, seconds=0.0):
    """A task: where it ran (module level, so that a spawn worker can unpickle it)."""
    time.sleep(seconds)
    return tag, sorted(os.sched_getaffinity(0)), parallel.worker_core(), os.getpid()


def _fail_on(tag):
    if tag == "bad":
        raise ValueError("task bad failed")
    return tag


def _die(tag):
    if tag == "die":
        os.kill(os.getpid(), 9)
    return tag


def test_parse_jobs_takes_auto_and_positive_integers():
    assert parallel.parse_jobs("3", 10) == 3
    assert parallel.parse_jobs(5, 2) == 2          # never more workers than runs
    assert parallel.parse_jobs("auto", 1) == 1
    for bad in ("0", "-1", "two", None):
        with pytest.raises(ValueError, match="`jobs` must be 'auto' or an integer >= 1"):
            parallel.parse_jobs(bad, 4)


def test_default_jobs_is_one_per_core_on_a_cpu_only_machine(monkeypatch):
    monkeypatch.setattr(parallel, "available_cores", lambda: [0, 1])
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.delenv("JAX_COORDINATOR_ADDRESS", raising=False)
    monkeypatch.delenv("MFDJAX_COORDINATOR_ADDRESS", raising=False)
    assert parallel.default_jobs(10) == 2
    assert parallel.default_jobs(1) == 1
    monkeypatch.setenv("JAX_PLATFORMS", "cuda")             # a GPU: one run uses it all
    assert parallel.default_jobs(10) == 1
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.setenv("MFDJAX_COORDINATOR_ADDRESS", "10.0.0.1:1234")   # multi-host
    assert parallel.default_jobs(10) == 1


def test_default_jobs_sees_an_accelerator_plugin_without_starting_jax(monkeypatch):
    monkeypatch.delenv("JAX_PLATFORMS", raising=False)
    monkeypatch.setattr(parallel, "available_cores", lambda: [0, 1])
    monkeypatch.setattr(parallel.importlib.util, "find_spec",
                        lambda name: object() if name == "jax_cuda12_plugin" else None)
    assert parallel.default_jobs(4) == 1


def test_one_job_runs_in_this_process_in_order():
    seen = []
    out = parallel.run_all(_affinity, ["a", "b"], jobs=1, on_done=lambda i, r: seen.append(i))
    assert [o[0] for o in out] == ["a", "b"] and seen == [0, 1]
    assert {o[3] for o in out} == {os.getpid()} and out[0][2] is None


@pytest.mark.skipif(len(parallel.available_cores()) < 2, reason="needs two cores")
def test_workers_are_pinned_to_one_core_each_and_results_keep_their_order():
    cores = parallel.available_cores()
    seen = []
    # Each task lasts long enough for the second worker to start and take its share.
    out = parallel.run_all(functools.partial(_affinity, seconds=1.0), list("abcd"), jobs=2,
                           on_done=lambda i, r: seen.append(i))
    assert [o[0] for o in out] == list("abcd")
    assert sorted(seen) == [0, 1, 2, 3]
    assert all(len(o[1]) == 1 and o[1][0] == o[2] for o in out)   # one core, the one it says
    assert {o[2] for o in out} == set(cores[:2])                   # two workers, two cores
    assert os.getpid() not in {o[3] for o in out}


@pytest.mark.skipif(len(parallel.available_cores()) < 2, reason="needs two cores")
def test_a_failing_task_raises_after_the_others_ran():
    done = []
    with pytest.raises(ValueError, match="task bad failed"):
        parallel.run_all(_fail_on, ["ok", "bad"], jobs=2, on_done=lambda i, r: done.append(r))
    assert done == ["ok"]


@pytest.mark.skipif(len(parallel.available_cores()) < 2, reason="needs two cores")
def test_a_killed_worker_is_a_clear_error():
    with pytest.raises(parallel.WorkerDied, match="run the same command again"):
        parallel.run_all(_die, ["ok", "die"], jobs=2)
