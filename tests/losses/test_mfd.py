"""Tests of mfdjax.losses.mfd against an independent float64 NumPy implementation of
the MFD paper, eqs. 5-6, plus gradients, invariances, transformations and input checks."""

from __future__ import annotations

import doctest

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

from mfdjax.losses import mfd as mfd_module
from mfdjax.losses.mfd import feature_correlation, mean_abs_correlation, mfd_loss

# --------------------------------------------------------------------------- #
# Independent reference: eq. 6 written per channel pair with explicit loops.
# --------------------------------------------------------------------------- #


def ref_correlation(a) -> np.ndarray:
    """F_IJ = sum_k <I_k - Ibar, J_k - Jbar> / (sqrt(sum_k |I_k - Ibar|^2) sqrt(...)).

    I_k is channel I's map of sample k (all non-batch, non-channel axes), Ibar its
    batch mean. A channel whose centred maps vanish (std below 1e-9 x its RMS) is
    dead: 0 row/column (diagonal included), as the paper says.
    """
    a = np.asarray(a, dtype=np.float64)
    b, c = a.shape[0], a.shape[-1]
    maps = [a[..., i].reshape(b, -1) for i in range(c)]  # channel -> (B, P)
    cent = [m - m.mean(axis=0, keepdims=True) for m in maps]
    dead = [np.sum(x * x) <= 1e-18 * np.sum(m * m) for x, m in zip(cent, maps)]
    f = np.zeros((c, c))
    for i in range(c):
        for j in range(c):
            if dead[i] or dead[j]:
                continue
            num = sum(np.sum(cent[i][k] * cent[j][k]) for k in range(b))
            den = np.sqrt(sum(np.sum(cent[i][k] ** 2) for k in range(b)))
            den *= np.sqrt(sum(np.sum(cent[j][k] ** 2) for k in range(b)))
            f[i, j] = num / den
    return f


def ref_loss(a) -> float:
    f = ref_correlation(a)
    c = f.shape[0]
    return float(sum(f[i, j] ** 2 for i in range(c) for j in range(c) if i != j) / (c * (c - 1)))


def ref_mean_abs(a) -> float:
    f = ref_correlation(a)
    c = f.shape[0]
    return float(sum(abs(f[i, j]) for i in range(c) for j in range(c) if i != j) / (c * (c - 1)))


def _data(shape, seed=0, dead=True):
    """Correlated random maps; with dead=True channel 1 is constant and channel 3 zero."""
    rng = np.random.default_rng(seed)
    c = shape[-1]
    z = rng.standard_normal(shape)
    mix = np.eye(c) + 0.6 * rng.standard_normal((c, c))
    x = z @ mix + rng.standard_normal(c) * 2.0  # channel offsets
    if dead:
        x[..., 1] = 2.7
        if c > 3:
            x[..., 3] = 0.0
    return x


SHAPES = [(6, 5), (4, 3, 3, 6), (5, 7, 4)]
# Jitted once per shape: far cheaper on a loaded CI machine than op-by-op dispatch.
# (test_jit_grad_vmap_equal_plain_calls checks the un-jitted path equals these.)
_loss = jax.jit(mfd_loss)
_grad = jax.jit(jax.grad(mfd_loss))


