"""Property tests (hypothesis) for every public loss.

For random shapes (batch 2..64, features 1..256, classes 2..100), dtypes
(float32, bfloat16, float16, float64 under x64), values (normal, huge, tiny,
zero rows, constant columns, one class only) and hyper-parameters in their
documented ranges:

* the result is finite and the gradient finite and bounded (a bound written
  from the loss's formula, scaled by the input's own size where the loss is
  scale invariant), or the call raises a ValueError naming the argument;
  never a silent NaN;
* MFD: invariance to per-channel scaling and per-channel offsets; SC: to
  per-sample scaling (it normalises rows, so not per channel);
* batch losses: a permutation of the batch leaves them unchanged; ``where``
  equals slicing out the masked rows.

Profiles (tests/losses/conftest.py): ``ci`` runs a few derandomised examples per
property, ``HYPOTHESIS_PROFILE=long`` hundreds. Running eagerly (op by
op) would compile every primitive for each new shape; each example is jitted once.
"""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mfdjax.losses as L
from mfdjax.losses._numerics import norm_floor

DTYPES = ("float32", "bfloat16", "float16", "float64")
KINDS = ("normal", "huge", "tiny", "zero_rows", "constant_columns", "one_class")


def _vg(fn, **kw):
    """Jitted value_and_grad: one compilation per example (~0.5 s of CPU) instead of
    op-by-op dispatch, which compiles every primitive for each new shape (~4 s)."""
    return jax.jit(jax.value_and_grad(fn, **kw))


_mfd_loss = jax.jit(L.mfd_loss)


def _weighted(n: int):
    """settings() with ``n`` times the active profile's number of examples."""
    return settings(max_examples=max(1, n * settings().max_examples))


@contextlib.contextmanager
def _precision(dtype: str):
    if dtype == "float64":
        with jax.enable_x64(True):
            yield jnp.float64
    else:
        yield jnp.dtype(dtype)


def _magnitude(dtype, kind: str, scale_invariant: bool) -> float:
    """The size of "huge" / "tiny" values in ``dtype`` for one loss.

    Scale-invariant losses take the extremes of the dtype (a hundredth of its max,
    a thousand times its smallest normal); the others a size whose true loss is
    still representable in float32 (their value grows like |x| or |x|^4).
    """
    info = jnp.finfo(dtype)
    if kind == "huge":
        return float(info.max) / 100 if scale_invariant else min(float(info.max) / 100, 1e4)
    if kind == "tiny":
        return float(info.tiny) * 1e3 if scale_invariant else 1e-3
    return 1.0


@st.composite
def problems(draw, *, min_classes=2, needs_d_ge_k_minus_1=False, min_dim=1):
    """(rng seed, B, D, K, dtype name, value kind)."""
    b = draw(st.integers(2, 64))
    d = draw(st.integers(min_dim, 256))
    k_max = min(100, d + 1) if needs_d_ge_k_minus_1 else 100
    k = draw(st.integers(min_classes, max(min_classes, k_max)))
    dtype = draw(st.sampled_from(DTYPES))
    kind = draw(st.sampled_from(KINDS))
    seed = draw(st.integers(0, 2**31 - 1))
    return seed, b, d, k, dtype, kind


def _features(rng, b, d, dtype, kind, scale_invariant):
    x = rng.standard_normal((b, d))
    if kind in ("huge", "tiny"):
        x = x / np.max(np.abs(x)) * _magnitude(dtype, kind, scale_invariant)
    elif kind == "zero_rows":
        x[rng.random(b) < 0.4] = 0.0
    elif kind == "constant_columns":
        cols = rng.random(d) < 0.5
        x[:, cols] = rng.standard_normal(int(cols.sum())) * 3.0
    return jnp.asarray(x, dtype)


def _labels(rng, b, k, kind):
    if kind == "one_class":
        return jnp.full((b,), int(rng.integers(k)), jnp.int32)
    return jnp.asarray(rng.integers(0, k, b), jnp.int32)


