"""Shared test set-up.

* Eight simulated CPU devices (set before JAX is imported anywhere) so the
  sharding / shard_map tests can run a real data-parallel mesh on one CPU.
* XLA's backend (LLVM) optimisation level 0 for everything the suite compiles, child
  processes included: the test shapes are tiny, so compiling, not running, dominates on
  a 2-core CPU (a CI smoke script: 0.74x the CPU time). The compiled programs compute
  the same operations; ``MFDJAX_TEST_XLA_OPT=full`` keeps XLA's default level for a
  manual run.
* ``x64`` fixture: float64 inside one test only (``jax.enable_x64`` context),
  for the float64 reference comparisons and ``check_grads``.
"""

import os

os.environ.setdefault("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in os.environ["XLA_FLAGS"]:
    os.environ["XLA_FLAGS"] += " --xla_force_host_platform_device_count=8"
if (os.environ.get("MFDJAX_TEST_XLA_OPT", "") != "full"
        and "xla_backend_optimization_level" not in os.environ["XLA_FLAGS"]):
    os.environ["XLA_FLAGS"] += " --xla_backend_optimization_level=0"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def x64():
    """Runs the test body with 64-bit JAX types enabled."""
    with jax.enable_x64(True):
        yield
