"""Devices, the data-parallel mesh, and multi-host start-up.

One job: decide where arrays live. The trainer uses a 1-D
:class:`jax.sharding.Mesh` with a single ``"data"`` axis over every device of
every process; a batch is sharded along its leading axis over ``"data"``,
parameters and optimizer state are replicated. ``jax.jit`` with these
shardings is what ``pjit`` became: XLA inserts the all-reduces, so a batch
statistic (the MFD correlation, BatchNorm moments) is over the GLOBAL batch
without any ``axis_name`` plumbing.

The mesh is built as ``Mesh(devices, ("data",))``, whose axis type is Auto: XLA's
partitioner places every intermediate of the model. The losses also run on a
mesh with Explicit axes (``jax.make_mesh``'s default; tested for every loss), but
the models' layers are only tested under Auto axes.

Multi-host: :func:`initialize_distributed` calls
:func:`jax.distributed.initialize` (before any other JAX call) when a
coordinator address is configured, from explicit arguments or the environment
variables ``MFDJAX_COORDINATOR_ADDRESS``, ``MFDJAX_NUM_PROCESSES`` and
``MFDJAX_PROCESS_ID``. Each process then loads only its slice of every global
batch and :func:`global_batch` assembles the global array with
:func:`jax.make_array_from_process_local_data`.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

__all__ = [
    "DATA_AXIS",
    "data_sharding",
    "global_batch",
    "initialize_distributed",
    "make_mesh",
    "replicate",
    "replicated_sharding",
]

DATA_AXIS = "data"

_ENV = {
    "coordinator_address": "MFDJAX_COORDINATOR_ADDRESS",
    "num_processes": "MFDJAX_NUM_PROCESSES",
    "process_id": "MFDJAX_PROCESS_ID",
}


def initialize_distributed(coordinator_address: str | None = None,
                           num_processes: int | None = None,
                           process_id: int | None = None,
                           *, initialization_timeout: int = 120) -> bool:
    """Starts multi-process JAX when a coordinator is configured.

    Arguments left as None are read from ``MFDJAX_COORDINATOR_ADDRESS``,
    ``MFDJAX_NUM_PROCESSES`` and ``MFDJAX_PROCESS_ID``. With no coordinator
    address at all this does nothing and returns False (single process). Must
    run before any other JAX call of the process.

    Returns:
      True when ``jax.distributed.initialize`` was called.
    """
    coordinator_address = coordinator_address or os.environ.get(_ENV["coordinator_address"])
    if not coordinator_address:
        return False
    if num_processes is None and os.environ.get(_ENV["num_processes"]):
        num_processes = int(os.environ[_ENV["num_processes"]])
    if process_id is None and os.environ.get(_ENV["process_id"]):
        process_id = int(os.environ[_ENV["process_id"]])
    if num_processes is None or process_id is None:
        raise ValueError(
            "a coordinator address was given but `num_processes` / `process_id` are "
            f"missing; pass them (CLI --num-processes/--process-id) or set "
            f"{_ENV['num_processes']} and {_ENV['process_id']}.")
    if not 0 <= process_id < num_processes:
        raise ValueError(f"`process_id` must be in [0, {num_processes}), got {process_id}.")
    jax.distributed.initialize(coordinator_address=coordinator_address,
                               num_processes=num_processes, process_id=process_id,
                               initialization_timeout=initialization_timeout)
    return True


def make_mesh(devices: Any = None) -> Mesh:
    """A 1-D mesh ``("data",)`` over ``devices`` (default: all devices of all processes)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def data_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) axis split over ``"data"``, every other axis whole."""
    return NamedSharding(mesh, P(DATA_AXIS))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
    """The whole array on every device."""
    return NamedSharding(mesh, P())


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Puts every leaf of ``tree`` on every device of ``mesh`` (parameters, optimizer state).

    Works in multi-process runs: each process holds identical host values
    (same seed), and the global array is assembled from them.
    """
    sharding = replicated_sharding(mesh)
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)

    def put(x):
        x = np.asarray(x)
        return jax.make_array_from_process_local_data(sharding, x, x.shape)

    return jax.tree.map(put, jax.device_get(tree))


def global_batch(local: Mapping[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Assembles the global batch from this process's contiguous slice of it.

    Args:
      local: dict of NumPy arrays, leading axis = this process's share of the
        global batch (``global_batch_size // process_count`` rows; see
        ``mfdjax.data.process_slice``).
      mesh: the data mesh.

    Returns:
      dict of global ``jax.Array`` of leading size ``local_rows * process_count``,
      sharded along ``"data"``.
    """
    sharding = data_sharding(mesh)
    out = {}
    for key, value in local.items():
        value = np.asarray(value)
        global_shape = (value.shape[0] * jax.process_count(),) + value.shape[1:]
        out[key] = jax.make_array_from_process_local_data(sharding, value, global_shape)
    return out
