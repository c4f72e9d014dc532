"""MFD under data parallelism on 8 simulated CPU devices (tests/conftest.py).

With ``axis_name`` inside shard_map / pmap every device must get the correlation of
the GLOBAL batch, i.e. exactly what one device computes on the whole batch; under
plain jit with a batch-sharded array no axis name is needed (XLA all-reduces).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from mfdjax.losses.mfd import feature_correlation, mean_abs_correlation, mfd_loss

N_DEV = 8
pytestmark = pytest.mark.skipif(jax.device_count() < N_DEV,
                                reason="needs 8 (simulated) devices, see tests/conftest.py")


@pytest.fixture(scope="module")
def mesh():
    return Mesh(np.array(jax.devices()[:N_DEV]), ("data",))


def _maps(batch=16, seed=0):
    """Correlated maps with a batch-dependent mean per position and a dead channel."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((batch, 3, 2, 5)) @ (np.eye(5) + 0.5 * rng.standard_normal((5, 5)))
    a += np.linspace(0.0, 3.0, batch)[:, None, None, None]  # devices see different means
    a[..., 4] = 1.5
    b = rng.standard_normal((batch, 6)) + 2.0
    return jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)


def _shard_map(mesh, fn, out_specs=P()):
    return jax.jit(jax.shard_map(fn, mesh=mesh, in_specs=P("data"), out_specs=out_specs))


@pytest.mark.parametrize("batch", [16, 8])  # 8: one sample per device
def test_shard_map_matches_global_batch(mesh, batch):
    a, b = _maps(batch)
    f = _shard_map(mesh, lambda x: feature_correlation(x, axis_name="data"))(a)
    np.testing.assert_allclose(f, feature_correlation(a), atol=2e-6)
    loss = _shard_map(mesh, lambda x: mfd_loss(x, axis_name="data"))(a)
    np.testing.assert_allclose(loss, mfd_loss(a), rtol=2e-5)
    mac = _shard_map(mesh, lambda x: mean_abs_correlation(x, axis_name="data"))(a)
    np.testing.assert_allclose(mac, mean_abs_correlation(a), rtol=2e-5)
    both = jax.jit(jax.shard_map(lambda x, y: mfd_loss([x, y], axis_name="data"), mesh=mesh,
                                 in_specs=(P("data"), P("data")), out_specs=P()))(a, b)
    np.testing.assert_allclose(both, mfd_loss([a, b]), rtol=2e-5)
    # Without the all-reduce each device would see only its local batch: different.
    local = jax.shard_map(lambda x: mfd_loss(x)[None], mesh=mesh, in_specs=P("data"),
                          out_specs=P("data"))(a) if batch > N_DEV else None
    if local is not None:
        assert not np.allclose(np.asarray(local), float(mfd_loss(a)), rtol=1e-3)


@pytest.mark.slow
def test_shard_map_gradients_match(mesh):
    a, b = _maps(16, seed=1)
    fn = lambda x, y: mfd_loss({"a": x, "b": y}, axis_name="data")  # noqa: E731
    sharded = jax.shard_map(fn, mesh=mesh, in_specs=(P("data"), P("data")), out_specs=P())
    ga, gb = jax.jit(jax.grad(sharded, argnums=(0, 1)))(a, b)
    ra, rb = jax.grad(lambda x, y: mfd_loss({"a": x, "b": y}), argnums=(0, 1))(a, b)
    np.testing.assert_allclose(ga, ra, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(gb, rb, rtol=1e-4, atol=1e-7)
    # grad taken INSIDE shard_map (per-device loss of the global batch): shard_map's
    # psum transposes without a second sum, so each device gets its slice of the
    # global gradient.
    inner = _shard_map(mesh, lambda x: jax.grad(lambda z: mfd_loss(z, axis_name="data"))(x),
                       out_specs=P("data"))(a)
    np.testing.assert_allclose(inner, ra, rtol=1e-4, atol=1e-7)
    # forward mode through the sharded loss
    v = jax.random.normal(jax.random.key(1), a.shape)
    _, jv = jax.jvp(lambda x: sharded(x, b), (a,), (v,))
    np.testing.assert_allclose(jv, jnp.vdot(ra, v), rtol=1e-4, atol=1e-6)


def test_pmap_matches_global_batch():
    a, _ = _maps(16, seed=2)
    local = a.reshape(N_DEV, 2, *a.shape[1:])
    loss = jax.pmap(lambda x: mfd_loss(x, axis_name="i"), axis_name="i")(local)
    np.testing.assert_allclose(loss, np.full(N_DEV, float(mfd_loss(a))), rtol=2e-5)
    f = jax.pmap(lambda x: feature_correlation(x, axis_name="i"), axis_name="i")(local)
    np.testing.assert_allclose(f, np.broadcast_to(feature_correlation(a), f.shape), atol=2e-6)
    # pmap's convention: psum transposes to psum, so the per-device gradient of the
    # (replicated) loss is N_DEV x its slice of the global gradient; lax.pmean of
    # per-device PARAMETER gradients is then exactly the global gradient.
    g = jax.pmap(jax.grad(lambda x: mfd_loss(x, axis_name="i")), axis_name="i")(local)
    np.testing.assert_allclose(g.reshape(a.shape) / N_DEV, jax.grad(mfd_loss)(a),
                               rtol=1e-4, atol=1e-7)


def test_jit_on_sharded_batch_needs_no_axis_name(mesh):
    a, b = _maps(16, seed=3)
    sharding = NamedSharding(mesh, P("data"))
    sa, sb = jax.device_put(a, sharding), jax.device_put(b, sharding)
    assert len(sa.sharding.device_set) == N_DEV
    vg = jax.jit(jax.value_and_grad(lambda x, y: mfd_loss([x, y]), argnums=(0, 1)))
    loss, (ga, gb) = vg(sa, sb)
    rloss, (ra, rb) = jax.value_and_grad(lambda x, y: mfd_loss([x, y]), argnums=(0, 1))(a, b)
    np.testing.assert_allclose(loss, rloss, rtol=2e-5)
    np.testing.assert_allclose(ga, ra, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(gb, rb, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(jax.jit(feature_correlation)(sa), feature_correlation(a),
                               atol=2e-6)
