"""The losses at their edges: zero and near-zero rows, and labels out of range.

* Normalisation: a zero feature (a dead sample after ReLU + pooling) or a zero
  class-weight row gets a zero gradient, a row below the norm floor
  (``sqrt(eps)`` of the compute dtype) keeps the paper's value (its epsilon
  included) with a zero gradient, and above the floor the gradient obeys the bound
  ``|g_b| * ||x_b|| <= C``, the bound of a function of the direction of ``x_b``
  whose sensitivity to that direction is at most C. Checked in float32 and
  float16 (where 1e11 gradients become inf).
* Labels: concrete out-of-range labels raise a ValueError naming ``labels`` in
  every function that takes labels; traced ones follow the one documented rule
  (``mfdjax.losses._numerics.INVALID_LABEL_RULE``): NaN rows (a NaN scalar for
  batch-level losses) with a zero gradient, valid rows unchanged.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mfdjax.losses as L
from mfdjax.losses._numerics import INVALID_LABEL_RULE, norm_floor

B, D, K = 6, 8, 4
P = L.pedcc(K, D, seed=3)
_RNG = np.random.default_rng(21)
W = _RNG.standard_normal((K, D))
Y = np.array([0, 1, 2, 3, 0, 1], np.int32)


def _features():
    """Rows: 0 exactly zero, 1 below the float32 floor (1e-6), 2 above it (1e-2), rest O(1)."""
    x = _RNG.standard_normal((B, D))
    x[0] = 0.0
    x[1] *= 1e-6 / np.linalg.norm(x[1])
    x[2] *= 1e-2 / np.linalg.norm(x[2])
    return x


X = _features()

# name -> (loss(x, y, w) with features x (B, D) and a (K, D) class matrix w, kind,
#          C of the bound). The old code gave |g| ~ 1e11-1e12 at the zero row, i.e.
#          |g| * floor ~ 1e7-1e8, far above every C here (C ~ 2 s for the margin
#          losses with scale s, the loss's own derivative bound for the POD family).
NORMALISING = {
    "cosine_loss": (lambda x, y, w: L.cosine_loss(x, y, w), "per_sample", 4.0),
    "nac_loss[delta=0]": (lambda x, y, w: L.nac_loss(x, y, w, 0.0), "per_sample", 4.0),
    "nac_loss[reference]": (lambda x, y, w: L.nac_loss(x, y, w, 0.0, variant="reference"),
                            "per_sample", 4.0),
    "sc_loss": (lambda x, y, w: L.sc_loss(x, y, w), "scalar", 1e3),
    "pod_loss": (lambda x, y, w: L.pod_loss(x, y, w, 0.0), "scalar", 1e3),
    "pedcc_loss": (lambda x, y, w: L.pedcc_loss(x, y, w), "scalar", 4.0 * 15 + 8.0),
    "am_softmax_loss": (lambda x, y, w: L.am_softmax_loss(x, y, w), "per_sample", 2.0 * 30),
    "arcface_loss": (lambda x, y, w: L.arcface_loss(x, y, w), "per_sample", 2.0 * 64 * 2),
    "combined_margin_loss": (lambda x, y, w: L.combined_margin_loss(x, y, w), "per_sample",
                             2.0 * 64 * 2),
}


def _scalar(kind, out):
    return jnp.sum(out) if kind == "per_sample" else out


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float16])
@pytest.mark.parametrize("name", list(NORMALISING))
def test_zero_and_tiny_rows_have_bounded_gradients(name, dtype):
    fn, kind, bound = NORMALISING[name]
    w = P if name.split("[")[0] in ("cosine_loss", "nac_loss", "sc_loss", "pod_loss",
                                    "pedcc_loss") else W
    w = w.copy()
    w[1] = 0.0 if w is W else w[1]  # a zero class-weight row for the margin losses
    x, wj, y = jnp.asarray(X, dtype), jnp.asarray(w, dtype), jnp.asarray(Y)
    value = fn(x, y, wj)
    gx, gw = jax.jit(jax.grad(lambda a, b: _scalar(kind, fn(a, y, b)), argnums=(0, 1)))(x, wj)
    gx, gw = np.asarray(gx, np.float64), np.asarray(gw, np.float64)
    assert np.all(np.isfinite(np.asarray(value, np.float64)))
    assert np.all(np.isfinite(gx)) and np.all(np.isfinite(gw))
    held = np.asarray(x, np.float64)
    norms = np.linalg.norm(held, axis=1)
    floor = norm_floor(jnp.float32)
    # Rows 0 (zero) and 1 (below the floor) are frozen.
    np.testing.assert_array_equal(gx[:2], 0.0)
    # The bound: |g_b| ||x_b|| <= C for the other rows (1e-2 and O(1) norms).
    scaled = np.linalg.norm(gx, axis=1) * np.maximum(norms, floor)
    assert np.all(scaled <= bound), (name, scaled)
    if w is W:  # margin losses normalise the class weights: the zero row is frozen too
        np.testing.assert_array_equal(gw[1], 0.0)


def test_values_keep_the_papers_epsilon():
    """Below the floor the value is still x.p / (||x|| + 1e-12) (eq. 10-11 of the POD paper)."""
    x = jnp.asarray(X, jnp.float32)
    held = np.asarray(x, np.float64)
    pu = P / np.linalg.norm(P, axis=1, keepdims=True)
    cos = np.sum(held * pu[Y], axis=1) / (np.linalg.norm(held, axis=1) + 1e-12)
    np.testing.assert_allclose(L.cosine_loss(x, jnp.asarray(Y), P.astype(np.float32)),
                               (1.0 - cos) ** 2, rtol=1e-5)
    assert abs(cos[1]) > 1e-3  # the tiny row's cosine is its direction's, not 0
    assert float(L.cosine_loss(x, jnp.asarray(Y), P.astype(np.float32))[0]) == 1.0


def test_w_softmax_and_l_softmax_zero_rows_bounded():
    x = jnp.asarray(X, jnp.float32)
    w = jnp.asarray(W, jnp.float32).at[1].set(0.0)
    y = jnp.asarray(Y)
    for fn, bound in ((lambda a, b: L.w_softmax_loss(a, y, b, alpha=1.0), 2.0),
                      (lambda a, b: L.l_softmax_loss(a, y, b, margin=3), None)):
        gx, gw = jax.grad(lambda a, b: jnp.sum(fn(a, b)), argnums=(0, 1))(x, w)
        assert np.all(np.isfinite(gx)) and np.all(np.isfinite(gw))
        if bound is not None:  # logits w~.x with unit w~: |dl/dx| <= 2 per row
            assert float(jnp.max(jnp.linalg.norm(gx, axis=1))) <= bound * 1.0001
        else:  # f = ||w|| ||x|| psi, |psi'| <= m^2: |dl/dx| <= 2 (1 + m^2) max ||w||
            assert float(jnp.max(jnp.linalg.norm(gx, axis=1))) <= \
                2 * (1 + 9) * float(jnp.max(jnp.linalg.norm(w, axis=1)))


# --------------------------------------------------------------------------- #
# Labels out of range
# --------------------------------------------------------------------------- #

_Z = _RNG.standard_normal((B, K)).astype(np.float32)
_C = _RNG.standard_normal((K, D)).astype(np.float32)
X32 = (P[Y] * 2.0 + 0.3 * _RNG.standard_normal((B, D))).astype(np.float32)

# name -> (f(x, y) with the first argument differentiated, kind)
LABELLED = {
    "softmax_cross_entropy": (lambda z, y: L.softmax_cross_entropy(z, y), "per_sample", _Z),
    "complement_entropy": (lambda z, y: L.complement_entropy(z, y), "per_sample", _Z),
    "am_softmax_loss": (lambda x, y: L.am_softmax_loss(x, y, W.astype(np.float32)),
                        "per_sample", X32),
    "arcface_loss": (lambda x, y: L.arcface_loss(x, y, W.astype(np.float32)), "per_sample",
                     X32),
    "combined_margin_loss": (lambda x, y: L.combined_margin_loss(x, y, W.astype(np.float32)),
                             "per_sample", X32),
    "l_softmax_loss": (lambda x, y: L.l_softmax_loss(x, y, W.astype(np.float32)),
                       "per_sample", X32),
    "w_softmax_loss": (lambda x, y: L.w_softmax_loss(x, y, W.astype(np.float32), alpha=1.0),
                       "per_sample", X32),
    "center_loss": (lambda x, y: L.center_loss(x, y, _C), "per_sample", X32),
    "cosine_loss": (lambda x, y: L.cosine_loss(x, y, P), "per_sample", X32),
    "nac_loss": (lambda x, y: L.nac_loss(x, y, P, 0.1), "per_sample", X32),
    "sc_loss": (lambda x, y, **kw: L.sc_loss(x, y, P, **kw), "scalar", X32),
    "pod_loss": (lambda x, y, **kw: L.pod_loss(x, y, P, 0.1, **kw), "scalar", X32),
    "pedcc_loss": (lambda x, y, **kw: L.pedcc_loss(x, y, P, **kw), "scalar", X32),
}


@pytest.mark.parametrize("bad", [K, -1, 10**6])
@pytest.mark.parametrize("name", list(LABELLED))
def test_concrete_out_of_range_labels_raise(name, bad):
    fn, _, x = LABELLED[name]
    y = Y.copy()
    y[3] = bad
    with pytest.raises(ValueError, match=r"`labels` values must lie in \[0, 4\)"):
        fn(jnp.asarray(x), jnp.asarray(y))


def test_concrete_label_checks_of_the_helpers():
    y = jnp.asarray(np.array([0, K], np.int32))
    with pytest.raises(ValueError, match="`labels`"):
        L.w_softmax_weights(y, jnp.asarray(W), alpha=1.0)
    with pytest.raises(ValueError, match="`labels`"):
        L.center_update(jnp.asarray(X32[:2]), y, jnp.asarray(_C))
    # Padding rows masked out by a concrete `where` may carry any label.
    where = jnp.asarray([True, False, True, True, True, True])
    yb = jnp.asarray(Y).at[1].set(-1)
    assert np.isfinite(float(L.sc_loss(jnp.asarray(X32), yb, P, where=where)))


@pytest.mark.parametrize("name", list(LABELLED))
def test_traced_out_of_range_labels_follow_the_rule(name):
    fn, kind, x = LABELLED[name]
    x = jnp.asarray(x)
    y_good = jnp.asarray(Y)
    y_bad = y_good.at[3].set(K).at[5].set(-2)
    bad = np.zeros(B, bool)
    bad[[3, 5]] = True
    good_value = fn(x, y_good)
    bad_value = jax.jit(fn)(x, y_bad)
    if kind == "per_sample":
        assert np.all(np.isnan(np.asarray(bad_value)[bad]))
        # (jit vs eager: float32 rounding of small (1 - cos)^2 values differs by ~1e-5)
        np.testing.assert_allclose(np.asarray(bad_value)[~bad], np.asarray(good_value)[~bad],
                                   rtol=2e-5, atol=1e-7)
        keep = jnp.asarray(~bad)
        g_bad = jax.jit(jax.grad(lambda a, y: jnp.sum(jnp.where(keep, fn(a, y), 0.0))))(x, y_bad)
        g_good = jax.grad(lambda a: jnp.sum(jnp.where(keep, fn(a, y_good), 0.0)))(x)
        np.testing.assert_array_equal(np.asarray(g_bad)[bad], 0.0)
        np.testing.assert_allclose(g_bad, g_good, rtol=1e-4,
                                   atol=1e-5 * float(jnp.max(jnp.abs(g_good))))
    else:
        assert np.isnan(float(bad_value))
        # Masked out by `where`, the bad rows are ignored: the value of the good rows.
        keep = jnp.asarray(~bad)
        masked = jax.jit(lambda a, y: fn(a, y, where=keep))(x, y_bad)
        # (jit vs eager: float32 rounding differs by a few ulps, more at XLA's -O0)
        np.testing.assert_allclose(masked, fn(x, y_good, where=keep), rtol=1e-5)
        g = jax.jit(jax.grad(lambda a, y: fn(a, y)))(x, y_bad)
        assert np.all(np.isfinite(np.asarray(g)))


def test_traced_labels_in_the_helpers():
    y_bad = jnp.asarray(Y).at[2].set(K)
    wt = jax.jit(lambda w, y: L.w_softmax_weights(y, w, alpha=1.0))(jnp.asarray(W), y_bad)
    assert np.all(np.isnan(np.asarray(wt)[2])) and np.all(np.isfinite(np.asarray(wt)[[0, 1]]))
    # center_update ignores such rows, as it ignores rows masked out by `where`.
    where = jnp.asarray(np.arange(B) != 2)
    got = jax.jit(L.center_update)(jnp.asarray(X32), y_bad, jnp.asarray(_C))
    want = L.center_update(jnp.asarray(X32), jnp.asarray(Y), jnp.asarray(_C), where=where)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_rule_is_documented_in_every_labelled_loss():
    assert "NaN" in INVALID_LABEL_RULE
    for name in LABELLED:
        module = __import__(getattr(L, name).__module__, fromlist=["_"])
        assert "NaN" in (module.__doc__ or ""), name