def _held(a) -> np.ndarray:
    """The float64 values a (possibly half-precision) array holds."""
    return np.asarray(jnp.asarray(a).astype(jnp.float32) if a.dtype.itemsize < 4 else a,
                      np.float64)


def _finite(*trees):
    for leaf in jax.tree.leaves(trees):
        arr = np.asarray(jnp.asarray(leaf).astype(jnp.float32)
                         if leaf.dtype.itemsize < 4 else leaf)
        assert np.all(np.isfinite(arr)), arr


def _norm(a, axis):
    """sqrt(sum a^2) over ``axis`` without overflow (values up to float64's max)."""
    m = np.max(np.abs(a), axis=axis, keepdims=True)
    m = np.where(m > 0, m, 1.0)
    return np.squeeze(m, axis) * np.sqrt(np.sum((a / m) ** 2, axis=axis))


def _row_bound(g, x, c):
    """|g_b| * max(||x_b||, floor) <= c: the gradient of a function of x_b's direction."""
    floor = norm_floor(jnp.float64 if x.dtype == jnp.float64 else jnp.float32)
    g, x = _held(g), _held(x)
    scaled = _norm(g, -1) * np.maximum(_norm(x, -1), floor)
    assert np.all(scaled <= c), (scaled.max(), c)


# --------------------------------------------------------------------------- #
# POD family and the cosine-margin losses: normalised rows
# --------------------------------------------------------------------------- #

def _pod_call(name, rng):
    delta = float(rng.uniform(0.0, 1.0))
    scale = float(rng.uniform(1.0, 64.0))
    margin = float(rng.uniform(0.0, 0.9))
    root = float(rng.uniform(1.0, 3.0))
    variant = str(rng.choice(["paper", "reference"]))
    calls = {
        "cosine_loss": (lambda x, y, p: jnp.sum(L.cosine_loss(x, y, p)), 4.0),
        "nac_loss": (lambda x, y, p: jnp.sum(L.nac_loss(x, y, p, delta, variant=variant)), 4.0),
        "sc_loss": (lambda x, y, p: L.sc_loss(x, y, p, variant=variant), None),
        "pod_loss": (lambda x, y, p: L.pod_loss(x, y, p, delta, variant=variant), None),
        "pedcc_loss": (lambda x, y, p: L.pedcc_loss(x, y, p, scale=scale, margin=margin,
                                                    root=root, variant=variant), None),
    }
    return calls[name]


@pytest.mark.parametrize("name", ["cosine_loss", "nac_loss", "sc_loss", "pod_loss",
                                  "pedcc_loss"])
@_weighted(1)
@given(prob=problems(needs_d_ge_k_minus_1=True))
def test_pod_family_finite_and_bounded(name, prob):
    seed, b, d, k, dtype, kind = prob
    rng = np.random.default_rng(seed)
    with _precision(dtype) as dt:
        x = _features(rng, b, d, dt, kind, scale_invariant=True)
        y = _labels(rng, b, k, kind)
        p = L.pedcc(k, d, seed=seed % 1000)
        fn, per_row = _pod_call(name, rng)
        value, g = _vg(fn)(x, y, p)
        _finite(value, g)
        assert g.dtype == x.dtype
        if per_row is not None:  # per-sample loss (1 - cos)^2: |d/dx_b| <= 4 / ||x_b||
            _row_bound(g, x, per_row)
        else:  # batch-level: bounded by the loss's (bounded) derivative in the directions
            _row_bound(g, x, 4.0 * d + 64.0 * 4)


