"""W-Softmax (Li and Wang, "Learning Discriminative Features Via Weights-biased Softmax
Loss", section 4): every stated property, against float64 NumPy built from the formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from jax.test_util import check_grads

import mfdjax.losses as M

B, K, D = 6, 5, 4


def np_ce(logits, labels):
    mx = logits.max(-1, keepdims=True)
    return np.log(np.exp(logits - mx).sum(-1)) + mx[:, 0] - logits[np.arange(len(labels)), labels]


def np_biased_weights(w, y, alpha):
    """(B, K, D) w~ from the formula: w~_j = (w^_j + alpha w^_y) / ||.||, w~_y = w^_y."""
    wn = np.asarray(w, np.float64)
    wn = wn / np.linalg.norm(wn, axis=1, keepdims=True)
    out = np.empty((len(y),) + wn.shape)
    for i, yi in enumerate(y):
        for j in range(wn.shape[0]):
            v = wn[yi] if j == yi else wn[j] + alpha * wn[yi]
            out[i, j] = v / np.linalg.norm(v)
    return out


def np_w_softmax(x, w, y, alpha):
    """Direct float64 reference: build w~ for every sample, then softmax CE."""
    x = np.asarray(x, np.float64)
    wn = np.asarray(w, np.float64)
    wn = wn / np.linalg.norm(wn, axis=1, keepdims=True)
    logits = np.empty((len(y), wn.shape[0]))
    for i, yi in enumerate(y):
        for j in range(wn.shape[0]):
            if j == yi:
                wt = wn[yi]
            else:
                v = wn[j] + alpha * wn[yi]
                wt = v / np.linalg.norm(v)
            logits[i, j] = wt @ x[i]
    return np_ce(logits, y)


def data(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, D)) * 2.0
    w = rng.normal(size=(K, D)) * rng.uniform(0.5, 2.0, size=(K, 1))
    y = np.array([0, 1, 2, 3, 4, 1], np.int32)
    return x.astype(dtype), w.astype(dtype), y


def _angle(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    c = np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.arccos(np.clip(c, -1, 1))


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 1.5, 7.0])
def test_matches_direct_reference(alpha, x64):
    for seed in range(2):
        x, w, y = data(seed)
        out = M.w_softmax_loss(jnp.asarray(x), jnp.asarray(y), jnp.asarray(w), alpha=alpha)
        assert out.shape == (B,) and out.dtype == jnp.float64
        np.testing.assert_allclose(out, np_w_softmax(x, w, y, alpha), rtol=1e-11, atol=1e-12)
        # The explicit (B, K, D) weights are the formula's.
        wt = M.w_softmax_weights(jnp.asarray(y), jnp.asarray(w), alpha=alpha)
        np.testing.assert_allclose(wt, np_biased_weights(w, y, alpha), rtol=1e-12, atol=1e-14)


def test_alpha_zero_is_normalised_weight_softmax(x64):
    x, w, y = data(2)
    wn = w / np.linalg.norm(w, axis=1, keepdims=True)
    out = M.w_softmax_loss(jnp.asarray(x), jnp.asarray(y), jnp.asarray(w), alpha=0.0)
    np.testing.assert_allclose(out, np_ce(x @ wn.T, y), rtol=1e-12)
    # Not the unnormalised softmax (the weights have different norms).
    assert not np.allclose(out, np_ce(x @ w.T, y))
    # Feature scale is NOT normalised away.
    out2 = M.w_softmax_loss(jnp.asarray(3 * x), jnp.asarray(y), jnp.asarray(w), alpha=0.0)
    np.testing.assert_allclose(out2, np_ce(3 * x @ wn.T, y), rtol=1e-12)


def test_weight_scale_invariance_and_positive_unchanged(x64):
    x, w, y = data(3)
    scaled = w * np.arange(1, K + 1)[:, None]
    np.testing.assert_allclose(
        M.w_softmax_loss(jnp.asarray(x), jnp.asarray(y), jnp.asarray(scaled), alpha=1.0),
        M.w_softmax_loss(jnp.asarray(x), jnp.asarray(y), jnp.asarray(w), alpha=1.0), rtol=1e-12)
    wt = np.asarray(M.w_softmax_weights(jnp.asarray(y), jnp.asarray(w), alpha=1.5))
    wn = w / np.linalg.norm(w, axis=1, keepdims=True)
    np.testing.assert_allclose(wt[np.arange(B), y], wn[y], rtol=1e-12)   # w_y unchanged
    np.testing.assert_allclose(np.linalg.norm(wt, axis=-1), 1.0, rtol=1e-12)  # unit rows


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), alpha=st.floats(0.01, 20.0))
def test_biased_weight_lies_in_the_angle(seed, alpha):
    """w~_j = a w_j + b w_y with a, b > 0, and angle(w~_j, w_y) < angle(w_j, w_y)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(K, D)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 4, 0], np.int32)
    wt = np.asarray(M.w_softmax_weights(jnp.asarray(y), jnp.asarray(w), alpha=alpha), np.float64)
    wn = w / np.linalg.norm(w, axis=1, keepdims=True)
    for i, yi in enumerate(y):
        for j in range(K):
            if j == yi:
                continue
            basis = np.stack([wn[j], wn[yi]], 1)                     # (D, 2)
            coef, *_ = np.linalg.lstsq(basis, wt[i, j], rcond=None)
            np.testing.assert_allclose(basis @ coef, wt[i, j], atol=2e-5)  # in the span
            assert coef[0] > 0 and coef[1] > 0                        # inside the cone
            np.testing.assert_allclose(coef[1] / coef[0], alpha, rtol=1e-3)
            a_new, a_old = _angle(wt[i, j], wn[yi]), _angle(wn[j], wn[yi])
            assert a_new < a_old + 1e-6
            np.testing.assert_allclose(_angle(wt[i, j], wn[j]) + a_new, a_old, atol=1e-3)


