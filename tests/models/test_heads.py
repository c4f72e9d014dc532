"""Heads on a real backbone: linear (bias option), cosine (unit rows), POD (fixed PEDCC)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mfdjax import models
from mfdjax.models.heads import make_head
from tests.models._helpers import fast_jit, init_vars


def _setup(head, **kw):
    model = models.get("resnet_mini", num_classes=4, stem="cifar", head=head, head_kwargs=kw)
    x = jax.random.normal(jax.random.key(1), (4, 8, 8, 3))
    return model, x, init_vars(model, x)


@pytest.mark.parametrize("use_bias", [True, False])
def test_linear_head_bias_option(use_bias):
    model, x, v = _setup("linear", use_bias=use_bias)
    fc = v["params"]["head"]["fc"]
    assert fc["kernel"].shape == (32, 4)
    assert ("bias" in fc) == use_bias
    logits, out = fast_jit(lambda v, x: model.apply(v, x, train=False))(v, x)
    expected = out["pre_logits"] @ fc["kernel"] + (fc["bias"] if use_bias else 0.0)
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)


def test_cosine_head_unit_rows_and_bounded_logits():
    model, x, v = _setup("cosine")
    logits, out = fast_jit(lambda v, x: model.apply(v, x, train=False))(v, x)
    w = out["weights"]
    assert w.shape == (4, 32)
    np.testing.assert_allclose(jnp.linalg.norm(w, axis=1), 1.0, rtol=1e-5)
    f = out["pre_logits"]
    expected = (f / jnp.linalg.norm(f, axis=1, keepdims=True)) @ w.T
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
    assert float(jnp.max(jnp.abs(logits))) <= 1.0 + 1e-5


def test_pod_head_centroids_fixed_after_sgd_step():
    from mfdjax.pedcc import pedcc
    model, x, v = _setup("pod", dim=8)
    params = v["params"]
    # Only FC1 is trainable in the head; the PEDCC matrix is not a parameter.
    assert set(params["head"]) == {"fc1"} and params["head"]["fc1"]["kernel"].shape == (32, 8)
    y = jnp.array([0, 1, 2, 3])

    def loss(params):
        (logits, out), upd = model.apply({"params": params, "batch_stats": v["batch_stats"]}, x,
                                         train=True, mutable=["batch_stats"])
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(10.0 * logits, y)), out

    vg = fast_jit(jax.value_and_grad(loss, has_aux=True))
    (_, out0), g = vg(params)
    opt = optax.sgd(0.5)
    updates, _ = opt.update(g, opt.init(params), params)
    new_params = optax.apply_updates(params, updates)
    (_, out1), _ = vg(new_params)
    ref = np.asarray(pedcc(4, 8, seed=0), np.float32)
    np.testing.assert_allclose(out0["centroids"], ref, atol=1e-6)
    np.testing.assert_array_equal(out0["centroids"], out1["centroids"])
    assert out0["pre_logits"].shape == (4, 8)  # FC1's output, the POD feature
    assert not np.allclose(params["head"]["fc1"]["kernel"], new_params["head"]["fc1"]["kernel"])


def test_pod_head_needs_dim_and_bad_heads():
    with pytest.raises(ValueError, match="dim"):
        models.get("resnet_mini", num_classes=4, head="pod")
    with pytest.raises(ValueError, match="head"):
        models.get("resnet_mini", num_classes=4, head="arc")
    with pytest.raises(ValueError, match="num_classes"):
        make_head("linear", 1)