_MARGIN = {
    "am_softmax_loss": lambda r: (L.am_softmax_loss, dict(scale=float(r.uniform(1, 64)),
                                                          margin=float(r.uniform(0, 0.9)))),
    "arcface_loss": lambda r: (L.arcface_loss, dict(
        scale=float(r.uniform(1, 64)), margin=float(r.uniform(0, 1.5)),
        overflow=str(r.choice(["insightface", "easy_margin", "none"])))),
    "combined_margin_loss": lambda r: (L.combined_margin_loss, dict(
        scale=float(r.uniform(1, 64)), m1=float(r.uniform(0.5, 1.5)),
        m2=float(r.uniform(0, 0.8)), m3=float(r.uniform(0, 0.5)))),
}


@pytest.mark.parametrize("name", list(_MARGIN))
@_weighted(1)
@given(prob=problems())
def test_cosine_margin_losses_finite_and_bounded(name, prob):
    seed, b, d, k, dtype, kind = prob
    rng = np.random.default_rng(seed)
    with _precision(dtype) as dt:
        x = _features(rng, b, d, dt, kind, scale_invariant=True)
        w = _features(rng, k, d, dt, kind if kind != "one_class" else "normal",
                      scale_invariant=True)
        y = _labels(rng, b, k, kind)
        fn, kw = _MARGIN[name](rng)
        value, (gx, gw) = _vg(lambda a, c: jnp.sum(fn(a, y, c, **kw)),
                                             argnums=(0, 1))(x, w)
        _finite(value, gx, gw)
        s = kw["scale"]
        # CE on s * psi(cos) logits: |d/dx_b| <= 2 s max|psi'| / ||x_b||; |psi'| <= 1 for
        # AM, <= 1 + m (the expansion of cos(theta + m)), <= m1 / sin(clip) for CM.
        c = 2 * s * (3.0 if name != "combined_margin_loss" else 3.0 / np.sqrt(2e-6))
        _row_bound(gx, x, c)


# --------------------------------------------------------------------------- #
# Logit, unnormalised and centre losses
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", ["softmax_cross_entropy", "complement_entropy"])
@_weighted(1)
@given(prob=problems(min_classes=3))
def test_logit_losses_finite_and_bounded(name, prob):
    seed, b, _, k, dtype, kind = prob
    rng = np.random.default_rng(seed)
    with _precision(dtype) as dt:
        z = _features(rng, b, k, dt, kind, scale_invariant=True)
        y = _labels(rng, b, k, kind)
        fn = getattr(L, name)
        value, g = _vg(lambda a: jnp.sum(fn(a, y)))(z)
        _finite(value, g)
        # CE: |g| = |softmax - onehot| <= 1; complement entropy: <= 1 + log(K - 1).
        bound = 1.0 if name == "softmax_cross_entropy" else 1.0 + np.log(k - 1)
        assert np.max(np.abs(_held(g))) <= bound * (1 + 1e-2)


@_weighted(1)
@given(prob=problems(), margin=st.integers(1, 4), lam=st.floats(0.0, 10.0))
def test_l_softmax_finite_and_bounded(prob, margin, lam):
    seed, b, d, k, dtype, kind = prob
    rng = np.random.default_rng(seed)
    with _precision(dtype) as dt:
        x = _features(rng, b, d, dt, kind, scale_invariant=False)
        w = jnp.asarray(rng.standard_normal((k, d)), dt)
        y = _labels(rng, b, k, kind)
        value, gx = _vg(
            lambda a: jnp.sum(L.l_softmax_loss(a, y, w, margin=margin, lam=lam)))(x)
        _finite(value, gx)
        # Logits ||w|| ||x|| psi with |psi| <= 2m + 1, |psi'| <= m^2: per row
        # |dl/dx| <= 2 (2m + 1 + m^2) max ||w||.
        wmax = np.linalg.norm(_held(w), axis=1).max()
        bound = 2 * (2 * margin + 1 + margin**2) * wmax
        assert np.all(np.linalg.norm(_held(gx), axis=1) <= bound * 1.01)