# --------------------------------------------------------------------------- #
# Values against the reference
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("shape", SHAPES)
def test_float32_matches_reference(shape):
    x = _data(shape)
    xf = x.astype(np.float32)
    f = feature_correlation(jnp.asarray(xf))
    assert f.dtype == jnp.float32 and f.shape == (shape[-1],) * 2
    np.testing.assert_allclose(f, ref_correlation(xf), atol=2e-5)
    np.testing.assert_allclose(mfd_loss(jnp.asarray(xf)), ref_loss(xf), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mean_abs_correlation(jnp.asarray(xf)), ref_mean_abs(xf),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
def test_float64_matches_reference(shape, x64):
    x = _data(shape, seed=1)
    f = feature_correlation(jnp.asarray(x))
    assert f.dtype == jnp.float64
    np.testing.assert_allclose(f, ref_correlation(x), atol=1e-12)
    np.testing.assert_allclose(mfd_loss(jnp.asarray(x)), ref_loss(x), rtol=1e-12)
    np.testing.assert_allclose(mean_abs_correlation(jnp.asarray(x)), ref_mean_abs(x), rtol=1e-12)


@pytest.mark.parametrize("shape,dtype", [(SHAPES[0], jnp.bfloat16), (SHAPES[1], jnp.bfloat16),
                                         (SHAPES[2], jnp.float16)])
def test_half_precision_computed_in_float32(shape, dtype):
    x = jnp.asarray(_data(shape, seed=2), dtype)
    ref_in = np.asarray(x.astype(jnp.float32))  # the values the half array really holds
    f = feature_correlation(x)
    assert f.dtype == jnp.float32
    np.testing.assert_allclose(f, ref_correlation(ref_in), atol=3e-2)
    loss = mfd_loss(x)
    assert loss.dtype == jnp.float32
    np.testing.assert_allclose(loss, ref_loss(ref_in), rtol=3e-2, atol=3e-3)
    g = _grad(x)
    assert g.dtype == dtype and bool(jnp.all(jnp.isfinite(g.astype(jnp.float32))))
    g32 = _grad(jnp.asarray(ref_in))
    scale = float(jnp.max(jnp.abs(g32)))
    np.testing.assert_allclose(np.asarray(g.astype(jnp.float32)), g32, atol=5e-2 * scale)


def test_float16_gradient_does_not_underflow():
    # 64 channels with large variance: dL/dG ~ 1 / (C (C-1) G_ii) is far below
    # float16's smallest normal; the gradient must still match float32's.
    x = jnp.asarray(_data((8, 4, 64), seed=12, dead=False), jnp.float16)
    g16 = _grad(x).astype(jnp.float32)
    g32 = _grad(x.astype(jnp.float32))
    assert float(jnp.max(jnp.abs(g16))) > 0.0
    # (1% of the largest entry; float16 cotangents of M give ~5% errors here)
    np.testing.assert_allclose(g16, g32, atol=1e-2 * float(jnp.max(jnp.abs(g32))))


def test_docstring_examples():
    results = doctest.testmod(mfd_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert results.attempted >= 3
    assert results.failed == 0


# --------------------------------------------------------------------------- #
# Gradients
# --------------------------------------------------------------------------- #


def _grad_cases():
    rng = np.random.default_rng(3)
    x2 = rng.standard_normal((5, 4)) @ (np.eye(4) + 0.5 * rng.standard_normal((4, 4)))
    x4 = rng.standard_normal((3, 2, 2, 3))
    x3 = rng.standard_normal((4, 3, 3)) + 1.0
    # A list of maps of one forward pass: one batch size, three shapes.
    x4b = rng.standard_normal((5, 2, 2, 3))
    x3b = rng.standard_normal((5, 3, 3)) + 1.0
    return {
        "feature_correlation": (feature_correlation, (x2,), 2),
        "mfd_loss": (mfd_loss, (x4,), 2),
        "mfd_loss_list": (lambda a, b, c: mfd_loss([a, b, c]), (x2, x4b, x3b), 2),
        "mfd_loss_dict_stacked": (lambda a, b: mfd_loss({"s": a, "t": (b, b * b)}),
                                  (x3, x3 + 0.3), 1),
        "mean_abs_correlation": (mean_abs_correlation, (x2,), 2),
        "reference": (lambda a: mfd_loss(a, variant="reference")
                      + jnp.sum(feature_correlation(a, variant="reference") ** 3), (x3,), 1),
    }


@pytest.mark.slow
@pytest.mark.parametrize("case", list(_grad_cases()))
def test_check_grads_float64(case, x64):
    fn, args, order = _grad_cases()[case]
    # jit: check_grads then compiles each derivative once instead of running
    # op by op (several times faster); the derivatives checked are the same.
    check_grads(jax.jit(fn), args, order=order, modes=("fwd", "rev"))


def test_jvp_matches_vjp():
    x = jnp.asarray(_data((4, 3, 3, 6), seed=4), jnp.float32)
    v = jax.random.normal(jax.random.key(0), x.shape)
    _, jv = jax.jit(lambda a, t: jax.jvp(mfd_loss, (a,), (t,)))(x, v)
    g = _grad(x)
    np.testing.assert_allclose(jv, jnp.vdot(g, v), rtol=1e-4, atol=1e-7)


def test_dead_channels_value_and_gradient():
    x = jnp.asarray(_data((6, 3, 2, 5), seed=5), jnp.float32)  # channel 1 = 2.7, 3 = 0
    f = feature_correlation(x)
    for dead in (1, 3):
        np.testing.assert_array_equal(f[dead], 0.0)
        np.testing.assert_array_equal(f[:, dead], 0.0)
    alive = [0, 2, 4]
    np.testing.assert_array_equal(np.diag(f)[alive], 1.0)
    for fn in (mfd_loss, mean_abs_correlation, lambda a: jnp.sum(feature_correlation(a) ** 3)):
        g = jax.jit(jax.grad(fn))(x)
        assert bool(jnp.all(jnp.isfinite(g)))
        np.testing.assert_array_equal(g[..., 1], 0.0)
        np.testing.assert_array_equal(g[..., 3], 0.0)
    # Dropping the dead channels changes only the normalisation C (C - 1).
    c, ca = 5, 3
    np.testing.assert_allclose(mfd_loss(x) * c * (c - 1),
                               mfd_loss(x[..., alive]) * ca * (ca - 1), rtol=1e-6)


def test_all_channels_dead_and_rounding_level_variance():
    x = jnp.full((7, 4, 3), 0.1, jnp.float32)  # mean of 7 x 0.1 is not exactly 0.1 in f32
    assert float(mfd_loss(x)) == 0.0
    np.testing.assert_array_equal(feature_correlation(x), 0.0)
    g = jax.grad(mfd_loss)(x)
    np.testing.assert_array_equal(g, 0.0)
    # dead_tol=0 counts only exactly-zero centred energy as dead.
    z = jnp.zeros((4, 3), jnp.float32)
    np.testing.assert_array_equal(feature_correlation(z, dead_tol=0.0), 0.0)


def authors_correlation(a) -> np.ndarray:
    """The authors' PyTorch MFD code, transcribed to float64 NumPy (independent of mfdjax).

    Per map: centre each channel by its per-position batch mean, G = X^T X / P with
    X flattened to (B*P, C), n_i = sqrt(G_ii) (the 1/P-scaled norm) and
    F_ij = G_ij / max(n_i n_j, 1e-12).
    """
    a = np.asarray(a, np.float64)
    b, c = a.shape[0], a.shape[-1]
    x = a.reshape(b, -1, c)
    p = x.shape[1]
    x = (x - x.mean(axis=0, keepdims=True)).reshape(-1, c)
    g = x.T @ x / p
    n = np.sqrt(np.diag(g))
    return g / np.maximum(n[:, None] * n[None, :], 1e-12)


def authors_loss(a) -> float:
    f = authors_correlation(a)
    c = f.shape[0]
    return float(np.sum(np.where(np.eye(c, dtype=bool), 0.0, f * f)) / (c * (c - 1)))


def _clamped_input(seed=0):
    """(8, 2, 2, 3): channel 0 scaled by 1e-4, channel 1 = channel 0 + 1e-5 noise.

    n_0 n_1 is ~1e-9 (above the authors' 1e-12 floor) and n_0 n_0 ~1e-8; scaling the
    whole map by 1e-3 more puts the (0, 1) pair into the clamped regime.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((8, 2, 2, 3))
    x[..., 0] *= 1e-4
    x[..., 1] = x[..., 0] + 1e-5 * rng.standard_normal((8, 2, 2))
    return x


REFERENCE_INPUTS = {
    "issue": _clamped_input(),
    "partly_clamped": _clamped_input(1) * np.array([1e-3, 1e-3, 1.0]),
    "all_clamped": _clamped_input(2) * 1e-5,
    "zero_channel": _data((6, 3, 2, 5), seed=6, dead=False) * np.array([1, 1, 0, 1, 1]),
    "plain": _data((6, 3, 2, 5), seed=6, dead=False),
}


@pytest.mark.parametrize("name", list(REFERENCE_INPUTS))
def test_reference_variant_is_the_authors_formula(name, x64):
    x = REFERENCE_INPUTS[name]
    want_f, want = authors_correlation(x), authors_loss(x)
    xs = jnp.asarray(x)
    np.testing.assert_allclose(feature_correlation(xs, variant="reference"), want_f,
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(mfd_loss(xs, variant="reference"), want, rtol=1e-9, atol=1e-15)
    # float32: the same up to float32 rounding (the authors' code runs in float32).
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(mfd_loss(jnp.asarray(x32), variant="reference"),
                               authors_loss(x32), rtol=2e-4, atol=1e-7)


def test_reference_variant_issue_numbers_and_gradient(x64):
    x = _clamped_input()
    # The 0.331 vs 0.0046 of the bug report (the old code floored n_i n_j at 1e-6).
    assert authors_loss(x) > 0.3
    np.testing.assert_allclose(mfd_loss(jnp.asarray(x, jnp.float32), variant="reference"),
                               authors_loss(x), rtol=1e-4)
    # Gradient against central differences of the transcription, in the clamped regime.
    xc = REFERENCE_INPUTS["partly_clamped"]
    g = np.asarray(jax.grad(lambda a: mfd_loss(a, variant="reference"))(jnp.asarray(xc)))
    rng = np.random.default_rng(0)
    for _ in range(6):
        v = rng.standard_normal(xc.shape) * np.abs(xc).max(axis=(0, 1, 2))
        h = 1e-6
        fd = (authors_loss(xc + h * v) - authors_loss(xc - h * v)) / (2 * h)
        np.testing.assert_allclose(np.sum(g * v), fd, rtol=1e-5, atol=1e-9)


def test_dead_channel_threshold_is_the_rounding_error_of_the_centring():
    rng = np.random.default_rng(13)
    base = rng.standard_normal((8, 3, 2)).astype(np.float32)
    base[..., 1] = 3000.0 + base[..., 0]  # ulp(3000) = 2.4e-4: the unit spread is real
    x = jnp.asarray(base)
    np.testing.assert_allclose(mfd_loss(x), 1.0, rtol=1e-5)
    np.testing.assert_allclose(feature_correlation(x), np.ones((2, 2)), rtol=1e-5)
    # Same with a float64 offset 1e6: spread 1, ulp(1e6) = 1.2e-10.
    with jax.enable_x64(True):
        b64 = rng.standard_normal((8, 3, 2))
        b64[..., 1] = 1e6 + 0.5 * b64[..., 0]
        np.testing.assert_allclose(mfd_loss(jnp.asarray(b64)), 1.0, rtol=1e-9)
    # Constant channels whose mean is not exact in float32 stay dead at any offset.
    for value in (0.1, 3000.1, 7e30, 3e-30):
        y = base.copy()
        y[..., 1] = value
        f = feature_correlation(jnp.asarray(y))
        np.testing.assert_array_equal(np.asarray(f)[1], 0.0)
        g = jax.jit(jax.grad(mfd_loss))(jnp.asarray(y))
        np.testing.assert_array_equal(np.asarray(g)[..., 1], 0.0)


def _per_channel_max_one(shape, seed):
    """Maps with channel 0 at +-1 (its centred values reach ~1.5 x max), others in [-1, 1]."""
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(shape)
    y[..., 0] = np.where(y[..., 0] > -0.5, 1.0, -1.0)
    return y / np.abs(y).max(axis=tuple(range(y.ndim - 1)))


@pytest.mark.parametrize("dtype,top", [(jnp.float32, 1e20), (jnp.float32, 3.3e38),
                                       (jnp.float16, 65000.0), (jnp.bfloat16, 3.3e38),
                                       (jnp.float32, 1e-30)])
def test_huge_and_tiny_maps_give_the_scale_invariant_answer(dtype, top):
    y = _per_channel_max_one((8, 4, 3), seed=14)
    x = jnp.asarray(y * top, dtype)
    held = np.asarray(x.astype(jnp.float32), np.float64)  # the values x really holds
    assert np.all(np.isfinite(held))
    want = ref_loss(held / top)
    # Half maps enter the Gram in their own dtype (3 significant digits).
    tol = 1e-4 if dtype == jnp.float32 else 3e-2
    np.testing.assert_allclose(mfd_loss(x), want, rtol=tol)
    np.testing.assert_allclose(feature_correlation(x), ref_correlation(held / top),
                               atol=10 * tol)
    g = np.asarray(jax.jit(jax.grad(mfd_loss))(x).astype(jnp.float32), np.float64)
    g_unit = np.asarray(_grad(jnp.asarray(held / top, jnp.float32)), np.float64)
    # d L(t x) / dx = (1/t) dL/dx: the gradient scales back (where 1/t is a normal
    # float32: at t = 3e38 it is subnormal and at 1e-30 fine but ~1e30).
    if dtype == jnp.float32 and top == 1e20:
        np.testing.assert_allclose(g * top, g_unit, rtol=1e-3,
                                   atol=1e-5 * np.abs(g_unit).max())
    assert np.all(np.isfinite(g))


# --------------------------------------------------------------------------- #
# Invariances and properties
# --------------------------------------------------------------------------- #


def test_symmetry_unit_diagonal_and_range():
    x = jnp.asarray(_data((8, 2, 3, 7), seed=7, dead=False), jnp.float32)
    f = feature_correlation(x)
    np.testing.assert_array_equal(f, f.T)
    np.testing.assert_array_equal(jnp.diag(f), 1.0)
    assert float(jnp.max(jnp.abs(f))) <= 1.0 + 1e-6
    assert 0.0 <= float(mfd_loss(x)) <= 1.0


def test_perfectly_correlated_channels_give_one():
    rng = np.random.default_rng(8)
    base = rng.standard_normal((6, 3, 3, 1))
    slopes = np.array([1.0, -2.0, 0.5, 3.0])
    x = jnp.asarray(base * slopes + np.array([0.0, 1.0, -4.0, 2.0]), jnp.float32)
    np.testing.assert_allclose(mfd_loss(x), 1.0, rtol=1e-5)
    np.testing.assert_allclose(jnp.abs(feature_correlation(x)), 1.0, rtol=1e-5)
    np.testing.assert_allclose(mean_abs_correlation(x), 1.0, rtol=1e-5)


def test_channel_permutation_permutes_f():
    x = jnp.asarray(_data((5, 4, 6), seed=9), jnp.float32)
    perm = np.array([3, 0, 5, 1, 4, 2])
    f = feature_correlation(x)
    np.testing.assert_allclose(feature_correlation(x[..., perm]), f[perm][:, perm], atol=1e-6)
    np.testing.assert_allclose(mfd_loss(x[..., perm]), mfd_loss(x), rtol=1e-6)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31 - 1),
       shape=st.sampled_from([(5, 4), (3, 2, 2, 3), (4, 3, 5)]),
       log_scale=st.floats(-3.0, 3.0), shift=st.floats(-10.0, 10.0))
def test_scale_and_shift_invariance_property(seed, shape, log_scale, shift):
    rng = np.random.default_rng(seed)
    x = _data(shape, seed=seed % 1000, dead=False)
    c = shape[-1]
    scales = 10.0 ** (log_scale + rng.uniform(-1, 1, c))  # per-channel positive
    shifts = shift * rng.standard_normal(c)  # per-channel shift
    y = x * scales + shifts
    with jax.enable_x64(True):
        fx = feature_correlation(jnp.asarray(x))
        fy = feature_correlation(jnp.asarray(y))
        np.testing.assert_allclose(fy, fx, atol=1e-9)
        lx, ly = mfd_loss(jnp.asarray(x)), mfd_loss(jnp.asarray(y))
        np.testing.assert_allclose(ly, lx, rtol=1e-8, atol=1e-12)
        assert 0.0 <= float(lx) <= 1.0
        np.testing.assert_allclose(lx, ref_loss(x), rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------- #
# Transformations and containers
# --------------------------------------------------------------------------- #


def test_jit_grad_vmap_equal_plain_calls():
    x = jnp.asarray(_data((3, 4, 2, 5), seed=10), jnp.float32)  # leading axis of 3 maps
    plain = [mfd_loss(x[i]) for i in range(3)]  # un-jitted, op by op
    np.testing.assert_allclose(jax.vmap(mfd_loss)(x), plain, rtol=1e-6)
    np.testing.assert_allclose(_loss(x[0]), plain[0], rtol=1e-6)
    np.testing.assert_allclose(jax.jit(feature_correlation)(x[0]), feature_correlation(x[0]),
                               atol=1e-6)
    np.testing.assert_allclose(jax.jit(jax.vmap(mean_abs_correlation))(x)[2],
                               mean_abs_correlation(x[2]), rtol=1e-6)
    g = jax.grad(mfd_loss)(x[1])
    np.testing.assert_allclose(_grad(x[1]), g, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(jax.jit(jax.vmap(jax.grad(mfd_loss)))(x)[1], g, rtol=1e-5,
                               atol=1e-8)


def test_sequence_and_dict_sum_and_stacked_path_equals_loop(x64):
    rng = np.random.default_rng(11)
    same = [rng.standard_normal((4, 3, 5)) + i for i in range(3)]  # stacked + vmapped
    other = [rng.standard_normal((4, 6))]
    maps = [jnp.asarray(m) for m in same + other]
    singles = sum(float(_loss(m)) for m in maps)
    np.testing.assert_allclose(_loss(maps), singles, rtol=1e-12)
    np.testing.assert_allclose(_loss(tuple(maps)), singles, rtol=1e-12)
    np.testing.assert_allclose(_loss({f"s{i}": m for i, m in enumerate(maps)}), singles,
                               rtol=1e-12)
    np.testing.assert_allclose(singles, sum(ref_loss(m) for m in maps), rtol=1e-10)
    grads = _grad(maps)
    for m, g in zip(maps, grads):
        np.testing.assert_allclose(g, _grad(m), rtol=1e-10, atol=1e-14)
    # Same shape but different dtype are different groups; still the plain sum.
    with_f32 = maps + [maps[0].astype(jnp.float32)]
    np.testing.assert_allclose(_loss(with_f32), singles + float(_loss(maps[0])), rtol=1e-6)


def test_stacking_groups_same_shape_maps():
    """49 same-shape maps must become one vmapped Gram, not 49 separate ones."""
    maps = [jnp.ones((2, 3, 4)) * i for i in range(6)] + [jnp.ones((2, 5))]
    jaxpr = jax.make_jaxpr(mfd_loss)(maps)
    n_calls = str(jaxpr).count("name=_map_loss_core")
    assert n_calls == 2, n_calls


# --------------------------------------------------------------------------- #
# Bad input
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("fn", [feature_correlation, mean_abs_correlation])
def test_bad_single_inputs(fn):
    good = jnp.ones((4, 3))
    with pytest.raises(ValueError, match="`x`.*array"):
        fn([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="`x`.*floating"):
        fn(jnp.ones((4, 3), jnp.int32))
    with pytest.raises(ValueError, match="`x`.*shape"):
        fn(jnp.ones((4,)))
    with pytest.raises(ValueError, match="`x`.*2 channels"):
        fn(jnp.ones((4, 5, 1)))
    with pytest.raises(ValueError, match="`x`.*batch of at least 2"):
        fn(jnp.ones((1, 5, 3)))
    with pytest.raises(ValueError, match="`x`.*non-empty"):
        fn(jnp.ones((4, 0, 3)))
    with pytest.raises(ValueError, match="`variant`"):
        fn(good, variant="pytorch")
    with pytest.raises(ValueError, match="`dead_tol`"):
        fn(good, dead_tol=-1.0)
    with pytest.raises(ValueError, match="`axis_name`"):
        fn(good, axis_name="data")


def test_bad_loss_inputs():
    good = jnp.ones((4, 3))
    with pytest.raises(ValueError, match="`features`.*at least one"):
        mfd_loss([])
    with pytest.raises(ValueError, match="`features`.*at least one"):
        mfd_loss({})
    with pytest.raises(ValueError, match=r"`features\[1\]`.*floating"):
        mfd_loss([good, jnp.ones((4, 3), jnp.int8)])
    with pytest.raises(ValueError, match=r"`features\['b'\]`.*batch of at least 2"):
        mfd_loss({"a": good, "b": jnp.ones((1, 3))})
    with pytest.raises(ValueError, match="`features`.*array"):
        mfd_loss("stage0")
    with pytest.raises(ValueError, match="`variant`"):
        mfd_loss(good, variant="")
