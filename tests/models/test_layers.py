"""Conv2D / conv2d / max_pool2d: nn.Conv's and nn.max_pool's parameters, values and gradients
under every CPU formulation (1x1 kernel tangent, small-map im2col, first-maximum pool)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from mfdjax.models import layers
from mfdjax.models.layers import Conv2D, conv2d, conv_impl, max_pool2d

CASES = [  # kernel, stride, groups
    (1, 1, 1), (1, 2, 1), (3, 1, 1), (3, 2, 1), (3, 1, 3), (1, 1, 2), (7, 2, 1)]


def _pair(k, s, g, features=6):
    ref = nn.Conv(features, (k, k), strides=s, padding=((k // 2, k // 2),) * 2,
                  use_bias=False, feature_group_count=g)
    return ref, Conv2D(features, k, strides=s, padding=k // 2, groups=g)


def _conv64(x, w, s, p):
    """The convolution in float64 NumPy, from its definition (cross-correlation)."""
    n, h, wd, ci = x.shape
    k = w.shape[0]
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    ho, wo = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
    out = np.zeros((n, ho, wo, w.shape[3]))
    for i in range(k):
        for j in range(k):
            patch = xp[:, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s, :]
            out += patch @ w[i, j]
    return out


@pytest.mark.parametrize("impl", ["dot", "xla", "matmul"])
@pytest.mark.parametrize("k,s,g", CASES)
def test_same_params_and_values_as_nn_conv(impl, k, s, g):
    x = jax.random.normal(jax.random.key(0), (3, 9, 9, 6))
    ref, mine = _pair(k, s, g)
    with conv_impl(impl):
        p_ref = ref.init(jax.random.key(1), x)
        p = mine.init(jax.random.key(1), x)
        assert jax.tree.structure(p) == jax.tree.structure(p_ref)
        for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(p_ref)):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(mine.apply(p, x), ref.apply(p_ref, x))

        def loss(m):
            return lambda p, x: jnp.sum(jnp.sin(m.apply(p, x)))

        g_ref = jax.grad(loss(ref), argnums=(0, 1))(p_ref, x)
        g_mine = jax.jit(jax.grad(loss(mine), argnums=(0, 1)))(p, x)
    for a, b in zip(jax.tree.leaves(g_mine), jax.tree.leaves(g_ref)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stride", [1, 2])
def test_1x1_kernel_gradient_against_float64(stride):
    """d/dw sum(c * conv(x, w)) = sum over positions of x (outer) c, in float64."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 7, 7, 5)).astype(np.float32)
    w = rng.standard_normal((1, 1, 5, 3)).astype(np.float32)
    y64 = _conv64(x.astype(np.float64), w.astype(np.float64), stride, 0)
    c = rng.standard_normal(y64.shape).astype(np.float32)
    with conv_impl("dot"):
        y = conv2d(jnp.asarray(x), jnp.asarray(w), stride=stride)
        gw = jax.grad(lambda w: jnp.sum(c * conv2d(jnp.asarray(x), w, stride=stride)))(
            jnp.asarray(w))
    np.testing.assert_allclose(y, y64, rtol=1e-5, atol=1e-5)
    xs = x.astype(np.float64)[:, ::stride, ::stride, :]
    gw64 = np.einsum("nhwc,nhwd->cd", xs, c.astype(np.float64))[None, None]
    np.testing.assert_allclose(gw, gw64, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("stride", [1, 2])
def test_1x1_forward_and_reverse_mode_check_grads(stride):
    """The custom JVP keeps forward mode, reverse mode and second order working."""
    x = jax.random.normal(jax.random.key(0), (2, 5, 5, 4), jnp.float64) \
        if jax.config.jax_enable_x64 else jax.random.normal(jax.random.key(0), (2, 5, 5, 4))
    w = jax.random.normal(jax.random.key(1), (1, 1, 4, 3), x.dtype)
    tol = 1e-6 if x.dtype == jnp.float64 else 5e-2
    with conv_impl("dot"):
        check_grads(lambda x, w: conv2d(x, w, stride=stride), (x, w), order=2,
                    modes=("fwd", "rev"), atol=tol, rtol=tol)


def test_vmap_and_jit_through_the_custom_jvp():
    xs = jax.random.normal(jax.random.key(0), (3, 2, 4, 4, 5))
    w = jax.random.normal(jax.random.key(1), (1, 1, 5, 2))
    with conv_impl("dot"):
        f = jax.jit(jax.vmap(jax.grad(lambda x, w: jnp.sum(conv2d(x, w) ** 2), argnums=1),
                             in_axes=(0, None)))
        got = f(xs, w)
    with conv_impl("xla"):
        want = jax.vmap(jax.grad(lambda x, w: jnp.sum(conv2d(x, w) ** 2), argnums=1),
                        in_axes=(0, None))(xs, w)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_conv_impl_rejects_unknown_names_and_restores():
    with pytest.raises(ValueError, match="`impl` must be one of"):
        with conv_impl("fast"):
            pass
    x = jnp.ones((1, 3, 3, 2))
    with conv_impl("xla"):
        txt_xla = jax.jit(jax.grad(lambda w: jnp.sum(conv2d(x, w)))).lower(
            jnp.ones((1, 1, 2, 2))).as_text()
    with conv_impl("dot"):
        txt_dot = jax.jit(jax.grad(lambda w: jnp.sum(conv2d(x, w)))).lower(
            jnp.ones((1, 1, 2, 2))).as_text()
    assert "dot_general" in txt_dot and "dot_general" not in txt_xla


def test_groups_must_divide_the_input_channels():
    with pytest.raises(ValueError, match="not divisible by `groups`"):
        Conv2D(4, 3, groups=4).init(jax.random.key(0), jnp.ones((1, 5, 5, 6)))


@pytest.mark.parametrize("window,stride,pad,size", [(3, 2, 1, 9), (3, 2, 1, 8), (2, 2, 0, 8),
                                                    (3, 1, 1, 5)])
def test_max_pool2d_matches_flax_values_and_gradients(window, stride, pad, size):
    """Random inputs have no tied maxima, so the gradients agree exactly too."""
    x = jax.random.normal(jax.random.key(0), (2, size, size, 3))
    c = jax.random.normal(jax.random.key(1), nn.max_pool(
        x, (window, window), strides=(stride, stride), padding=((pad, pad),) * 2).shape)

    def loss(impl):
        def f(x):
            with conv_impl(impl):
                return jnp.sum(c * max_pool2d(x, window, stride, pad))
        return f

    want = nn.max_pool(x, (window, window), strides=(stride, stride),
                       padding=((pad, pad),) * 2)
    for impl in ("dot", "matmul"):
        with conv_impl(impl):
            got = max_pool2d(x, window, stride, pad)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(jax.jit(jax.grad(loss(impl)))(x),
                                      jax.grad(loss("xla"))(x))


def test_max_pool2d_gradient_of_tied_maxima_is_shared():
    """The documented difference: a window of equal values shares its gradient."""
    x = jnp.ones((1, 2, 2, 1))
    with conv_impl("dot"):  # the 0.1.0 formulation; "matmul" gives it to one (see below)
        g = jax.grad(lambda x: jnp.sum(max_pool2d(x, 2, 2)))(x)
    assert float(jnp.sum(g)) == pytest.approx(1.0)


# --- the CPU default ("matmul"): small maps as one im2col matmul, first-maximum pool ---

SMALL = [  # input size, kernel, stride, pad: at most 16 output positions
    (4, 3, 1, 1), (4, 3, 2, 1), (2, 3, 1, 1), (7, 3, 2, 1), (3, 5, 1, 2), (5, 2, 2, 0)]


def test_the_cpu_default_is_matmul():
    assert jax.default_backend() == "cpu"
    assert layers._resolve_impl() == "matmul"
    with conv_impl("xla"):
        assert layers._resolve_impl() == "xla"


@pytest.mark.parametrize("size,k,s,p", SMALL)
def test_small_map_convolution_is_one_matmul_and_matches_float64(size, k, s, p):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, size, size, 5)).astype(np.float32)
    w = rng.standard_normal((k, k, 5, 4)).astype(np.float32)
    y64 = _conv64(x.astype(np.float64), w.astype(np.float64), s, p)
    c = rng.standard_normal(y64.shape).astype(np.float32)

    def loss(x, w):
        return jnp.sum(c * conv2d(x, w, stride=s, pad=p))

    with conv_impl("matmul"):
        assert layers._use_im2col(x, w, s, p)
        y = conv2d(jnp.asarray(x), jnp.asarray(w), stride=s, pad=p)
        txt = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(x, w).as_text()
        gx, gw = jax.jit(jax.grad(loss, argnums=(0, 1)))(x, w)
    assert "convolution" not in txt and "dot_general" in txt
    np.testing.assert_allclose(y, y64, rtol=1e-5, atol=1e-5)
    # d/dw sum(c * conv) = sum over positions of patch (outer) c, in float64.
    xp = np.pad(x.astype(np.float64), ((0, 0), (p, p), (p, p), (0, 0)))
    ho, wo = y64.shape[1:3]
    gw64 = np.zeros(w.shape)
    gx64 = np.zeros(xp.shape)
    for i in range(k):
        for j in range(k):
            sl = (slice(None), slice(i, i + s * (ho - 1) + 1, s), slice(j, j + s * (wo - 1) + 1, s))
            gw64[i, j] = np.einsum("nhwc,nhwd->cd", xp[sl], c.astype(np.float64))
            gx64[sl] += c.astype(np.float64) @ w[i, j].astype(np.float64).T
    gx64 = gx64[:, p:p + size, p:p + size]
    np.testing.assert_allclose(gw, gw64, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gx, gx64, rtol=1e-5, atol=1e-5)