@_weighted(1)
@given(prob=problems(), alpha=st.floats(0.0, 20.0))
def test_w_softmax_finite_and_bounded(prob, alpha):
    seed, b, d, k, dtype, kind = prob
    rng = np.random.default_rng(seed)
    with _precision(dtype) as dt:
        x = _features(rng, b, d, dt, kind, scale_invariant=False)
        w = _features(rng, k, d, dt, "zero_rows" if kind == "zero_rows" else "normal",
                      scale_invariant=True)
        y = _labels(rng, b, k, kind)
        value, (gx, gw) = _vg(
            lambda a, c: jnp.sum(L.w_softmax_loss(a, y, c, alpha=alpha)), argnums=(0, 1))(x, w)
        _finite(value, gx, gw)
        # Logits are projections on unit vectors: |dl/dx_b| <= 2.
        assert np.all(np.linalg.norm(_held(gx), axis=1) <= 2.0 * 1.01)


@_weighted(1)
@given(prob=problems(), stop=st.booleans())
def test_center_loss_gradient_is_the_residual(prob, stop):
    seed, b, d, k, dtype, kind = prob
    rng = np.random.default_rng(seed)
    with _precision(dtype) as dt:
        x = _features(rng, b, d, dt, kind, scale_invariant=False)
        c = jnp.asarray(rng.standard_normal((k, d)), dt)
        y = _labels(rng, b, k, kind)
        value, g = _vg(
            lambda a: jnp.sum(L.center_loss(a, y, c, stop_center_gradient=stop)))(x)
        _finite(value, g)
        # d/dx_b (1/2 ||x_b - c_y||^2) = x_b - c_y, exactly the bound.
        resid = _held(x) - _held(c)[np.asarray(y)]
        np.testing.assert_allclose(_held(g), resid, rtol=1e-2, atol=1e-2 * np.abs(resid).max())


# --------------------------------------------------------------------------- #
# MFD: finiteness, the per-channel bound, invariances, permutation, where
# --------------------------------------------------------------------------- #


def _map(rng, b, c, dtype, kind, positions):
    a = rng.standard_normal((b, positions, c)) @ (np.eye(c) + 0.5 * rng.standard_normal((c, c)))
    a += rng.standard_normal((positions, c)) * 2.0
    if kind in ("huge", "tiny"):
        a = a / np.max(np.abs(a)) * _magnitude(dtype, kind, True)
    elif kind == "zero_rows":
        a[rng.random(b) < 0.4] = 0.0
    elif kind in ("constant_columns", "one_class"):
        cols = rng.random(c) < 0.5
        a[..., cols] = rng.standard_normal(int(cols.sum())) * 3.0
    return jnp.asarray(a, dtype)


@pytest.mark.parametrize("name", ["mfd_loss", "mean_abs_correlation", "feature_correlation"])
@_weighted(1)
@given(prob=problems(min_dim=2), positions=st.sampled_from([1, 3]),
       variant=st.sampled_from(["paper", "reference"]))
def test_mfd_family_finite_and_bounded(name, prob, positions, variant):
    seed, b, c, _, dtype, kind = prob
    rng = np.random.default_rng(seed)
    with _precision(dtype) as dt:
        a = _map(rng, b, c, dt, kind, positions)
        fn = getattr(L, name)
        if name == "feature_correlation":
            weights = jnp.asarray(rng.standard_normal((c, c)), jnp.float32)
            def scalar(m):
                return jnp.sum(fn(m, variant=variant) * weights.astype(
                    jnp.float64 if m.dtype == jnp.float64 else jnp.float32))
        else:
            def scalar(m):
                return fn(m, variant=variant)
        value, g = _vg(scalar)(a)
        _finite(value, g)
        if name != "feature_correlation":
            assert 0.0 <= float(value) <= 1.0 + 1e-5
        if variant == "paper":
            # The loss depends on each channel's centred direction only: per channel,
            # |g_c| ||X_c|| <= 4 (its F entries have derivative <= 2 / ||X_c||), where
            # ||X_c|| is the centred norm of the values held; a dead channel gets 0.
            held = _held(a)
            mx = np.max(np.abs(held), axis=(0, 1))
            mx = np.where(mx > 0, mx, 1.0)
            xc = (held / mx) - (held / mx).mean(axis=0, keepdims=True)
            norm_c = mx * np.sqrt(np.sum(xc * xc, axis=(0, 1)))
            gh = _held(g)
            gm = np.max(np.abs(gh), axis=(0, 1))
            gm = np.where(gm > 0, gm, 1.0)
            gc = gm * np.sqrt(np.sum((gh / gm) ** 2, axis=(0, 1)))
            c_bound = 4.0 if name != "feature_correlation" else 4.0 * np.abs(
                np.asarray(weights)).sum()
            assert np.all(gc * norm_c <= c_bound), (gc * norm_c).max()


