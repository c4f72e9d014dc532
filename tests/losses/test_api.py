"""The public calling convention of mfdjax.losses: one argument order, named swaps,
`channel_axis`, one batch size per `mfd_loss` call. Each check runs with and without
jit (chex variants): the checks are trace-time, so both must behave alike."""

from __future__ import annotations

import inspect

import chex
import jax.numpy as jnp
import numpy as np
import pytest

import mfdjax.losses as L

B, D, K = 8, 5, 4
RNG = np.random.default_rng(0)
X = jnp.asarray(RNG.standard_normal((B, D)), jnp.float32)
Y = jnp.asarray(RNG.integers(0, K, B), jnp.int32)
W = jnp.asarray(RNG.standard_normal((K, D)), jnp.float32)

# Every loss that takes a class matrix, with the name of its matrix argument.
CLASS_MATRIX = {
    "am_softmax_loss": "weights", "arcface_loss": "weights", "combined_margin_loss": "weights",
    "l_softmax_loss": "weights", "w_softmax_loss": "weights", "center_loss": "centers",
    "center_update": "centers", "cosine_loss": "centroids", "nac_loss": "centroids",
    "sc_loss": "centroids", "pod_loss": "centroids", "pedcc_loss": "centroids",
}
EXTRA = {"w_softmax_loss": {"alpha": 1.0}}
POSITIONAL = {"nac_loss": (0.1,), "pod_loss": (0.1,)}


@pytest.mark.parametrize("name", sorted(CLASS_MATRIX))
def test_one_argument_order(name):
    params = list(inspect.signature(getattr(L, name)).parameters)
    assert params[:3] == ["features", "labels", CLASS_MATRIX[name]], params


class SwapTest(chex.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    def test_swapped_labels_and_class_matrix_are_named(self):
        for name, matrix in CLASS_MATRIX.items():
            fn = getattr(L, name)
            rest, kw = POSITIONAL.get(name, ()), EXTRA.get(name, {})
            f = self.variant(lambda x, a, b, fn=fn, rest=rest, kw=kw: fn(x, a, b, *rest, **kw))
            with self.assertRaisesRegex(ValueError, f"did you swap `labels` and `{matrix}`"):
                f(X, W, Y)
            f(X, Y, W)   # the documented order runs

    @chex.variants(with_jit=True, without_jit=True)
    def test_mfd_channel_axis(self):
        a = jnp.asarray(RNG.standard_normal((B, 3, 3, 6)), jnp.float32)
        nhwc = self.variant(lambda m: L.mfd_loss(m))(a)
        nchw = self.variant(lambda m: L.mfd_loss(m, channel_axis=1))(jnp.moveaxis(a, -1, 1))
        np.testing.assert_allclose(nchw, nhwc, rtol=1e-6)
        corr = self.variant(lambda m: L.feature_correlation(m, channel_axis=1))(
            jnp.moveaxis(a, -1, 1))
        np.testing.assert_allclose(corr, L.feature_correlation(a), rtol=1e-5, atol=1e-6)
        with self.assertRaisesRegex(ValueError, "channel_axis"):
            self.variant(lambda m: L.mfd_loss(m, channel_axis=0))(a)

    @chex.variants(with_jit=True, without_jit=True)
    def test_mfd_refuses_maps_of_different_batch_sizes(self):
        a = jnp.ones((8, 2, 4), jnp.float32)
        b = jnp.ones((4, 2, 4), jnp.float32)
        with self.assertRaisesRegex(ValueError, r"same batch size.*features\[0\]: 8, "
                                                r"features\[1\]: 4"):
            self.variant(lambda p, q: L.mfd_loss([p, q]))(a, b)