def test_angle_to_positive_decreases_monotonically_and_tends_to_zero(x64):
    rng = np.random.default_rng(4)
    w = rng.normal(size=(K, D))
    y = np.array([2], np.int32)
    alphas = np.array([0.0, 0.25, 0.5, 1.0, 1.5, 3.0, 10.0, 100.0, 1e4])
    angles = []
    for a in alphas:
        wt = np.asarray(M.w_softmax_weights(jnp.asarray(y), jnp.asarray(w), alpha=float(a)))[0]
        angles.append(_angle(wt, wt[2]))                          # (K,), 0 at j = y
    angles = np.array(angles)                                     # (len(alphas), K)
    others = [j for j in range(K) if j != 2]
    assert np.all(np.diff(angles[:, others], axis=0) < 0)
    assert np.all(angles[-1, others] < 1e-3)                      # w~_j -> w_y
    np.testing.assert_allclose(angles[0], _angle(w, w[2]), atol=1e-12)  # alpha = 0: unchanged
    # Closed form: for unit w_j, w_y at angle phi, tan(angle) = sin phi / (alpha + cos phi).
    phi = _angle(w, w[2])[others]
    expect = np.arctan2(np.sin(phi), alphas[:, None] + np.cos(phi))
    np.testing.assert_allclose(angles[:, others], expect, atol=1e-10)


def test_training_boundary_is_bisector(x64):
    """Points on the bisector hyperplane of w_y and w~_j give f_y = f_j."""
    rng = np.random.default_rng(5)
    w = rng.normal(size=(K, D))
    y = np.full(B, 1, np.int32)
    alpha = 1.0
    wt = np_biased_weights(w, y[:1], alpha)[0]  # from the formula, not from mfdjax
    for j in (0, 3):
        normal = wt[1] - wt[j]                  # bisector of unit w_y, w~_j: (w_y - w~_j).x = 0
        x = rng.normal(size=(B, D))
        x -= np.outer(x @ normal, normal) / (normal @ normal)
        x *= rng.uniform(0.5, 3.0, size=(B, 1))
        # On that plane f_y = f_j: the two-class problem {y, j} has loss exactly log 2.
        two = np.asarray(M.w_softmax_loss(jnp.asarray(x), jnp.ones(B, jnp.int32),
                                          jnp.asarray(w[[j, 1]]), alpha=alpha))
        np.testing.assert_allclose(two, np.log(2.0), rtol=1e-11)
        # Off the plane the sign of (f_y - f_j) follows the side, f_y - f_j = normal . x.
        off = x + np.outer(rng.uniform(0.1, 1.0, B), normal)
        two = np.asarray(M.w_softmax_loss(jnp.asarray(off), jnp.ones(B, jnp.int32),
                                          jnp.asarray(w[[j, 1]]), alpha=alpha))
        np.testing.assert_allclose(two, np.log1p(np.exp(-(off @ normal))), rtol=1e-10)
        # ... and that bisector is tilted towards w_y: on it, the test-time logit of y wins.
        test_logits = np.asarray(M.w_softmax_logits(jnp.asarray(x), jnp.asarray(w)))
        on_side = (x @ wt[1]) > 0
        assert on_side.any()
        assert np.all(test_logits[on_side, 1] > test_logits[on_side, j])