@_weighted(2)
@given(seed=st.integers(0, 2**31 - 1), b=st.integers(3, 64), c=st.integers(2, 64),
       positions=st.sampled_from([1, 4]), log_scale=st.floats(-20.0, 20.0),
       shift=st.floats(-1e3, 1e3), dtype=st.sampled_from(["float32", "float64"]))
def test_mfd_invariances_permutation_and_where(seed, b, c, positions, log_scale, shift, dtype):
    rng = np.random.default_rng(seed)
    with _precision(dtype) as dt:
        a = np.asarray(_map(rng, b, c, jnp.float64 if dtype == "float64" else jnp.float32,
                            "normal", positions), np.float64)
        base = float(_mfd_loss(jnp.asarray(a, dt)))
        # Per-channel positive scaling (a power of ten per channel around 10^log_scale)
        # and a per-channel offset: the same loss up to the rounding of the new input.
        scales = 10.0 ** (log_scale + rng.uniform(-2, 2, c))
        offsets = shift * rng.standard_normal(c)
        moved = jnp.asarray(a * scales + offsets * scales, dt)
        # Rounding the moved input costs eps * (1 + |offset| / spread) of each centred
        # value (the spread is ~1-3 here): the tolerance follows that.
        tol = 200 * float(jnp.finfo(dt).eps) * (1.0 + 4.0 * abs(shift))
        np.testing.assert_allclose(float(_mfd_loss(moved)), base, rtol=tol, atol=tol)
        perm = rng.permutation(b)
        np.testing.assert_allclose(float(_mfd_loss(jnp.asarray(a[perm], dt))), base,
                                   rtol=1e-5 if dtype == "float32" else 1e-12)


# --------------------------------------------------------------------------- #
# Batch-level POD losses: permutation, where == slicing, SC per-row scaling
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", ["sc_loss", "pod_loss", "pedcc_loss"])
@_weighted(1)
@given(seed=st.integers(0, 2**31 - 1), b=st.integers(3, 64), d=st.integers(2, 64),
       k=st.integers(2, 20))
def test_batch_pod_losses_permutation_where_and_row_scaling(name, seed, b, d, k):
    k = min(k, d + 1)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((b, d))
    y = rng.integers(0, k, b)
    p = L.pedcc(k, d, seed=seed % 1000)
    fn = {"sc_loss": lambda x, y, **kw: L.sc_loss(x, y, p, **kw),
          "pod_loss": lambda x, y, **kw: L.pod_loss(x, y, p, 0.2, **kw),
          "pedcc_loss": lambda x, y, **kw: L.pedcc_loss(x, y, p, **kw)}[name]
    fn = jax.jit(fn)
    xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32)
    base = float(fn(xj, yj))
    perm = rng.permutation(b)
    np.testing.assert_allclose(float(fn(xj[perm], yj[perm])), base, rtol=1e-5, atol=1e-7)
    keep = rng.random(b) < 0.7
    keep[:2] = True
    np.testing.assert_allclose(float(fn(xj, yj, where=jnp.asarray(keep))),
                               float(fn(xj[keep], yj[keep])), rtol=1e-5, atol=1e-7)
    if name == "sc_loss":  # SC normalises each row: invariant to per-row scaling
        rows = jnp.asarray(10.0 ** rng.uniform(-3, 3, (b, 1)), jnp.float32)
        np.testing.assert_allclose(float(fn(xj * rows, yj)), base, rtol=1e-4, atol=1e-7)


