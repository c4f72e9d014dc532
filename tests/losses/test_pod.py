"""Tests of mfdjax.losses.pod against float64 NumPy references written from the equations
of the POD paper (eqs. 2-4, 6, 9-11, 16-20) and the authors' reference code."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.sharding import Mesh, PartitionSpec as P
from jax.test_util import check_grads

from mfdjax.eval.classifiers import cosine_classify
from mfdjax.pedcc import pedcc
from mfdjax.losses.pod import (
    NAC_INITIAL_MEAN_NORM,
    cosine_loss,
    nac_delta,
    nac_loss,
    nac_norm_stats,
    pedcc_loss,
    pod_loss,
    sc_loss,
)

VARIANTS = ("paper", "reference")


# --------------------------------------------------------------------------- references


def _unit(a):
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def ref_cosine(x, y, p):
    pu = _unit(p)
    out = []
    for xi, yi in zip(x, y):
        cos = xi @ pu[yi] / (np.linalg.norm(xi) + 1e-12)
        out.append((1 - cos) ** 2)
    return np.array(out)


def ref_nac(x, y, p, delta, variant):
    pu = _unit(p)
    out = []
    for xi, yi in zip(x, y):
        if variant == "paper":
            den = np.linalg.norm(xi) + delta
        else:  # train.py NaCLoss: norm of x with delta appended as an extra coordinate
            den = np.linalg.norm(np.concatenate([xi, [delta]]))
        out.append((1 - xi @ pu[yi] / den) ** 2)
    return np.array(out)


def ref_sc(x, y, p, variant):
    d = _unit(x) - _unit(p)[y]
    b, n = d.shape
    r = d.T @ d / (b - 1)
    total = sum(r[i, j] ** 2 for i in range(n) for j in range(n) if i != j)
    return total / (n - 1) if variant == "reference" else total


def ref_pedcc(x, y, p, scale, margin, lam, root, variant):
    xu, pu = _unit(x), _unit(p)
    am = []
    for xi, yi in zip(xu, y):
        cos = pu @ xi
        z = scale * cos
        z[yi] = scale * (cos[yi] - margin)
        am.append(-(z[yi] - np.log(np.sum(np.exp(z - z.max()))) - z.max()))
    sq = np.sum((xu - pu[y]) ** 2)
    if variant == "paper":
        term = (sq / (2 * len(x))) ** (1 / root)
    else:
        term = sq ** root
    return np.mean(am) + lam * term


def _data(b=6, n=5, k=4, seed=0, scale_p=1.0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((b, n)) * 2.0
    y = rng.integers(0, k, b)
    y[:k] = np.arange(k)  # every class present
    p = pedcc(k, n, seed=seed) * scale_p
    return x, y, p


# --------------------------------------------------------------------------- PEDCC


@pytest.mark.parametrize("k,n", [(2, 1), (2, 7), (3, 2), (4, 3), (5, 5), (10, 9), (10, 256),
                                 (100, 99), (100, 512), (33, 40)])
def test_pedcc_is_regular_simplex(k, n):
    p = pedcc(k, n, seed=3)
    assert p.shape == (k, n) and p.dtype == np.float64
    gram = p @ p.T
    np.testing.assert_allclose(np.diag(gram), 1.0, atol=1e-12)
    off = gram[~np.eye(k, dtype=bool)]
    np.testing.assert_allclose(off, -1.0 / (k - 1), atol=1e-12)
    np.testing.assert_allclose(p.sum(0), 0.0, atol=1e-11)  # centred simplex
    # (rank k - 1 follows from the Gram matrix above; no NumPy rank needed)


@settings(max_examples=30, deadline=None)
@given(k=st.integers(2, 25), extra=st.integers(-1, 30), seed=st.integers(0, 2**31 - 1))
def test_pedcc_property(k, extra, seed):
    n = k + extra  # extra = -1 is the tight case k = n + 1
    p = pedcc(k, n, seed=seed)
    gram = p @ p.T
    expect = np.where(np.eye(k, dtype=bool), 1.0, -1.0 / (k - 1))
    np.testing.assert_allclose(gram, expect, atol=1e-11)


def test_pedcc_seed_reproducible_and_distinct():
    a, b, c = pedcc(10, 32, seed=7), pedcc(10, 32, seed=7), pedcc(10, 32, seed=8)
    np.testing.assert_array_equal(a, b)
    assert np.max(np.abs(a - c)) > 0.1
    # The orientation is random: the rows are not confined to the first coordinates.
    assert np.min(np.abs(a).sum(0)) > 0


@pytest.mark.parametrize("args,match", [
    ((3, 1), "`dim` must be >= 2"),  # k > n + 1 uses the physical model, which needs n >= 2
    ((1, 5), ">= 2"),
    ((0, 5), ">= 2"),
    ((3.0, 5), "must be an int"),
    ((True, 5), "must be an int"),
    ((3, "5"), "must be an int"),
    ((3, 0), "`dim` must be >= 1"),
])
def test_pedcc_errors(args, match):
    with pytest.raises(ValueError, match=match):
        pedcc(*args)


def test_pedcc_numpy_int_ok():
    np.testing.assert_array_equal(pedcc(np.int64(4), np.int32(6)), pedcc(4, 6))


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("scale_p", [1.0, 3.5])
def test_cosine_and_nac_match_reference_float64(x64, scale_p):
    x, y, p = _data(scale_p=scale_p)
    np.testing.assert_allclose(cosine_loss(jnp.asarray(x), jnp.asarray(y), p),
                               ref_cosine(x, y, p), rtol=1e-12, atol=1e-14)
    for variant in VARIANTS:
        for delta in (0.0, 0.3, 5.0):
            got = nac_loss(jnp.asarray(x), jnp.asarray(y), p, delta, variant=variant)
            assert got.shape == (6,) and got.dtype == jnp.float64
            np.testing.assert_allclose(got, ref_nac(x, y, p, delta, variant),
                                       rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("variant,b,n,k", [("paper", 6, 5, 4), ("reference", 3, 12, 3),
                                            ("paper", 20, 4, 5)])
def test_sc_matches_reference_float64(x64, variant, b, n, k):
    x, y, p = _data(b=b, n=n, k=k)
    got = sc_loss(jnp.asarray(x), jnp.asarray(y), p, variant=variant)
    assert got.shape == ()
    np.testing.assert_allclose(got, ref_sc(x, y, p, variant), rtol=1e-11)


@pytest.mark.parametrize("variant", VARIANTS)
def test_pod_is_nac_plus_lam_sc(x64, variant):
    x, y, p = _data()
    got = pod_loss(jnp.asarray(x), jnp.asarray(y), p, 0.2, lam=0.7, variant=variant)
    want = ref_nac(x, y, p, 0.2, variant).mean() + 0.7 * ref_sc(x, y, p, variant)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("variant,scale,margin,lam,root", [
    ("paper", 15.0, 0.5, 1.0, 1.0), ("paper", 7.5, 0.35, 0.5, 2.0),
    ("reference", 15.0, 0.5, 1.0, 1.0), ("reference", 1.0, 0.0, 0.3, 2.0)])
def test_pedcc_loss_matches_reference_float64(x64, variant, scale, margin, lam, root):
    x, y, p = _data(scale_p=2.0)
    got = pedcc_loss(jnp.asarray(x), jnp.asarray(y), p, scale=scale, margin=margin, lam=lam,
                     root=root, variant=variant)
    want = ref_pedcc(x, y, p, scale, margin, lam, root, variant)
    np.testing.assert_allclose(got, want, rtol=1e-11)


def test_float32_close_to_float64_reference():
    x, y, p = _data()
    xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y)
    np.testing.assert_allclose(nac_loss(xj, yj, p, 0.3), ref_nac(x, y, p, 0.3, "paper"),
                               rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(sc_loss(xj, yj, p), ref_sc(x, y, p, "paper"), rtol=2e-5)
    np.testing.assert_allclose(pedcc_loss(xj, yj, p),
                               ref_pedcc(x, y, p, 15.0, 0.5, 1.0, 1.0, "paper"), rtol=2e-5)


def test_bf16_computed_in_float32():
    x, y, p = _data()
    xb = jnp.asarray(x, jnp.bfloat16)
    x32 = xb.astype(jnp.float32)
    yj = jnp.asarray(y)
    for f in (lambda a: nac_loss(a, yj, p, 0.3), lambda a: cosine_loss(a, yj, p),
              lambda a: sc_loss(a, yj, p), lambda a: pod_loss(a, yj, p, 0.1),
              lambda a: pedcc_loss(a, yj, p)):
        got = f(xb)
        assert got.dtype == jnp.float32
    # Against the float64 references of the values bf16 holds (an independent path).
    held = np.asarray(x32, np.float64)
    np.testing.assert_allclose(nac_loss(xb, yj, p, 0.3), ref_nac(held, y, p, 0.3, "paper"),
                               rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(cosine_loss(xb, yj, p), ref_cosine(held, y, p), rtol=2e-5,
                               atol=1e-6)
    np.testing.assert_allclose(sc_loss(xb, yj, p), ref_sc(held, y, p, "paper"), rtol=2e-5)
    np.testing.assert_allclose(pedcc_loss(xb, yj, p),
                               ref_pedcc(held, y, p, 15.0, 0.5, 1.0, 1.0, "paper"), rtol=2e-5)


# --------------------------------------------------------------------------- paper vs reference


def test_nac_paper_vs_reference_documented_difference(x64):
    p = pedcc(3, 4)
    y = jnp.array([0, 1])
    r = np.array([2.0, 0.5])
    x = jnp.asarray(r[:, None] * p[[0, 1]])  # on their centroids, norms r
    delta = 1.0
    # Paper: cos_Na = r / (r + delta); reference: r / sqrt(r^2 + delta^2).
    np.testing.assert_allclose(nac_loss(x, y, p, delta), (delta / (r + delta)) ** 2, rtol=1e-12)
    np.testing.assert_allclose(nac_loss(x, y, p, delta, variant="reference"),
                               (1 - r / np.sqrt(r ** 2 + delta ** 2)) ** 2, rtol=1e-12)
    # The paper's denominator is larger, so it penalises small norms more.
    assert np.all(np.asarray(nac_loss(x, y, p, delta))
                  > np.asarray(nac_loss(x, y, p, delta, variant="reference")))
    # At delta = 0 both are the cosine loss.
    for variant in VARIANTS:
        np.testing.assert_allclose(nac_loss(x, y, p, 0.0, variant=variant),
                                   cosine_loss(x, y, p), atol=1e-12)


def test_sc_reference_is_paper_over_n_minus_one(x64):
    x, y, p = _data(n=7)
    paper = sc_loss(jnp.asarray(x), jnp.asarray(y), p)
    ref = sc_loss(jnp.asarray(x), jnp.asarray(y), p, variant="reference")
    np.testing.assert_allclose(ref, paper / 6, rtol=1e-12)


def test_pedcc_reference_mse_is_sum_not_half_mean(x64):
    x, y, p = _data()
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    am = pedcc_loss(xj, yj, p, lam=0.0)
    paper = pedcc_loss(xj, yj, p) - am
    ref = pedcc_loss(xj, yj, p, variant="reference") - am
    np.testing.assert_allclose(ref, paper * 2 * len(x), rtol=1e-10)


def test_pedcc_am_term_matches_margin_module():
    from mfdjax.losses import am_softmax_loss

    x, y, p = _data()
    xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y)
    am = am_softmax_loss(xj, yj, jnp.asarray(p, jnp.float32), scale=15.0, margin=0.5)
    np.testing.assert_allclose(pedcc_loss(xj, yj, p, lam=0.0), jnp.mean(am), rtol=1e-5)


# --------------------------------------------------------------------------- gradients


def _grad_cases():
    # Each case sums several losses and both variants (with distinct weights), so the
    # costly order-2 check runs twice, not eight times; a failure is narrowed down with
    # the per-loss value tests above.
    return {
        "cosine_nac_sc_pod": lambda x, y, p: (
            cosine_loss(x, y, p).sum() + nac_loss(x, y, p, 0.4).sum()
            + 0.5 * nac_loss(x, y, p, 0.4, variant="reference").sum()
            + pod_loss(x, y, p, 0.4, lam=1.0) + pod_loss(x, y, p, 0.4, lam=2.0,
                                                         variant="reference")),
        "pedcc": lambda x, y, p: (pedcc_loss(x, y, p, scale=4.0, root=2.0)
                                  + 0.3 * pedcc_loss(x, y, p, scale=4.0, root=2.0,
                                                     variant="reference")),
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", list(_grad_cases()))
def test_check_grads_order2_float64(x64, name):
    f = _grad_cases()[name]
    x, y, p = _data(b=5, n=4, k=3)
    yj = jnp.asarray(y)
    check_grads(jax.jit(lambda a: f(a, yj, p)), (jnp.asarray(x),), order=2,
                modes=("fwd", "rev"))


@pytest.mark.parametrize("name", list(_grad_cases()))
def test_zero_feature_rows_have_zero_bounded_gradient(name):
    f = _grad_cases()[name]
    x, y, p = _data()
    x[1] = 0.0
    val, grad = jax.jit(jax.value_and_grad(f))(jnp.asarray(x, jnp.float32), jnp.asarray(y), p)
    assert np.isfinite(val)
    # The dead sample gets no gradient (it was ~1e12 with a 1e-12 floor), the others a
    # gradient of the size of the loss's derivative over their norm.
    np.testing.assert_array_equal(np.asarray(grad)[1], 0.0)
    norms = np.linalg.norm(x, axis=1)
    assert np.all(np.linalg.norm(np.asarray(grad), axis=1) * np.maximum(norms, 1e-3) < 1e3)


def test_zero_features_zero_delta_give_loss_one():
    p = pedcc(4, 5)
    for variant in VARIANTS:
        np.testing.assert_allclose(nac_loss(jnp.zeros((2, 5)), jnp.array([0, 1]), p, 0.0,
                                            variant=variant), 1.0)


def test_pedcc_root_gradient_finite_at_zero_mse():
    p = pedcc(3, 4)
    x = jnp.asarray(p, jnp.float32)
    g = jax.jit(jax.grad(lambda a: pedcc_loss(a, jnp.arange(3), p, root=3.0)))(x)
    assert np.all(np.isfinite(g))


# --------------------------------------------------------------------------- transformations


def test_jit_vmap_equal_plain():
    x, y, p = _data(b=8, n=6, k=4)
    xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y)
    fns = {
        "cos": lambda a, b: cosine_loss(a, b, p),
        "pod": lambda a, b: pod_loss(a, b, p, 0.3),
        "pedcc": lambda a, b: pedcc_loss(a, b, p),
    }
    xs = jnp.stack([xj, 2 * xj[::-1], -xj])
    ys = jnp.stack([yj, yj[::-1], yj])
    for name, f in fns.items():
        want = [f(xj, yj)] + [jax.jit(f)(xs[i], ys[i]) for i in (1, 2)]  # plain, then jit
        np.testing.assert_allclose(jax.jit(f)(xj, yj), want[0], rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(jax.jit(jax.vmap(f))(xs, ys), jnp.stack(want), rtol=1e-5,
                                   atol=1e-7, err_msg=name)
        g = jax.jit(jax.vmap(jax.grad(lambda a, b, f=f: jnp.sum(f(a, b)))))(xs, ys)
        g0 = jax.jit(jax.grad(lambda a, b, f=f: jnp.sum(f(a, b))))(xs[1], ys[1])
        np.testing.assert_allclose(g[1], g0, rtol=1e-5, atol=1e-7, err_msg=name)


def test_traced_delta_under_jit():
    x, y, p = _data()
    xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y)
    f = jax.jit(lambda a, d: pod_loss(a, yj, p, d))
    np.testing.assert_allclose(f(xj, jnp.float32(0.3)), pod_loss(xj, yj, p, 0.3), rtol=1e-6)


def test_where_mask_equals_subset(x64):
    x, y, p = _data(b=9)
    mask = np.array([1, 1, 0, 1, 1, 1, 0, 1, 1], bool)
    xj, yj, m = jnp.asarray(x), jnp.asarray(y), jnp.asarray(mask)
    for variant in VARIANTS:  # pod covers sc's mask
        np.testing.assert_allclose(pod_loss(xj, yj, p, 0.2, where=m, variant=variant),
                                   ref_nac(x[mask], y[mask], p, 0.2, variant).mean()
                                   + ref_sc(x[mask], y[mask], p, variant), rtol=1e-12)
        np.testing.assert_allclose(pedcc_loss(xj, yj, p, where=m, variant=variant),
                                   ref_pedcc(x[mask], y[mask], p, 15.0, 0.5, 1.0, 1.0, variant),
                                   rtol=1e-12)


def test_axis_name_gives_global_batch_loss():
    devices = np.array(jax.devices()[:8])
    if devices.size < 8:
        pytest.skip("needs the 8 simulated devices of conftest.py")
    mesh = Mesh(devices, ("data",))
    x, y, p = _data(b=16, n=6, k=4)
    xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y)

    def local(a, b):
        return (pod_loss(a, b, p, 0.3, axis_name="data"),
                pedcc_loss(a, b, p, axis_name="data"),
                sc_loss(a, b, p, variant="reference", axis_name="data"),
                *nac_norm_stats(a, axis_name="data"))

    sharded = jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(P("data"), P("data")),
                                    out_specs=P()))
    got = sharded(xj, yj)
    want = (pod_loss(xj, yj, p, 0.3), pedcc_loss(xj, yj, p),
            sc_loss(xj, yj, p, variant="reference"), *nac_norm_stats(xj))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5)


# --------------------------------------------------------------------------- errors


def test_errors():
    x, y, p = _data()
    xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y)
    with pytest.raises(ValueError, match="`features` must have a floating dtype"):
        nac_loss(jnp.asarray(x).astype(jnp.int32), yj, p, 0.1)
    with pytest.raises(ValueError, match="`features` must have shape"):
        cosine_loss(xj[0], yj, p)
    with pytest.raises(ValueError, match="`centroids` must have shape \\(num_classes, 5\\)"):
        sc_loss(xj, yj, p[:, :3])
    with pytest.raises(ValueError, match="`labels` must hold integer"):
        pod_loss(xj, yj.astype(jnp.float32), p, 0.1)
    with pytest.raises(ValueError, match="`labels` values must lie in \\[0, 4\\)"):
        cosine_loss(xj, yj.at[0].set(4), p)
    with pytest.raises(ValueError, match="`labels` must have shape"):
        nac_loss(xj, yj[:3], p, 0.1)
    with pytest.raises(ValueError, match="`variant`"):
        nac_loss(xj, yj, p, 0.1, variant="pytorch")
    with pytest.raises(ValueError, match="`delta`"):
        nac_loss(xj, yj, p, -0.1)
    with pytest.raises(ValueError, match="`delta` must be a scalar"):
        nac_loss(xj, yj, p, jnp.ones(3))
    with pytest.raises(ValueError, match="at least 2 samples"):
        sc_loss(xj[:1], yj[:1], p)
    with pytest.raises(ValueError, match="`where` must be a boolean mask of shape"):
        sc_loss(xj, yj, p, where=jnp.ones(3, bool))
    with pytest.raises(ValueError, match="`where` must have dtype bool"):
        pod_loss(xj, yj, p, 0.1, where=jnp.ones(6))
    with pytest.raises(ValueError, match="`lam`"):
        pod_loss(xj, yj, p, 0.1, lam=-1.0)
    with pytest.raises(ValueError, match="`root`"):
        pedcc_loss(xj, yj, p, root=0.5)
    with pytest.raises(ValueError, match="`scale`"):
        pedcc_loss(xj, yj, p, scale=0.0)
    with pytest.raises(ValueError, match="`centroids` must be a JAX or NumPy array"):
        cosine_loss(xj, yj, p.tolist())


# --------------------------------------------------------------------------- delta schedule


def test_nac_delta_paper_values():
    assert NAC_INITIAL_MEAN_NORM == 0.05
    np.testing.assert_allclose(nac_delta(1), 0.01 * 1 * 0.05)
    for e, m in [(1, 3.0), (2, 3.0), (30, 12.5), (100, 0.0)]:
        np.testing.assert_allclose(nac_delta(e, m), 0.01 * e * m, rtol=1e-6)
    np.testing.assert_allclose(nac_delta(4, 2.0, alpha=0.1), 0.8, rtol=1e-6)
    np.testing.assert_allclose(nac_delta(4, 2.0, alpha=0.0), 0.0)


def test_nac_delta_reference_values():
    # train.py: delta = 0.05 in the first epoch, then alpha * (epoch + 1) * mean||logits||
    # after the (0-based) epoch that just ended, i.e. alpha * (e - 1) * M for 1-based e.
    for m in (0.0, 7.0):
        np.testing.assert_allclose(nac_delta(1, m, variant="reference"), 0.05)
    for e, m in [(2, 7.0), (3, 7.0), (50, 1.5)]:
        np.testing.assert_allclose(nac_delta(e, m, variant="reference"), 0.01 * (e - 1) * m,
                                   rtol=1e-6)


def test_nac_delta_jit_and_errors():
    f = jax.jit(lambda e, m: nac_delta(e, m, variant="reference"))
    np.testing.assert_allclose(f(1, 3.0), 0.05)
    np.testing.assert_allclose(f(5, 3.0), 0.01 * 4 * 3.0, rtol=1e-6)
    np.testing.assert_allclose(jax.jit(nac_delta)(5, 3.0), 0.01 * 5 * 3.0, rtol=1e-6)
    with pytest.raises(ValueError, match="1-based"):
        nac_delta(0, 1.0)
    with pytest.raises(ValueError, match="`mean_norm`"):
        nac_delta(2, -1.0)
    with pytest.raises(ValueError, match="`alpha`"):
        nac_delta(2, 1.0, alpha=-0.01)
    with pytest.raises(ValueError, match="`variant`"):
        nac_delta(2, 1.0, variant="x")


def test_nac_norm_stats(x64):
    x, y, p = _data(b=7)
    total, count = nac_norm_stats(jnp.asarray(x))
    np.testing.assert_allclose(total, np.linalg.norm(x, axis=1).sum(), rtol=1e-12)
    assert float(count) == 7
    total, count = nac_norm_stats(jnp.asarray(x), 2.0 * p, variant="reference")
    np.testing.assert_allclose(total, np.linalg.norm(x @ _unit(p).T, axis=1).sum(), rtol=1e-12)
    mask = np.array([1, 0, 1, 1, 0, 1, 1], bool)
    total, count = nac_norm_stats(jnp.asarray(x), where=jnp.asarray(mask))
    np.testing.assert_allclose(total, np.linalg.norm(x[mask], axis=1).sum(), rtol=1e-12)
    assert float(count) == 5
    with pytest.raises(ValueError, match="`centroids` is required"):
        nac_norm_stats(jnp.asarray(x), variant="reference")


# --------------------------------------------------------------------------- behaviour


def test_pod_descent_moves_features_to_centroids():
    """Free features trained with POD (delta schedule included) end on their centroids."""
    x, y, p = _data(b=12, n=8, k=4, seed=1)
    yj = jnp.asarray(y)
    opt = optax.sgd(5.0)
    x0 = jnp.asarray(x, jnp.float32)

    @jax.jit
    def step(xx, state, delta):
        loss, g = jax.value_and_grad(lambda a: pod_loss(a, yj, p, delta))(xx)
        upd, state = opt.update(g, state)
        return optax.apply_updates(xx, upd), state, loss

    xx, state = x0, opt.init(x0)
    m = NAC_INITIAL_MEAN_NORM
    losses = []
    for epoch in range(1, 4):
        delta = nac_delta(epoch, m)
        for _ in range(40):
            xx, state, loss = step(xx, state, delta)
            losses.append(float(loss))
        total, count = nac_norm_stats(xx)
        m = total / count
    assert losses[-1] < 0.1 * losses[0]
    np.testing.assert_array_equal(cosine_classify(xx, p), y)
    cos = np.sum(_unit(np.asarray(xx)) * p[y], axis=1)
    assert cos.min() > 0.5