def test_margin_grows_with_alpha_in_two_classes(x64):
    """2-D, 2 classes: the training boundary of class 0 rotates towards w_0 as alpha grows."""
    w = np.array([[1.0, 0.0], [0.0, 1.0]])
    th = np.linspace(0.0, np.pi / 2, 20001)
    x = np.stack([np.cos(th), np.sin(th)], 1)
    y = np.zeros(len(th), np.int32)
    boundaries = []
    for alpha in (0.0, 0.5, 1.0, 1.5):
        loss = np.asarray(M.w_softmax_loss(jnp.asarray(x), jnp.asarray(y), jnp.asarray(w),
                                           alpha=alpha))
        boundaries.append(th[np.argmin(np.abs(loss - np.log(2.0)))])  # f_0 = f_1 <=> loss = log 2
    boundaries = np.array(boundaries)
    np.testing.assert_allclose(boundaries[0], np.pi / 4, atol=1e-3)  # plain bisector
    assert np.all(np.diff(boundaries) < 0)
    # Predicted: half the angle between w_0 and w~_1 = arctan(1 / alpha) / 2.
    expect = np.arctan2(1.0, np.array([0.0, 0.5, 1.0, 1.5])) / 2
    np.testing.assert_allclose(boundaries, expect, atol=1e-3)


def test_test_time_logits(x64):
    x, w, y = data(6)
    wn = w / np.linalg.norm(w, axis=1, keepdims=True)
    out = M.w_softmax_logits(jnp.asarray(x), jnp.asarray(w))
    np.testing.assert_allclose(out, x @ wn.T, rtol=1e-12)
    np.testing.assert_allclose(M.w_softmax_loss(jnp.asarray(x), jnp.asarray(y), jnp.asarray(w),
                                                alpha=0.0), np_ce(x @ wn.T, y), rtol=1e-12)
    with pytest.raises(ValueError, match="weights"):
        M.w_softmax_logits(jnp.asarray(x), jnp.asarray(w[:, :-1]))


def test_large_alpha_limit_is_log_k(x64):
    # alpha -> inf: every w~_j -> w_y, all logits equal w_y . x, the loss -> log K.
    x, w, y = data(7)
    out = M.w_softmax_loss(jnp.asarray(x), jnp.asarray(y), jnp.asarray(w), alpha=1e7)
    np.testing.assert_allclose(out, np.log(K), atol=1e-5)


@pytest.mark.slow
def test_check_grads(x64):
    x, w, y = data(8)
    check_grads(lambda a, b: M.w_softmax_loss(a, jnp.asarray(y), b, alpha=1.0),
                (jnp.asarray(x), jnp.asarray(w)), order=2, modes=("fwd", "rev"))


def test_degenerate_antipodal_and_zero_feature():
    # K = 2 regular simplex: w_1 = -w_0; with alpha = 1 the biased weight is the zero vector.
    w = jnp.array([[1.0, 0.0], [-1.0, 0.0]])
    x = jnp.array([[0.5, 0.2], [0.0, 0.0]])
    y = jnp.array([0, 1])
    val, grads = jax.value_and_grad(
        lambda a, b: M.w_softmax_loss(a, y, b, alpha=1.0).sum(), argnums=(0, 1))(x, w)
    # Bounds, not just finiteness: logits are unit-weight projections, so each row's
    # feature gradient has norm <= 2; the weight gradient is bounded by 2 (1 + alpha)
    # max ||x|| / ||w_j|| (unit w here).
    assert np.isfinite(val)
    assert float(jnp.max(jnp.linalg.norm(grads[0], axis=1))) <= 2.0
    assert float(jnp.max(jnp.abs(grads[1]))) <= 2.0 * 2.0 * float(jnp.max(jnp.abs(x))) + 1e-6
    logits_expected = np.array([[0.5, 0.0], [0.0, 0.0]])  # f_j = 0 for the zero direction
    np.testing.assert_allclose(M.w_softmax_loss(x, y, w, alpha=1.0),
                               np_ce(logits_expected, np.array([0, 1])), rtol=1e-6)
    w0 = w.at[1].set(0.0)  # a zero class weight: its (frozen) row gets no gradient
    val, g = jax.value_and_grad(lambda b: M.w_softmax_loss(x, y, b, alpha=0.5).sum())(w0)
    assert np.isfinite(val)
    np.testing.assert_array_equal(g[1], 0.0)
    assert float(jnp.max(jnp.abs(g))) <= 2.0 * 1.5 * float(jnp.max(jnp.abs(x)))