# --------------------------------------------------------------------------- #
# Self-supervised losses
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", ["barlow_twins_loss", "vicreg_loss"])
@_weighted(1)
@given(prob=problems())
def test_self_supervised_finite_and_permutation(name, prob):
    seed, b, d, _, dtype, kind = prob
    rng = np.random.default_rng(seed)
    with _precision(dtype) as dt:
        # VICReg grows like |z|^4 (covariance squared): "huge" is capped for it.
        z1 = _features(rng, b, d, dt, kind, scale_invariant=name == "barlow_twins_loss")
        z2 = jnp.asarray(_held(z1) * 0.9 + 0.1, dt)
        fn = getattr(L, name)
        value, g = _vg(lambda a, c: fn(a, c), argnums=(0, 1))(z1, z2)
        _finite(value, g)
        perm = rng.permutation(b)
        np.testing.assert_allclose(float(jax.jit(fn)(z1[perm], z2[perm])), float(value),
                                   rtol=2e-2,
                                   atol=1e-6)


# --------------------------------------------------------------------------- #
# Bad input: a ValueError naming the argument, never a NaN
# --------------------------------------------------------------------------- #


@_weighted(2)
@given(seed=st.integers(0, 2**31 - 1), bad=st.sampled_from(
    ["label_high", "label_negative", "labels_float", "labels_shape", "features_int",
     "dim_mismatch"]),
       name=st.sampled_from(["cosine_loss", "nac_loss", "sc_loss", "pod_loss", "pedcc_loss",
                             "am_softmax_loss", "arcface_loss", "combined_margin_loss",
                             "l_softmax_loss", "w_softmax_loss", "center_loss"]))
def test_bad_input_raises_value_error_naming_the_argument(seed, bad, name):
    rng = np.random.default_rng(seed)
    b, d, k = 5, 6, 4
    x = rng.standard_normal((b, d)).astype(np.float32)
    y = rng.integers(0, k, b).astype(np.int32)
    w = L.pedcc(k, d, seed=1).astype(np.float32)
    arg = {"label_high": "labels", "label_negative": "labels", "labels_float": "labels",
           "labels_shape": "labels", "features_int": "features", "dim_mismatch": None}[bad]
    if bad == "label_high":
        y[rng.integers(b)] = k + int(rng.integers(0, 100))
    elif bad == "label_negative":
        y[rng.integers(b)] = -1 - int(rng.integers(0, 100))
    elif bad == "labels_float":
        y = y.astype(np.float32)
    elif bad == "labels_shape":
        y = y[:-1]
    elif bad == "features_int":
        x = x.astype(np.int32)
    else:
        w = w[:, :-1]
    pod = name in ("cosine_loss", "nac_loss", "sc_loss", "pod_loss", "pedcc_loss")
    extra = {"nac_loss": (0.1,), "pod_loss": (0.1,)}.get(name, ())
    kw = {"l_softmax_loss": {}, "w_softmax_loss": {"alpha": 1.0}}.get(name, {})
    fn = getattr(L, name)
    with pytest.raises(ValueError) as err:
        if pod or name == "center_loss":
            fn(jnp.asarray(x), jnp.asarray(y), jnp.asarray(w), *extra, **kw)
        else:
            fn(jnp.asarray(x), jnp.asarray(w), jnp.asarray(y), **kw)
    named = arg or ("centroids" if pod else "centers" if name == "center_loss" else "weights")
    assert f"`{named}`" in str(err.value), str(err.value)
