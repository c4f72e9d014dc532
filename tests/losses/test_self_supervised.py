"""Barlow Twins and VICReg (mfdjax/losses/self_supervised.py) against float64 NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, PartitionSpec as P
from jax.test_util import check_grads

from mfdjax.losses.self_supervised import barlow_twins_loss, vicreg_loss

N, D = 8, 5


def np_barlow(z1, z2, lam=5e-3, eps=1e-5):
    def bn(z):
        return (z - z.mean(0)) / np.sqrt(z.var(0) + eps)   # biased variance, like BatchNorm1d
    c = bn(z1).T @ bn(z2) / z1.shape[0]
    off = c - np.diag(np.diag(c))
    return np.sum((1 - np.diag(c)) ** 2) + lam * np.sum(off ** 2)


def np_vicreg(z1, z2, sim_weight=25.0, var_weight=25.0, cov_weight=1.0, eps=1e-4, gamma=1.0,
              variant="paper"):
    n, d = z1.shape
    sim = np.mean(np.sum((z1 - z2) ** 2, 1))
    if variant == "reference":
        sim = np.mean((z1 - z2) ** 2)                       # F.mse_loss

    def v(z):
        return np.mean(np.maximum(0, gamma - np.sqrt(z.var(0, ddof=1) + eps)))

    def c(z):
        cov = np.cov(z, rowvar=False)                       # (n - 1) normalisation
        return (np.sum(cov ** 2) - np.sum(np.diag(cov) ** 2)) / d
    var = v(z1) + v(z2)
    if variant == "reference":
        var = var / 2
    return sim_weight * sim + var_weight * var + cov_weight * (c(z1) + c(z2))


def views(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    z1 = rng.normal(size=(N, D)) * rng.uniform(0.2, 3.0, size=D)
    z2 = z1 + 0.5 * rng.normal(size=(N, D))
    return z1.astype(dtype), z2.astype(dtype)


@pytest.mark.parametrize("lam", [5e-3, 0.3])
def test_barlow_matches_reference(lam, x64):
    for seed in range(3):
        z1, z2 = views(seed)
        out = barlow_twins_loss(jnp.asarray(z1), jnp.asarray(z2), lam=lam)
        assert out.shape == () and out.dtype == jnp.float64
        np.testing.assert_allclose(out, np_barlow(z1, z2, lam), rtol=1e-11)


def test_barlow_properties(x64):
    z1, z2 = views(1)
    # Invariant to per-dimension affine maps with positive scale (batch standardisation).
    a = np.random.default_rng(2).uniform(0.5, 4.0, size=D)
    np.testing.assert_allclose(
        barlow_twins_loss(jnp.asarray(z1 * a + 3.0), jnp.asarray(z2 * a[::-1] - 1.0), eps=0.0),
        barlow_twins_loss(jnp.asarray(z1), jnp.asarray(z2), eps=0.0), rtol=1e-9)
    # Perfectly correlated, decorrelated dimensions: the loss is ~0.
    q, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(N, N)))
    z = q[:, :D]
    z = z - z.mean(0)
    z = np.linalg.qr(z)[0] * np.sqrt(N)   # centred, orthogonal columns -> C = I
    np.testing.assert_allclose(barlow_twins_loss(jnp.asarray(z), jnp.asarray(z), eps=0.0), 0.0,
                               atol=1e-10)
    # lam = 0: only the invariance (diagonal) term.
    c = np.corrcoef(z1.T, z2.T)[:D, D:]
    np.testing.assert_allclose(barlow_twins_loss(jnp.asarray(z1), jnp.asarray(z2), lam=0.0,
                                                 eps=0.0), np.sum((1 - np.diag(c)) ** 2),
                               rtol=1e-9)


@pytest.mark.parametrize("variant", ["paper", "reference"])
@pytest.mark.parametrize("kw", [{}, dict(sim_weight=1.0, var_weight=3.0, cov_weight=0.5,
                                         gamma=2.0)])
def test_vicreg_matches_reference(variant, kw, x64):
    for seed in range(3):
        z1, z2 = views(seed)
        out = vicreg_loss(jnp.asarray(z1), jnp.asarray(z2), variant=variant, **kw)
        assert out.shape == ()
        np.testing.assert_allclose(out, np_vicreg(z1, z2, variant=variant, **kw), rtol=1e-11)


def test_vicreg_terms_separately(x64):
    z1, z2 = views(4)
    only = lambda **kw: float(vicreg_loss(jnp.asarray(z1), jnp.asarray(z2), **{
        "sim_weight": 0.0, "var_weight": 0.0, "cov_weight": 0.0, **kw}))
    np.testing.assert_allclose(only(sim_weight=1.0), np.mean(np.sum((z1 - z2) ** 2, 1)))
    # The variance hinge is zero once every std exceeds gamma.
    big = 10 * z1
    assert float(vicreg_loss(jnp.asarray(big), jnp.asarray(big), sim_weight=0.0,
                             cov_weight=0.0)) == 0.0
    assert only(var_weight=1.0, gamma=100.0) > 0
    # Covariance term zero for decorrelated dimensions.
    z = np.random.default_rng(5).normal(size=(N, D))
    z = z - z.mean(0)
    z = np.linalg.qr(z)[0]
    assert float(vicreg_loss(jnp.asarray(z), jnp.asarray(z), sim_weight=0.0,
                             var_weight=0.0)) < 1e-20
    # Reference variant: MSE mean over N * D, variance term halved.
    np.testing.assert_allclose(
        float(vicreg_loss(jnp.asarray(z1), jnp.asarray(z2), sim_weight=1.0, var_weight=0.0,
                          cov_weight=0.0, variant="reference")),
        only(sim_weight=1.0) / D)


@pytest.mark.slow
def test_check_grads(x64):
    z1, z2 = views(6)
    check_grads(lambda a, b: barlow_twins_loss(a, b, lam=0.1), (jnp.asarray(z1), jnp.asarray(z2)),
                order=2, modes=("fwd", "rev"))
    # gamma = 5 keeps every std below gamma: the hinge is active and away from its kink.
    check_grads(lambda a, b: vicreg_loss(a, b, gamma=5.0), (jnp.asarray(z1), jnp.asarray(z2)),
                order=2, modes=("fwd", "rev"))


def test_constant_dimension_is_finite():
    z1, z2 = (jnp.asarray(a) for a in views(7, np.float32))
    z1 = z1.at[:, 0].set(1.0)
    for f in (barlow_twins_loss, vicreg_loss):
        val, g = jax.value_and_grad(lambda a, b: f(a, b), argnums=(0, 1))(z1, z2)
        assert np.isfinite(val) and all(np.all(np.isfinite(x)) for x in g)


def test_jit_bf16():
    z1, z2 = (jnp.asarray(a) for a in views(8, np.float32))
    for f in (barlow_twins_loss, vicreg_loss):
        np.testing.assert_allclose(jax.jit(f)(z1, z2), f(z1, z2), rtol=1e-5)
        out = f(z1.astype(jnp.bfloat16), z2.astype(jnp.bfloat16))
        assert out.dtype == jnp.float32
    # Against the float64 formulas of the values bf16 holds (an independent path).
    h1, h2 = (np.asarray(z.astype(jnp.bfloat16).astype(jnp.float32), np.float64)
              for z in (z1, z2))
    np.testing.assert_allclose(barlow_twins_loss(z1.astype(jnp.bfloat16), z2.astype(jnp.bfloat16)),
                               np_barlow(h1, h2), rtol=1e-4)
    np.testing.assert_allclose(vicreg_loss(z1.astype(jnp.bfloat16), z2.astype(jnp.bfloat16)),
                               np_vicreg(h1, h2), rtol=1e-4)


def test_global_batch_under_shard_map():
    mesh = Mesh(np.array(jax.devices()[:4]), ("data",))
    z1, z2 = (jnp.asarray(a) for a in views(9, np.float32))
    for f in (barlow_twins_loss, vicreg_loss):
        sharded = jax.shard_map(lambda a, b: f(a, b, axis_name="data"), mesh=mesh,
                                in_specs=(P("data"), P("data")), out_specs=P(),
                                check_vma=False)
        np.testing.assert_allclose(jax.jit(sharded)(z1, z2), f(z1, z2), rtol=2e-5)


def test_bad_input():
    z1, z2 = (jnp.asarray(a) for a in views(10, np.float32))
    for f in (barlow_twins_loss, vicreg_loss):
        with pytest.raises(ValueError, match="z2"):
            f(z1, z2[:, :-1])
        with pytest.raises(ValueError, match="z1"):
            f(z1[0], z2[0])
        with pytest.raises(ValueError, match="z1"):
            f(z1.astype(jnp.int32), z2)
    with pytest.raises(ValueError, match="lam"):
        barlow_twins_loss(z1, z2, lam=-1.0)
    with pytest.raises(ValueError, match="sim_weight"):
        vicreg_loss(z1, z2, sim_weight=-1.0)
    with pytest.raises(ValueError, match="variant"):
        vicreg_loss(z1, z2, variant="official")
    with pytest.raises(ValueError, match="z1"):
        vicreg_loss(z1[:1], z2[:1])


def test_package_reexports():
    import mfdjax.losses as L
    assert L.barlow_twins_loss is barlow_twins_loss and L.vicreg_loss is vicreg_loss
