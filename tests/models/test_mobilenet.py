"""MobileNetV2: torchvision parameter count, five-stage / block / layer sowing, stems, training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mfdjax import models
from mfdjax.losses.mfd import mfd_loss
from mfdjax.models import COLLECTION, collect_features
from mfdjax.models.mobilenet import make_divisible
from tests.models._helpers import fast_jit, init_vars, abstract_vars, abstract_maps, MUT


def _n_params(v):
    return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(v["params"]))


def test_torchvision_param_count():
    assert _n_params(abstract_vars(models.get("mobilenet_v2", num_classes=1000),
                                    (1, 64, 64, 3))) == 3_504_872


def test_make_divisible_matches_torchvision():
    assert [make_divisible(c * 0.5) for c in (32, 16, 24, 96, 320)] == [16, 8, 16, 48, 160]
    assert make_divisible(1280 * 1.0) == 1280 and make_divisible(10) == 16


def test_mobilenet_v2_sow_counts_and_shapes():
    model = models.get("mobilenet_v2", num_classes=10)
    shape = (2, 64, 64, 3)
    stages = abstract_maps(model, shape, "stages")
    assert [m.shape[1:] for m in stages] == [(32, 32, 16), (16, 16, 24), (8, 8, 32),
                                             (4, 4, 96), (2, 2, 1280)]
    blocks = abstract_maps(model, shape, "blocks")
    assert [m.shape[-1] for m in blocks] == ([16] + [24] * 2 + [32] * 3 + [64] * 4 + [96] * 3
                                             + [160] * 3 + [320])
    layers = abstract_maps(model, shape, "layers")
    assert len(layers) == 52
    # stem 32, block 1 (t=1): dw 32, out 16; block 2: expand 96, dw 96 (stride 2), out 24.
    assert [m.shape[1:] for m in layers[:6]] == [(32, 32, 32), (32, 32, 32), (32, 32, 16),
                                                (32, 32, 96), (16, 16, 96), (16, 16, 24)]
    assert layers[-1].shape[1:] == (2, 2, 1280)


@pytest.mark.parametrize("stem,sizes", [("imagenet", [16, 8, 4, 2, 1]),
                                        ("cifar", [32, 32, 16, 8, 4]),
                                        ("cifar_pool", [32, 16, 8, 4, 2])])
def test_stem_spatial_size(stem, sizes):
    stages = abstract_maps(models.get("mobilenet_v2_mini", num_classes=3, stem=stem),
                            (1, 32, 32, 3), "stages")
    assert [m.shape[1] for m in stages] == sizes


def test_width_mult():
    model = models.get("mobilenet_v2", num_classes=10, width_mult=0.5)
    blocks = abstract_maps(model, (1, 32, 32, 3), "blocks")
    assert blocks[0].shape[-1] == 8 and blocks[-1].shape[-1] == 160
    v = abstract_vars(model, (1, 32, 32, 3))
    assert v["params"]["head"]["fc"]["kernel"].shape == (1280, 10)


@pytest.mark.slow
def test_forward_backward_residual_and_mfd_gradient():
    model = models.get("mobilenet_v2_mini", num_classes=4, stem="cifar")
    x = jax.random.normal(jax.random.key(1), (4, 8, 8, 3))
    v = init_vars(model, x)
    # depthwise conv: one input channel per group.
    dw = v["params"]["backbone"]["features02"]["depthwise"]["conv"]["kernel"]
    assert dw.shape == (3, 3, 1, 16)

    def decor(params):
        (logits, _), upd = model.apply({"params": params, "batch_stats": v["batch_stats"]}, x,
                                       train=True, features="layers", mutable=MUT)
        maps = collect_features(upd)
        assert len(maps) == 1 + 2 + 6 * 3 + 1
        return -jnp.mean(jax.nn.log_softmax(logits)[:, 0]) + mfd_loss(maps)

    g = fast_jit(jax.grad(decor))(v["params"])
    leaves = jax.tree.leaves(g)
    assert all(np.all(np.isfinite(leaf)) for leaf in leaves)
    kernels = [leaf for p, leaf in jax.tree_util.tree_leaves_with_path(g["backbone"])
               if "kernel" in jax.tree_util.keystr(p)]
    assert len(kernels) == 1 + 2 + 6 * 3 + 1
    assert all(float(jnp.max(jnp.abs(k))) > 0 for k in kernels)


def test_features_none_bf16_eval_and_dropout():
    model = models.get("mobilenet_v2_mini", num_classes=4, stem="cifar", dtype=jnp.bfloat16)
    x = jax.random.normal(jax.random.key(2), (2, 8, 8, 3))
    v = init_vars(model, x)
    (logits, out), upd = fast_jit(lambda v, x: model.apply(v, x, train=True, mutable=MUT))(v, x)
    assert logits.dtype == jnp.float32 and out["pre_logits"].shape == (2, 32)
    assert collect_features(upd.get(COLLECTION, {})) == []
    logits_eval, _ = fast_jit(lambda v, x: model.apply(v, x, train=False))(v, x)
    assert np.all(np.isfinite(logits_eval))
    drop = models.get("mobilenet_v2_mini", num_classes=4, stem="cifar", dropout_rate=0.5)
    run = fast_jit(lambda v, x, k: drop.apply(v, x, train=True, mutable=["batch_stats"],
                                             rngs={"dropout": k})[0][0])
    assert not np.allclose(run(v, x, jax.random.key(1)), run(v, x, jax.random.key(2)))
    plain = models.get("mobilenet_v2_mini", num_classes=4, stem="cifar")
    np.testing.assert_allclose(fast_jit(lambda v, x: drop.apply(v, x, train=False)[0])(v, x),
                               fast_jit(lambda v, x: plain.apply(v, x, train=False)[0])(v, x),
                               rtol=1e-6)


def test_bad_setting():
    model = models.get("mobilenet_v2_mini", num_classes=4,
                       setting=((1, 8, 1, 1), (2, 8, 1, 2), (2, 8, 1, 1)))
    with pytest.raises(ValueError, match="setting"):
        model.init(jax.random.key(0), jnp.ones((1, 8, 8, 3)), train=False)
