"""The L-Softmax paper's CNN (PReLU + BN), configs "mnist" and "cifar"."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mfdjax import models
from mfdjax.models import COLLECTION, collect_features
from mfdjax.models.lsoftmax_cnn import PReLU
from tests.models._helpers import fast_jit, init_vars, MUT


def _abstract(model, shape, level=None):
    v = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(shape), train=False))
    if level is None:
        return v
    _, upd = jax.eval_shape(
        lambda v, x: model.apply(v, x, train=True, features=level, mutable=MUT),
        v, jax.ShapeDtypeStruct(shape, jnp.float32))
    return collect_features(upd.get(COLLECTION, {}))


def _count(v):
    return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(v["params"]))


def _expected_params(units, in_ch, flat, fc=256, k=10):
    n, c = 0, in_ch
    for unit in units:
        if unit is None:
            continue
        ch, reps = unit
        for _ in range(reps):
            n += 9 * c * ch + ch + ch + 2 * ch  # conv W + b, PReLU alpha, BN scale + bias
            c = ch
    return n + flat * fc + fc + fc + fc * k + k  # FC, its PReLU, linear head


@pytest.mark.parametrize("config,shape,flat", [("mnist", (1, 28, 28, 1), 3 * 3 * 64),
                                               ("cifar", (1, 32, 32, 3), 4 * 4 * 128)])
def test_table1_architecture(config, shape, flat):
    from mfdjax.models.lsoftmax_cnn import CONFIGS
    model = models.get("lsoftmax_cnn", num_classes=10, config=config)
    v = _abstract(model, shape)
    assert _count(v) == _expected_params(CONFIGS[config], shape[-1], flat)
    n_conv = sum(u[1] for u in CONFIGS[config] if u is not None)
    assert n_conv == (9 if config == "mnist" else 13)
    stages = _abstract(model, shape, "stages")
    assert stages[-1].shape == (1, 256)
    if config == "mnist":
        assert [m.shape[1:] for m in stages[:-1]] == [(28, 28, 64), (14, 14, 64), (7, 7, 64)]
    else:
        assert [m.shape[1:] for m in stages[:-1]] == [(32, 32, 64), (32, 32, 64),
                                                      (16, 16, 96), (8, 8, 128)]
    assert len(_abstract(model, shape, "blocks")) == len(stages) - 1
    assert len(_abstract(model, shape, "layers")) == n_conv + 1


def test_prelu_and_bn_order():
    x = jnp.array([[-2.0, 3.0], [1.0, -1.0]])
    y, _ = PReLU().init_with_output(jax.random.key(0), x)
    np.testing.assert_allclose(y, [[-0.5, 3.0], [1.0, -0.25]])
    model = models.get("lsoftmax_cnn_mini", num_classes=3)
    xs = jax.random.normal(jax.random.key(1), (8, 8, 8, 3))
    v = init_vars(model, xs)
    _, upd = fast_jit(lambda v, x: model.apply(v, x, train=True, features="layers",
                                              mutable=MUT))(v, xs)
    first = collect_features(upd)[0]
    # BN is the last op of each layer: in train mode every channel has ~zero mean, unit var.
    np.testing.assert_allclose(first.mean((0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(first.var((0, 1, 2)), 1.0, rtol=1e-2)


def test_forward_backward_heads_and_bf16():
    x = jax.random.normal(jax.random.key(2), (4, 16, 16, 3))
    for head, kw in [("linear", {}), ("cosine", {})]:
        model = models.get("lsoftmax_cnn_mini", num_classes=5, head=head, head_kwargs=kw)
        v = init_vars(model, x)

        def loss(params):
            (logits, out), _ = model.apply({"params": params, "batch_stats": v["batch_stats"]},
                                           x, train=True, mutable=["batch_stats"])
            return -jnp.mean(jax.nn.log_softmax(logits)[:, 1]), out

        (val, out), g = fast_jit(jax.value_and_grad(loss, has_aux=True))(v["params"])
        assert out["pre_logits"].shape == (4, 16) and np.isfinite(float(val))
        for path, leaf in jax.tree_util.tree_leaves_with_path(g["backbone"]):
            assert float(jnp.max(jnp.abs(leaf))) > 0, jax.tree_util.keystr(path)
    model = models.get("lsoftmax_cnn_mini", num_classes=5, dtype=jnp.bfloat16)
    v = init_vars(model, x)
    (logits, _), upd = fast_jit(lambda v, x: model.apply(v, x, train=True, mutable=MUT))(v, x)
    assert logits.dtype == jnp.float32 and collect_features(upd.get(COLLECTION, {})) == []


def test_bad_arguments():
    with pytest.raises(ValueError, match="stem"):
        models.get("lsoftmax_cnn", num_classes=10, stem="imagenet")
    models.get("lsoftmax_cnn", num_classes=10, stem="cifar")
    model = models.get("lsoftmax_cnn", num_classes=10, config="svhn")
    with pytest.raises(ValueError, match="config"):
        model.init(jax.random.key(0), jnp.ones((1, 32, 32, 3)), train=False)
