"""DenseNet121: torchvision parameter count, five-stage / block / layer sowing, stems, training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mfdjax import models
from mfdjax.losses.mfd import mfd_loss
from mfdjax.models import COLLECTION, collect_features
from tests.models._helpers import fast_jit, init_vars, abstract_vars, abstract_maps, MUT


def test_torchvision_param_count():
    v = abstract_vars(models.get("densenet121", num_classes=1000), (1, 64, 64, 3))
    assert sum(int(np.prod(p.shape)) for p in jax.tree.leaves(v["params"])) == 7_978_856


def test_densenet121_sow_counts_and_shapes():
    model = models.get("densenet121", num_classes=10, stem="cifar")
    shape = (2, 32, 32, 3)
    stages = abstract_maps(model, shape, "stages")
    assert [m.shape[1:] for m in stages] == [(32, 32, 64), (32, 32, 256), (16, 16, 512),
                                             (8, 8, 1024), (4, 4, 1024)]
    blocks = abstract_maps(model, shape, "blocks")
    assert len(blocks) == 6 + 12 + 24 + 16
    assert all(m.shape[-1] == 32 for m in blocks)
    assert [m.shape[1] for m in blocks] == [32] * 6 + [16] * 12 + [8] * 24 + [4] * 16
    layers = abstract_maps(model, shape, "layers")
    assert len(layers) == 121
    # stem, then per dense layer act1 (input channels 64 + 32 i) and act2 (128).
    assert [m.shape[-1] for m in layers[:7]] == [64, 64, 128, 96, 128, 128, 128]
    assert layers[13].shape[-1] == 256  # the first transition's BN+ReLU
    assert layers[-1].shape[1:] == (4, 4, 1024)


@pytest.mark.parametrize("stem,size", [("imagenet", 8), ("cifar", 32), ("cifar_pool", 16)])
def test_stem_spatial_size(stem, size):
    stages = abstract_maps(models.get("densenet_mini", num_classes=3, stem=stem),
                            (1, 32, 32, 3), "stages")
    assert [m.shape[1] for m in stages] == [size, size, size // 2, size // 4, size // 8]


@pytest.mark.slow
def test_forward_backward_and_mfd_gradient():
    model = models.get("densenet_mini", num_classes=4, stem="cifar")
    x = jax.random.normal(jax.random.key(1), (4, 8, 8, 3))
    y = jnp.array([0, 1, 2, 3])
    v = init_vars(model, x)

    def ce(params):
        (logits, _), _ = model.apply({"params": params, "batch_stats": v["batch_stats"]}, x,
                                     train=True, mutable=["batch_stats"])
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(4), y])

    g = fast_jit(jax.grad(ce))(v["params"])
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(g))

    def decor(params):
        _, upd = model.apply({"params": params, "batch_stats": v["batch_stats"]}, x,
                             train=True, features="stages", mutable=MUT)
        maps = collect_features(upd)
        assert len(maps) == 5
        return mfd_loss(maps)

    g = fast_jit(jax.grad(decor))(v["params"])
    kernels = [leaf for p, leaf in jax.tree_util.tree_leaves_with_path(g["backbone"])
               if "kernel" in jax.tree_util.keystr(p)]
    assert len(kernels) == 1 + 2 * 8 + 3
    assert all(float(jnp.max(jnp.abs(k))) > 0 for k in kernels)


def test_features_none_bf16_and_eval():
    model = models.get("densenet_mini", num_classes=4, stem="cifar", dtype=jnp.bfloat16)
    x = jax.random.normal(jax.random.key(2), (2, 8, 8, 3))
    v = init_vars(model, x)
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(v["params"]))
    (logits, out), upd = fast_jit(lambda v, x: model.apply(v, x, train=True, mutable=MUT))(v, x)
    assert logits.dtype == jnp.float32 and out["pre_logits"].shape == (2, 16)
    assert collect_features(upd.get(COLLECTION, {})) == []
    assert any(not np.allclose(a, b) for a, b in
               zip(jax.tree.leaves(v["batch_stats"]), jax.tree.leaves(upd["batch_stats"])))
    logits_eval, _ = fast_jit(lambda v, x: model.apply(v, x, train=False))(v, x)
    assert logits_eval.dtype == jnp.float32 and np.all(np.isfinite(logits_eval))


def test_bad_arguments():
    with pytest.raises(ValueError, match="stem"):
        models.get("densenet_mini", num_classes=4, stem="big")
    model = models.get("densenet_mini", num_classes=4, block_config=(2, 2, 2))
    with pytest.raises(ValueError, match="block_config"):
        model.init(jax.random.key(0), jnp.ones((1, 8, 8, 3)), train=False)
