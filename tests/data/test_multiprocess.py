"""Two JAX processes on 127.0.0.1: process_slice + DeviceDataset give the global batch."""

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent("""
    import os, sys
    pid, port = int(sys.argv[1]), sys.argv[2]
    os.environ["JAX_PLATFORMS"] = "cpu"
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import jax
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2,
                               process_id=pid, initialization_timeout=60)
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    from mfdjax.data import DeviceDataset, HostLoader, batch_indices, load_dataset, process_slice
    ds = load_dataset("digits", "train")
    data = DeviceDataset(ds)  # default: replicated on all 4 devices of both processes
    mesh = Mesh(np.array(jax.devices()), ("data",))
    idx = batch_indices(len(ds), 16, seed=0, epoch=0)[3]
    local = process_slice(idx, jax.process_index(), jax.process_count())
    gidx = jax.make_array_from_process_local_data(NamedSharding(mesh, P("data")), local)
    gather = jax.jit(lambda d, i: d.gather(i), out_shardings=NamedSharding(mesh, P()))
    images, labels = gather(data, gidx)
    assert np.array_equal(np.asarray(labels), ds.labels[idx])
    assert np.array_equal(np.asarray(images), ds.images[idx])
    # the host loader's per-process share, assembled globally, is the same batch
    share = list(HostLoader(ds, 16, seed=0, epoch=0, start_step=3, process_index=pid,
                            process_count=2))[0]
    glabels = jax.make_array_from_process_local_data(NamedSharding(mesh, P("data")), share[1])
    assert np.array_equal(np.asarray(jax.jit(lambda x: x, out_shardings=NamedSharding(
        mesh, P()))(glabels)), ds.labels[idx])
    print("OK", pid, len(jax.devices()), flush=True)
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.multiprocess
def test_two_processes_get_the_global_batch(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(SCRIPT)
    port = str(_free_port())
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("XLA_FLAGS", None)
    procs = [subprocess.Popen([sys.executable, str(script), str(i), port], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=150)[0])
    finally:
        for p in procs:  # a peer that never starts makes the other hang: kill what is left
            if p.poll() is None:
                p.kill()
    for i, (p, out) in enumerate(zip(procs, outs)):
        assert p.returncode == 0, out[-3000:]
        assert f"OK {i} 4" in out