def test_jit_vmap_traced_alpha_and_bf16():
    x, w, y = (jnp.asarray(a) for a in data(9, np.float32))
    eager = M.w_softmax_loss(x, y, w, alpha=1.0)
    f = jax.jit(lambda a, b, lab, al: M.w_softmax_loss(a, lab, b, alpha=al))
    np.testing.assert_allclose(f(x, w, y, 1.0), eager, rtol=1e-5, atol=1e-6)
    vm = jax.vmap(lambda al: M.w_softmax_loss(x, y, w, alpha=al))(jnp.array([0.0, 1.0]))
    np.testing.assert_allclose(vm[1], eager, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vm[0], M.w_softmax_loss(x, y, w, alpha=0.0), rtol=1e-5, atol=1e-6)
    g1 = jax.grad(lambda b: M.w_softmax_loss(x, y, b, alpha=1.0).mean())(w)
    g2 = jax.jit(jax.grad(lambda b: M.w_softmax_loss(x, y, b, alpha=1.0).mean()))(w)
    np.testing.assert_allclose(g1, g2, rtol=1e-4, atol=1e-6)
    xb, wb = x.astype(jnp.bfloat16), w.astype(jnp.bfloat16)
    out = M.w_softmax_loss(xb, y, wb, alpha=1.0)
    assert out.dtype == jnp.float32
    # Computed in float32 from the values bf16 holds: the float64 formula of those values.
    held = [np.asarray(a.astype(jnp.float32), np.float64) for a in (xb, wb)]
    np.testing.assert_allclose(out, np_w_softmax(*held, np.asarray(y), 1.0), rtol=1e-5,
                               atol=1e-6)


def test_bad_input():
    x, w, y = (jnp.asarray(a) for a in data(10, np.float32))
    with pytest.raises(ValueError, match="alpha"):
        M.w_softmax_loss(x, y, w, alpha=-0.5)
    with pytest.raises(ValueError, match="alpha"):
        M.w_softmax_weights(y, w, alpha=float("inf"))
    with pytest.raises(TypeError):
        M.w_softmax_loss(x, y, w)  # alpha is keyword-only and required
    with pytest.raises(ValueError, match="labels"):
        M.w_softmax_weights(y.astype(jnp.float32), w, alpha=1.0)
    with pytest.raises(ValueError, match="labels"):
        M.w_softmax_weights(y[:, None], w, alpha=1.0)
    with pytest.raises(ValueError, match="weights"):
        M.w_softmax_loss(x, jnp.zeros_like(y), w[:1], alpha=1.0)


def test_min_fc_units_simplex_rank():
    from mfdjax.pedcc import pedcc
    for k in (2, 3, 10, 100):
        n = M.min_fc_units(k)
        assert n == k - 1
        # K equiangular unit vectors exist in R^n (an explicit regular simplex, checked
        # through its inner products) ...
        p = pedcc(k, n, seed=0)
        np.testing.assert_allclose(p @ p.T, np.where(np.eye(k, dtype=bool), 1.0, -1.0 / (k - 1)),
                                   atol=1e-10)
    # ... and not in R^(K-2): the best K points there (the physical model of pedcc,
    # an independent construction) have some pair closer than -1/(K-1).
    for k in (4, 6):
        q = pedcc(k, M.min_fc_units(k) - 1, seed=0)
        off = (q @ q.T)[~np.eye(k, dtype=bool)]
        assert off.max() > -1.0 / (k - 1) + 1e-3
    for bad in (1, 0, 2.0, True):
        with pytest.raises(ValueError, match="num_classes"):
            M.min_fc_units(bad)
