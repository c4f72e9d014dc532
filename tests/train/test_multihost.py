"""Two processes on 127.0.0.1 (jax.distributed, gloo CPU collectives) agree with one process.

Each of the two processes has 2 CPU devices (4 global) and loads only its half
of every global batch; the reference is one process with 4 devices. A missing
peer makes JAX abort after the init timeout, so every process runs under an
outer timeout.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARGS = ["--config", os.path.join(ROOT, "tests", "train", "tiny_config.py"),
        "max_steps=4", "num_epochs=1", "checkpoint.enabled=False", "mfd.weight=1.0",
        "dataset.test_subset=96", "correlation.batch_size=32", "log_every_steps=2"]


def _env(devices: int, **extra) -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["JAX_PLATFORMS"] = "cpu"
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(workdir, env):
    return subprocess.Popen([sys.executable, "-m", "mfdjax.cli", "train", "--workdir",
                             str(workdir)] + ARGS, cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait(procs, timeout):
    outs = []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=timeout)
            outs.append(out.decode(errors="replace"))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return outs


@pytest.mark.slow
@pytest.mark.multiprocess
def test_two_processes_match_one_process(tmp_path):
    port = _free_port()
    procs = [_train(tmp_path / "multi", _env(2, MFDJAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
                                            MFDJAX_NUM_PROCESSES="2", MFDJAX_PROCESS_ID=str(i)))
             for i in range(2)]
    single = _train(tmp_path / "single", _env(4))
    outs = _wait(procs + [single], timeout=400)
    for p, out in zip(procs + [single], outs):
        assert p.returncode == 0, out[-3000:]
    multi = json.loads((tmp_path / "multi" / "summary.json").read_text())
    one = json.loads((tmp_path / "single" / "summary.json").read_text())
    assert multi["processes"] == 2 and multi["devices"] == 4
    assert one["processes"] == 1 and one["devices"] == 4
    assert multi["steps"] == one["steps"] == 4
    assert multi["param_checksum"] == pytest.approx(one["param_checksum"], rel=1e-5)
    for key in ("test/accuracy", "test/loss", "correlation/0", "correlation/1",
                "train/loss_epoch", "train/mfd_loss_epoch"):
        assert multi["final"][key] == pytest.approx(one["final"][key], rel=1e-4, abs=1e-6), key
