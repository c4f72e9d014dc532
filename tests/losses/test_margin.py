"""Tests for the softmax-family losses, Center loss and COT (mfdjax/losses/: softmax.py,
cosine_margin.py, l_softmax.py, center.py, cot.py).

References are float64 NumPy written from each paper's equation (with arccos,
unlike the implementation, which avoids it).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, PartitionSpec as P
from jax.test_util import check_grads

import mfdjax.losses as M

B, K, D = 6, 5, 4


# --------------------------------------------------------------------------- #
# NumPy references
# --------------------------------------------------------------------------- #
def np_ce(logits, labels):
    logits = np.asarray(logits, np.float64)
    mx = logits.max(-1, keepdims=True)
    lse = np.log(np.exp(logits - mx).sum(-1)) + mx[:, 0]
    return lse - logits[np.arange(len(labels)), labels]


def np_cos(x, w):
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    wn = w / np.linalg.norm(w, axis=1, keepdims=True)
    return np.clip(xn @ wn.T, -1, 1)


def np_margin(x, w, y, s, target_fn):
    cos = np_cos(x, w)
    logits = cos.copy()
    idx = np.arange(len(y))
    logits[idx, y] = target_fn(cos[idx, y])
    return np_ce(s * logits, y)


def np_am(x, w, y, s=30.0, m=0.35):
    return np_margin(x, w, y, s, lambda c: c - m)


def np_arcface(x, w, y, s=64.0, m=0.5, overflow="insightface"):
    def target(c):
        th = np.arccos(c)
        psi = np.cos(th + m)
        if overflow == "insightface":
            psi = np.where(th + m < np.pi, psi, c - m * np.sin(m))
        elif overflow == "easy_margin":
            psi = np.where(c > 0, psi, c)
        return psi
    return np_margin(x, w, y, s, target)


def np_combined(x, w, y, s=64.0, m1=0.9, m2=0.4, m3=0.15):
    return np_margin(x, w, y, s, lambda c: np.cos(m1 * np.arccos(c) + m2) - m3)


def np_lsoftmax(x, w, y, m=2, lam=0.0):
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    logits = x @ w.T
    idx = np.arange(len(y))
    nx = np.linalg.norm(x, axis=1)
    nw = np.linalg.norm(w[y], axis=1)
    th = np.arccos(np.clip(logits[idx, y] / (nx * nw), -1, 1))
    k = np.minimum(np.floor(m * th / np.pi), m - 1)
    psi = (-1.0) ** k * np.cos(m * th) - 2 * k
    logits[idx, y] = (lam * logits[idx, y] + nx * nw * psi) / (1 + lam)
    return np_ce(logits, y)


def np_complement_entropy(logits, y):
    logits = np.asarray(logits, np.float64)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    out = []
    for i, yi in enumerate(y):
        q = np.delete(p[i], yi) / (1 - p[i, yi])
        out.append(-np.sum(q * np.log(q)))
    return np.array(out)


def data(seed=0, b=B, k=K, d=D, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(b, d)) * rng.uniform(0.5, 3.0, size=(b, 1))
    w = rng.normal(size=(k, d)) * rng.uniform(0.5, 2.0, size=(k, 1))
    y = rng.integers(0, k, size=b)
    y[:k] = np.arange(min(k, b))
    return x.astype(dtype), w.astype(dtype), y.astype(np.int32)


MARGIN_CASES = {
    "am": (M.am_softmax_loss, np_am, {}),
    "am_s5_m02": (M.am_softmax_loss, np_am, dict(scale=5.0, margin=0.2)),
    "arcface": (M.arcface_loss, np_arcface, {}),
    "arcface_s8_m03": (M.arcface_loss, np_arcface, dict(scale=8.0, margin=0.3)),
    "arcface_easy": (M.arcface_loss, np_arcface, dict(overflow="easy_margin", scale=4.0)),
    "arcface_none": (M.arcface_loss, np_arcface, dict(overflow="none", scale=4.0)),
    "combined": (M.combined_margin_loss, np_combined, {}),
    "combined_s4": (M.combined_margin_loss, np_combined, dict(scale=4.0, m1=1.2, m2=0.1, m3=0.3)),
    "combined_m1_1": (M.combined_margin_loss, np_combined, dict(scale=4.0, m1=1.0, m2=0.3, m3=0.2)),
}
_REF_KW = {"scale": "s", "margin": "m"}


def _ref_kwargs(kw):
    return {_REF_KW.get(k, k): v for k, v in kw.items()}


def _kinks_far(loss_name, x, w, y, kw):
    """True if no target angle is near a non-differentiable point of psi."""
    c = np_cos(x, w)[np.arange(len(y)), y]
    th = np.arccos(c)
    if loss_name.startswith("arcface"):
        m = kw.get("margin", 0.5)
        if kw.get("overflow", "insightface") == "insightface":
            return np.all(np.abs(th - (np.pi - m)) > 1e-2)
        if kw.get("overflow") == "easy_margin":
            return np.all(np.abs(c) > 1e-2)
    return True


# --------------------------------------------------------------------------- #
# Margin losses
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", sorted(MARGIN_CASES))
def test_margin_matches_numpy_reference(name, x64):
    fn, ref, kw = MARGIN_CASES[name]
    for seed in range(3):
        x, w, y = data(seed)
        out = fn(jnp.asarray(x), jnp.asarray(y), jnp.asarray(w), **kw)
        assert out.shape == (B,) and out.dtype == jnp.float64
        np.testing.assert_allclose(out, ref(x, w, y, **_ref_kwargs(kw)), rtol=1e-10, atol=1e-10)


def test_arcface_overflow_region_is_covered(x64):
    # Targets with theta + m > pi exercise the insightface / easy_margin branches.
    x = np.array([[-1.0, 0.05], [1.0, 0.1], [-0.3, 1.0]])
    w = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    y = np.array([0, 0, 0], np.int32)
    th = np.arccos(np_cos(x, w)[:, 0])
    assert (th > np.pi - 0.5).any() and (th < np.pi - 0.5).any()
    for overflow in ("insightface", "easy_margin", "none"):
        out = M.arcface_loss(jnp.asarray(x), jnp.asarray(y), jnp.asarray(w), scale=3.0,
                             overflow=overflow)
        np.testing.assert_allclose(out, np_arcface(x, w, y, s=3.0, overflow=overflow),
                                   rtol=1e-10)
    raw = M.arcface_loss(jnp.asarray(x), jnp.asarray(y), jnp.asarray(w), scale=3.0,
                         overflow="none")
    fixed = M.arcface_loss(jnp.asarray(x), jnp.asarray(y), jnp.asarray(w), scale=3.0)
    # In the overflow region the raw cos(theta + m) is larger (loss smaller) than the fix.
    assert fixed[0] > raw[0] and np.isclose(fixed[1], raw[1])


def test_arcface_insightface_psi_monotone(x64):
    # The target logit psi(theta) must decrease over the whole of [0, pi].
    th = np.linspace(0.0, np.pi, 2001)
    x = np.stack([np.cos(th), np.sin(th)], 1)
    w = np.array([[1.0, 0.0], [0.0, 1.0]])
    y = np.zeros(len(th), np.int32)
    loss = np.asarray(M.arcface_loss(jnp.asarray(x), jnp.asarray(y), jnp.asarray(w), scale=1.0))
    # Loss increases as the target logit decreases; the other logit changes too,
    # so check psi directly from the two-class loss: psi = cos(theta_1) - softplus^-1(loss).
    psi = np.sin(th) - np.log(np.expm1(loss))
    assert np.all(np.diff(psi) < 1e-12)


@pytest.mark.parametrize("fn,kw", [
    (M.am_softmax_loss, dict(margin=0.0)),
    (M.arcface_loss, dict(margin=0.0)),
    (M.combined_margin_loss, dict(m1=1.0, m2=0.0, m3=0.0)),
])
@pytest.mark.parametrize("scale", [1.0, 7.5])
def test_zero_margin_is_normalised_scaled_softmax(fn, kw, scale, x64):
    x, w, y = data(3)
    out = fn(jnp.asarray(x), jnp.asarray(y), jnp.asarray(w), scale=scale, **kw)
    np.testing.assert_allclose(out, np_ce(scale * np_cos(x, w), y), rtol=1e-10)


def test_combined_margin_special_cases(x64):
    x, w, y = data(4)
    args = (jnp.asarray(x), jnp.asarray(y), jnp.asarray(w))
    np.testing.assert_allclose(
        M.combined_margin_loss(*args, scale=30.0, m1=1.0, m2=0.0, m3=0.35),
        M.am_softmax_loss(*args, scale=30.0, margin=0.35), rtol=1e-10)
    np.testing.assert_allclose(
        M.combined_margin_loss(*args, scale=64.0, m1=1.0, m2=0.5, m3=0.0),
        M.arcface_loss(*args, scale=64.0, margin=0.5, overflow="none"), rtol=1e-10)


def test_margins_increase_loss(x64):
    x, w, y = data(5)
    args = (jnp.asarray(x), jnp.asarray(y), jnp.asarray(w))
    base = M.am_softmax_loss(*args, scale=10.0, margin=0.0)
    assert np.all(M.am_softmax_loss(*args, scale=10.0, margin=0.3) > base)
    assert np.all(M.arcface_loss(*args, scale=10.0, margin=0.3) > base)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["am", "arcface_s8_m03", "combined"])
def test_margin_check_grads(name, x64):
    fn, _, kw = MARGIN_CASES[name]
    x, w, y = data(7)
    assert _kinks_far(name, x, w, y, kw)
    kw = dict(kw, scale=min(kw.get("scale", 4.0), 4.0))
    f = lambda a, b: fn(a, jnp.asarray(y), b, **kw)
    check_grads(f, (jnp.asarray(x), jnp.asarray(w)), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("fn,kw", [
    (M.arcface_loss, dict(overflow="insightface")),
    (M.arcface_loss, dict(overflow="easy_margin")),
    (M.arcface_loss, dict(overflow="none")),
    (M.combined_margin_loss, {}),
    (M.combined_margin_loss, dict(m1=1.0, m2=0.5, m3=0.0)),
    (M.am_softmax_loss, {}),
])
def test_finite_grad_at_cos_plus_minus_one(fn, kw):
    dtype = jnp.bfloat16 if fn is M.arcface_loss else jnp.float32
    w = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype)
    x = jnp.array([[2.0, 0.0, 0.0], [-3.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype)
    y = jnp.array([0, 0, 1, 1])  # cos = 1, -1, zero feature, 1
    loss, grads = jax.value_and_grad(lambda a, b: fn(a, y, b, **kw).sum(), argnums=(0, 1))(x, w)
    assert loss.dtype == jnp.float32
    assert np.isfinite(loss)
    gx = np.asarray(grads[0], np.float32)
    # Bounded, not only finite: the zero feature (row 2) gets no gradient, the others
    # at most 2 s (1 + m) / ||x|| (a CE on s * cos-type logits of the direction).
    np.testing.assert_array_equal(gx[2], 0.0)
    s = 64.0 if fn is not M.am_softmax_loss else 30.0
    norms = np.linalg.norm(np.asarray(x, np.float32), axis=1)
    assert np.all(np.linalg.norm(gx, axis=1) * np.maximum(norms, 1e-3) <= 2 * s * 2)
    assert np.all(np.isfinite(np.asarray(grads[1], np.float32)))
    assert np.max(np.abs(np.asarray(grads[1], np.float32))) <= 2 * s * 2 * norms.max()


@pytest.mark.parametrize("name", ["arcface"])
def test_jit_grad_vmap_agree(name, x64):
    fn, _, kw = MARGIN_CASES[name]
    x, w, y = (jnp.asarray(a) for a in data(8))
    f = functools.partial(fn, **kw)
    eager = f(x, y, w)
    np.testing.assert_allclose(jax.jit(f)(x, y, w), eager, rtol=1e-5, atol=1e-6)
    g1 = jax.grad(lambda a: f(a, y, w).mean())(x)
    g2 = jax.jit(jax.grad(lambda a: f(a, y, w).mean()))(x)
    np.testing.assert_allclose(g1, g2, rtol=1e-4, atol=1e-6)
    xs = jnp.stack([x, 2.0 * x[::-1]])
    ys = jnp.stack([y, y[::-1]])
    batched = jax.vmap(f, in_axes=(0, 0, None))(xs, ys, w)
    np.testing.assert_allclose(batched[0], eager, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batched[1], f(xs[1], ys[1], w), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn", [M.am_softmax_loss, M.arcface_loss, M.combined_margin_loss,
                                M.l_softmax_loss, M.w_softmax_loss])
def test_bf16_computed_in_float32(fn):
    x, w, y = data(9, dtype=np.float32)
    kw = {"alpha": 1.0} if fn is M.w_softmax_loss else {}
    xb, wb = jnp.asarray(x, jnp.bfloat16), jnp.asarray(w, jnp.bfloat16)
    out = fn(xb, jnp.asarray(y), wb, **kw)
    assert out.dtype == jnp.float32
    # Against the float64 NumPy formula of the values bf16 holds (an independent path).
    hx, hw = (np.asarray(a.astype(jnp.float32), np.float64) for a in (xb, wb))
    refs = {M.am_softmax_loss: lambda: np_am(hx, hw, y),
            M.arcface_loss: lambda: np_arcface(hx, hw, y),
            M.combined_margin_loss: lambda: np_combined(hx, hw, y),
            M.l_softmax_loss: lambda: np_lsoftmax(hx, hw, y),
            M.w_softmax_loss: lambda: np_w_softmax_ref(hx, hw, y, 1.0)}
    np.testing.assert_allclose(out, refs[fn](), rtol=1e-4, atol=1e-4)


def np_w_softmax_ref(x, w, y, alpha):
    wn = w / np.linalg.norm(w, axis=1, keepdims=True)
    logits = np.empty((len(y), len(w)))
    for i, yi in enumerate(y):
        for j in range(len(w)):
            v = wn[yi] if j == yi else wn[j] + alpha * wn[yi]
            logits[i, j] = v @ x[i] / np.linalg.norm(v)
    return np_ce(logits, y)


def test_softmax_cross_entropy_matches_reference_and_checks_labels():
    x, w, y = data(10, dtype=np.float32)
    with pytest.raises(ValueError, match="`labels` values"):
        M.softmax_cross_entropy(jnp.asarray(x @ w.T), jnp.full(len(y), 99))
    with pytest.raises(ValueError, match="`labels` must have shape"):
        M.softmax_cross_entropy(jnp.asarray(x @ w.T), jnp.asarray(y)[:-1])
    np.testing.assert_allclose(M.softmax_cross_entropy(jnp.asarray(x @ w.T), jnp.asarray(y)),
                               np_ce(x @ w.T, y), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- #
# L-Softmax
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("m", [1, 2, 3, 4])
@pytest.mark.parametrize("lam", [0.0, 2.5])
def test_l_softmax_matches_reference(m, lam, x64):
    for seed in range(3):
        x, w, y = data(20 + seed)
        out = M.l_softmax_loss(jnp.asarray(x), jnp.asarray(y), jnp.asarray(w), margin=m, lam=lam)
        np.testing.assert_allclose(out, np_lsoftmax(x, w, y, m=m, lam=lam), rtol=1e-9, atol=1e-9)


def test_l_softmax_m1_is_plain_softmax(x64):
    x, w, y = data(30)
    out = M.l_softmax_loss(jnp.asarray(x), jnp.asarray(y), jnp.asarray(w), margin=1)
    np.testing.assert_allclose(out, np_ce(x @ w.T, y), rtol=1e-12)


def test_l_softmax_psi_continuous_and_decreasing(x64):
    th = np.linspace(1e-3, np.pi - 1e-3, 3001)
    x = np.stack([np.cos(th), np.sin(th)], 1)
    w = np.array([[1.0, 0.0], [0.0, -1e-9]])  # second logit ~ 0
    y = np.zeros(len(th), np.int32)
    for m in (2, 3, 4):
        loss = np.asarray(M.l_softmax_loss(jnp.asarray(x), jnp.asarray(y), jnp.asarray(w),
                                           margin=m))
        psi = -np.log(np.expm1(loss))  # two classes, other logit ~0: loss = softplus(-psi)
        assert np.all(np.diff(psi) < 0)
        assert np.max(np.abs(np.diff(psi))) < 0.02  # no jumps at k pi / m
        np.testing.assert_allclose(psi[-1], -(2 * m - 1), atol=1e-2)  # psi(pi) = 1 - 2m


def test_l_softmax_large_lambda_tends_to_softmax(x64):
    x, w, y = data(31)
    out = M.l_softmax_loss(jnp.asarray(x), jnp.asarray(y), jnp.asarray(w), margin=3, lam=1e8)
    np.testing.assert_allclose(out, np_ce(x @ w.T, y), rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("m", [3])
def test_l_softmax_check_grads(m, x64):
    x, w, y = data(32)
    th = np.arccos(np_cos(x, w)[np.arange(B), y])
    bounds = np.arange(1, m) * np.pi / m
    assert np.min(np.abs(th[:, None] - bounds[None])) > 1e-2  # away from the piece boundaries
    f = lambda a, b: M.l_softmax_loss(a, jnp.asarray(y), b, margin=m, lam=0.5)
    check_grads(f, (jnp.asarray(x), jnp.asarray(w)), order=2, modes=("fwd", "rev"))


def test_l_softmax_traced_lambda_and_zero_feature():
    x, w, y = (jnp.asarray(a) for a in data(33, dtype=np.float32))
    x = x.at[0].set(0.0)
    f = jax.jit(lambda a, lam: M.l_softmax_loss(a, y, w, margin=4, lam=lam).sum())
    val, g = jax.value_and_grad(f)(x, 3.0)
    assert np.isfinite(val)
    # f_y = ||w|| ||x|| psi with |psi'| <= m^2 = 16 and |psi| <= 2m + 1: each row's
    # gradient is at most 2 (2m + 1 + m^2) max ||w|| (no 1/||x|| blow-up at x = 0).
    bound = 2 * (9 + 16) * float(jnp.max(jnp.linalg.norm(w, axis=1)))
    assert float(jnp.max(jnp.linalg.norm(g, axis=1))) <= bound


# --------------------------------------------------------------------------- #
# Bad input
# --------------------------------------------------------------------------- #
_ALL_FWL = [M.am_softmax_loss, M.arcface_loss, M.combined_margin_loss, M.l_softmax_loss,
            functools.partial(M.w_softmax_loss, alpha=1.0)]


@pytest.mark.parametrize("fn", _ALL_FWL)
def test_bad_shapes_and_labels(fn):
    x, w, y = (jnp.asarray(a) for a in data(40, dtype=np.float32))
    with pytest.raises(ValueError, match="labels"):
        fn(x, y.astype(jnp.float32), w)
    with pytest.raises(ValueError, match="labels"):
        fn(x, y[:-1], w)
    with pytest.raises(ValueError, match="labels"):
        fn(x, y.at[0].set(K), w)
    with pytest.raises(ValueError, match="weights"):
        fn(x, y, w[:, :-1])
    with pytest.raises(ValueError, match="weights"):
        fn(x, y, w.T)
    with pytest.raises(ValueError, match="features"):
        fn(x[0], y, w)
    with pytest.raises(ValueError, match="features"):
        fn(x.astype(jnp.int32), y, w)
    with pytest.raises(ValueError, match="features"):
        fn(x.tolist(), y, w)
    # The old order (features, weights, labels) is named as a swap, both ways round.
    with pytest.raises(ValueError, match="did you swap `labels` and `weights`"):
        fn(x, w, y)


def test_bad_hyper_parameters():
    x, w, y = (jnp.asarray(a) for a in data(41, dtype=np.float32))
    cases = [
        (M.am_softmax_loss, dict(scale=0.0), "scale"),
        (M.am_softmax_loss, dict(margin=-0.1), "margin"),
        (M.arcface_loss, dict(scale=-1.0), "scale"),
        (M.arcface_loss, dict(margin=4.0), "margin"),
        (M.arcface_loss, dict(overflow="clip"), "overflow"),
        (M.combined_margin_loss, dict(m1=0.0), "m1"),
        (M.combined_margin_loss, dict(m2=-0.1), "m2"),
        (M.combined_margin_loss, dict(m3=float("nan")), "m3"),
        (M.l_softmax_loss, dict(margin=2.5), "margin"),
        (M.l_softmax_loss, dict(margin=0), "margin"),
        (M.l_softmax_loss, dict(lam=-1.0), "lam"),
    ]
    for fn, kw, name in cases:
        with pytest.raises(ValueError, match=name):
            fn(x, y, w, **kw)


def test_traced_labels_scale_and_margin_work_under_jit():
    x, w, y = (jnp.asarray(a) for a in data(42, dtype=np.float32))
    f = jax.jit(lambda a, lab, s: M.am_softmax_loss(a, lab, w, scale=s))
    np.testing.assert_allclose(f(x, y, 30.0), M.am_softmax_loss(x, y, w), rtol=1e-5)
    g = jax.jit(lambda a, m: M.arcface_loss(a, y, w, margin=m))
    np.testing.assert_allclose(g(x, 0.3), M.arcface_loss(x, y, w, margin=0.3), rtol=1e-5)
    h = jax.jit(lambda a, m2: M.combined_margin_loss(a, y, w, m2=m2))
    np.testing.assert_allclose(h(x, 0.2), M.combined_margin_loss(x, y, w, m2=0.2), rtol=1e-5)


# --------------------------------------------------------------------------- #
# Center loss
# --------------------------------------------------------------------------- #
def np_center_update_loop(centers, x, y, alpha):
    new = np.array(centers, np.float64)
    for j in range(centers.shape[0]):
        idx = [i for i in range(len(y)) if y[i] == j]
        delta = sum((centers[j] - x[i] for i in idx), np.zeros(centers.shape[1]))
        new[j] = centers[j] - alpha * delta / (1 + len(idx))
    return new


def test_center_loss_reference_and_gradient(x64):
    x, c, y = data(50)
    out = M.center_loss(jnp.asarray(x), jnp.asarray(y), jnp.asarray(c))
    np.testing.assert_allclose(out, 0.5 * np.sum((x - c[y]) ** 2, 1), rtol=1e-12)
    gx, gc = jax.grad(lambda a, b: M.center_loss(a, jnp.asarray(y), b).sum(), argnums=(0, 1))(
        jnp.asarray(x), jnp.asarray(c))
    np.testing.assert_allclose(gx, x - c[y], rtol=1e-12)  # dL/dx_i = x_i - c_{y_i}
    assert np.all(np.asarray(gc) == 0)  # centres follow center_update, not SGD
    gc = jax.grad(lambda b: M.center_loss(jnp.asarray(x), jnp.asarray(y), b,
                                          stop_center_gradient=False).sum())(jnp.asarray(c))
    expect = np.zeros_like(c)
    np.add.at(expect, y, c[y] - x)
    np.testing.assert_allclose(gc, expect, rtol=1e-12)
    check_grads(lambda a: M.center_loss(a, jnp.asarray(y), jnp.asarray(c)),
                (jnp.asarray(x),), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_center_update_matches_loop(alpha, x64):
    rng = np.random.default_rng(51)
    c = rng.normal(size=(7, 3))
    x = rng.normal(size=(9, 3))
    y = np.array([0, 0, 2, 2, 2, 5, 0, 3, 3], np.int32)  # classes 1, 4, 6 absent
    new = np.asarray(M.center_update(jnp.asarray(x), jnp.asarray(y), jnp.asarray(c), alpha=alpha))
    np.testing.assert_allclose(new, np_center_update_loop(c, x, y, alpha), rtol=1e-12)
    np.testing.assert_array_equal(new[[1, 4, 6]], c[[1, 4, 6]])
    jitted = jax.jit(functools.partial(M.center_update, alpha=alpha))(
        jnp.asarray(x), jnp.asarray(y), jnp.asarray(c))
    np.testing.assert_allclose(jitted, new, rtol=1e-12)


def test_center_update_where_mask_and_checks(x64):
    rng = np.random.default_rng(52)
    c, x = rng.normal(size=(4, 2)), rng.normal(size=(5, 2))
    y = np.array([0, 1, 1, 3, 0], np.int32)
    keep = np.array([True, True, False, True, False])
    masked = M.center_update(jnp.asarray(x), jnp.asarray(y), jnp.asarray(c),
                             where=jnp.asarray(keep))
    np.testing.assert_allclose(masked, np_center_update_loop(c, x[keep], y[keep], 0.5),
                               rtol=1e-12)
    with pytest.raises(ValueError, match="alpha"):
        M.center_update(jnp.asarray(x), jnp.asarray(y), jnp.asarray(c), alpha=1.5)
    with pytest.raises(ValueError, match="alpha"):
        M.center_update(jnp.asarray(x), jnp.asarray(y), jnp.asarray(c), alpha=-0.1)
    with pytest.raises(ValueError, match="where"):
        M.center_update(jnp.asarray(x), jnp.asarray(y), jnp.asarray(c), where=jnp.ones(5))
    with pytest.raises(ValueError, match="centers"):
        M.center_update(jnp.asarray(x), jnp.asarray(y), jnp.asarray(c[:, :1]))
    with pytest.raises(ValueError, match="labels"):
        M.center_loss(jnp.asarray(x), jnp.asarray(y, jnp.float32), jnp.asarray(c))


def test_center_update_global_batch_under_shard_map():
    n_dev = 4
    mesh = Mesh(np.array(jax.devices()[:n_dev]), ("data",))
    rng = np.random.default_rng(53)
    c = jnp.asarray(rng.normal(size=(5, 3)), jnp.float32)
    x = jnp.asarray(rng.normal(size=(8, 3)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 5, size=8), jnp.int32)
    f = jax.shard_map(lambda cc, xx, yy: M.center_update(xx, yy, cc, axis_name="data"),
                      mesh=mesh, in_specs=(P(), P("data"), P("data")), out_specs=P(),
                      check_vma=False)
    np.testing.assert_allclose(jax.jit(f)(c, x, y), M.center_update(x, y, c), rtol=1e-5,
                               atol=1e-6)


# --------------------------------------------------------------------------- #
# COT complement entropy
# --------------------------------------------------------------------------- #
def test_complement_entropy_reference(x64):
    rng = np.random.default_rng(60)
    logits = rng.normal(size=(B, K)) * 3
    y = rng.integers(0, K, size=B).astype(np.int32)
    out = M.complement_entropy(jnp.asarray(logits), jnp.asarray(y))
    np.testing.assert_allclose(out, np_complement_entropy(logits, y), rtol=1e-12)
    np.testing.assert_allclose(
        M.complement_entropy(jnp.asarray(logits), jnp.asarray(y), normalize="num_classes"),
        np_complement_entropy(logits, y) / K, rtol=1e-12)
    np.testing.assert_allclose(
        M.complement_entropy(jnp.asarray(logits), jnp.asarray(y), normalize="log"),
        np_complement_entropy(logits, y) / np.log(K - 1), rtol=1e-12)
    check_grads(lambda a: M.complement_entropy(a, jnp.asarray(y)),
                (jnp.asarray(logits),), order=2, modes=("fwd", "rev"))


def test_complement_entropy_properties():
    y = jnp.array([0, 2, 1])
    # Maximal (log(K-1)) when all non-target classes are equally likely, whatever p_y.
    logits = jnp.array([[9.0, 1.0, 1.0, 1.0], [0.0, 0.0, -5.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    np.testing.assert_allclose(M.complement_entropy(logits, y), np.log(3.0), rtol=1e-6)
    # Independent of the target logit; bounded in [0, log(K-1)].
    rng = np.random.default_rng(61)
    z = jnp.asarray(rng.normal(size=(3, 4)) * 4, jnp.float32)
    h = M.complement_entropy(z, y)
    np.testing.assert_allclose(M.complement_entropy(z.at[jnp.arange(3), y].add(7.0), y), h,
                               rtol=1e-5)
    assert np.all(h >= 0) and np.all(h <= np.log(3.0) + 1e-6)
    # Extreme logits: finite values and gradients, no NaN from 0 * log 0.
    big = jnp.array([[1e4, -1e4, 0.0, 3.0], [-1e4, 1e4, 1e4, -1e4], [0.0, 1e30, 0.0, 0.0]])
    val, g = jax.value_and_grad(lambda a: M.complement_entropy(a, y).sum())(big)
    # |dH/dz_j| = q_j |log q_j + H| <= 1 + log(K - 1) per entry.
    assert np.isfinite(val) and float(jnp.max(jnp.abs(g))) <= 1.0 + np.log(3.0)
    # Two classes: a single complement class, entropy 0.
    np.testing.assert_allclose(M.complement_entropy(z[:, :2], jnp.array([0, 1, 0])), 0.0)
    assert M.complement_entropy(z.astype(jnp.bfloat16), y).dtype == jnp.float32


def test_complement_entropy_ascent_flattens_complement(x64):
    # Maximising H (the COT complement step) must make wrong classes more uniform.
    z = jnp.array([[3.0, 2.0, -1.0, 0.5]])
    y = jnp.array([0])
    h0 = M.complement_entropy(z, y)[0]
    g = jax.grad(lambda a: M.complement_entropy(a, y).sum())(z)
    assert g[0, 0] == 0.0  # target logit does not enter
    h1 = M.complement_entropy(z + 0.1 * g, y)[0]
    assert h1 > h0


def test_complement_entropy_bad_input():
    z = jnp.zeros((3, 4))
    with pytest.raises(ValueError, match="labels"):
        M.complement_entropy(z, jnp.zeros(3))
    with pytest.raises(ValueError, match="labels"):
        M.complement_entropy(z, jnp.zeros((3, 1), jnp.int32))
    with pytest.raises(ValueError, match="logits"):
        M.complement_entropy(z[0], jnp.zeros(3, jnp.int32))
    with pytest.raises(ValueError, match="logits"):
        M.complement_entropy(z[:, :1], jnp.zeros(3, jnp.int32))
    with pytest.raises(ValueError, match="normalize"):
        M.complement_entropy(z, jnp.zeros(3, jnp.int32), normalize="K")
    with pytest.raises(ValueError, match="normalize"):
        M.complement_entropy(z[:, :2], jnp.zeros(3, jnp.int32), normalize="log")


def test_package_reexports():
    import mfdjax.losses as L
    for name in ("softmax_cross_entropy", "am_softmax_loss", "arcface_loss",
                 "combined_margin_loss", "l_softmax_loss", "w_softmax_loss", "center_loss",
                 "center_update", "complement_entropy"):
        assert getattr(L, name) is getattr(M, name)
