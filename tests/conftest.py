"""Shared test set-up.

* Eight simulated CPU devices (set before JAX is imported anywhere) so the
  sharding / shard_map tests can run a real data-parallel mesh on one CPU.
* ``x64`` fixture: float64 inside one test only (``jax.enable_x64`` context),
  for the float64 reference comparisons and ``check_grads``.
"""

import os

os.environ.setdefault("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in os.environ["XLA_FLAGS"]:
    os.environ["XLA_FLAGS"] += " --xla_force_host_platform_device_count=8"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def x64():
    """Runs the test body with 64-bit JAX types enabled."""
    with jax.enable_x64(True):
        yield
