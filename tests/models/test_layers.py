"""Conv2D / conv2d: nn.Conv's parameters and values, with the 1x1 kernel tangent as a matmul."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

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


@pytest.mark.parametrize("impl", ["dot", "xla"])
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

    with conv_impl("dot"):
        got = max_pool2d(x, window, stride, pad)
    want = nn.max_pool(x, (window, window), strides=(stride, stride),
                       padding=((pad, pad),) * 2)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(jax.jit(jax.grad(loss("dot")))(x), jax.grad(loss("xla"))(x))


def test_max_pool2d_gradient_of_tied_maxima_is_shared():
    """The documented difference: a window of equal values shares its gradient."""
    x = jnp.ones((1, 2, 2, 1))
    with conv_impl("dot"):
        g = jax.grad(lambda x: jnp.sum(max_pool2d(x, 2, 2)))(x)
    assert float(jnp.sum(g)) == pytest.approx(1.0)