def test_large_maps_and_grouped_convolutions_keep_xla():
    x = jnp.ones((1, 9, 9, 4))
    with conv_impl("matmul"):
        assert not layers._use_im2col(x, jnp.ones((3, 3, 4, 4)), 1, 1)   # 81 positions
        txt = jax.jit(lambda w: conv2d(x, w, pad=1, groups=2)).lower(
            jnp.ones((3, 3, 2, 4))).as_text()
    assert "convolution" in txt


@pytest.mark.parametrize("size,k,s,p", SMALL[:3])
def test_im2col_forward_and_reverse_mode_check_grads(size, k, s, p):
    dt = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    x = jax.random.normal(jax.random.key(0), (2, size, size, 3), dt)
    w = jax.random.normal(jax.random.key(1), (k, k, 3, 2), dt)
    tol = 1e-6 if dt == jnp.float64 else 5e-2
    with conv_impl("matmul"):
        check_grads(lambda x, w: conv2d(x, w, stride=s, pad=p), (x, w), order=2,
                    modes=("fwd", "rev"), atol=tol, rtol=tol)


def test_im2col_under_vmap_over_kernels_equals_one_at_a_time():
    """Packed seeds vmap the parameters: each kernel's gradient is its own."""
    xs = jax.random.normal(jax.random.key(0), (3, 2, 4, 4, 5))
    ws = jax.random.normal(jax.random.key(1), (3, 3, 3, 5, 2))

    def g(x, w):
        return jax.grad(lambda w: jnp.sum(jnp.sin(conv2d(x, w, pad=1))))(w)

    with conv_impl("matmul"):
        got = jax.jit(jax.vmap(g))(xs, ws)
    with conv_impl("xla"):
        want = [g(xs[i], ws[i]) for i in range(3)]
    for i in range(3):
        np.testing.assert_allclose(got[i], want[i], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("x", [
    jnp.ones((1, 6, 6, 2)),                                               # every window tied
    jnp.maximum(jax.random.normal(jax.random.key(3), (2, 9, 9, 3)), 0.0),  # ReLU zeros tie
    jnp.round(jax.random.normal(jax.random.key(4), (2, 8, 8, 3))),         # integers tie
], ids=["constant", "relu", "integers"])
@pytest.mark.parametrize("window,stride,pad", [(3, 2, 1), (2, 2, 0), (3, 1, 1)])
def test_max_pool_first_maximum_gradient_equals_xla_with_ties(x, window, stride, pad):
    """Under "matmul" each window's gradient goes to its first maximum, as XLA's does."""
    c = jax.random.normal(jax.random.key(1), nn.max_pool(
        x, (window, window), strides=(stride, stride), padding=((pad, pad),) * 2).shape)

    def grad(impl):
        with conv_impl(impl):
            return jax.jit(jax.grad(lambda x: jnp.sum(c * max_pool2d(x, window, stride, pad))))(x)

    np.testing.assert_array_equal(grad("matmul"), grad("xla"))


def test_max_pool_first_maximum_check_grads_and_vmap():
    dt = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    x = jax.random.normal(jax.random.key(0), (2, 7, 7, 2), dt)
    tol = 1e-6 if dt == jnp.float64 else 5e-2
    with conv_impl("matmul"):
        check_grads(lambda x: max_pool2d(x, 3, 2, 1), (x,), order=2, modes=("fwd", "rev"),
                    eps=1e-3, atol=tol, rtol=tol)
        xs = jax.random.normal(jax.random.key(1), (3, 2, 7, 7, 2))
        got = jax.vmap(jax.grad(lambda x: jnp.sum(jnp.sin(max_pool2d(x, 3, 2, 1)))))(xs)
    with conv_impl("xla"):
        want = jax.vmap(jax.grad(lambda x: jnp.sum(jnp.sin(max_pool2d(x, 3, 2, 1)))))(xs)
    np.testing.assert_array_equal(got, want)
