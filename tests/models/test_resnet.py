"""ResNet / ResNeXt: torchvision parameter counts, sown features, stems, BN modes, bf16."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mfdjax import models
from mfdjax.models import COLLECTION, collect_features
from tests.models._helpers import fast_jit, init_vars, abstract_vars, abstract_maps, MUT


def _n_params(tree):
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


@pytest.mark.parametrize("name,count", [
    ("resnet18", 11_689_512), ("resnet34", 21_797_672), ("resnet50", 25_557_032),
    ("resnet101", 44_549_160), ("resnet152", 60_192_808), ("resnext50_32x4d", 25_028_904)])
def test_torchvision_param_count(name, count):
    model = models.get(name, num_classes=1000)
    v = abstract_vars(model, (1, 64, 64, 3))
    assert _n_params(v["params"]) == count
    # BN running statistics are state, not params.
    assert "batch_stats" in v and _n_params(v["batch_stats"]) > 0


def test_resnet50_sow_counts_and_shapes():
    model = models.get("resnet50", num_classes=100, stem="cifar")
    shape = (2, 32, 32, 3)
    stages = abstract_maps(model, shape, "stages")
    assert [m.shape for m in stages] == [
        (2, 32, 32, 64), (2, 32, 32, 256), (2, 16, 16, 512), (2, 8, 8, 1024), (2, 4, 4, 2048)]
    blocks = abstract_maps(model, shape, "blocks")
    assert len(blocks) == 16
    assert [m.shape[-1] for m in blocks] == [256] * 3 + [512] * 4 + [1024] * 6 + [2048] * 3
    layers = abstract_maps(model, shape, "layers")
    assert len(layers) == 49
    # Network order: stem, then per bottleneck (act1, act2, out).
    assert layers[0].shape == (2, 32, 32, 64)
    assert [m.shape[-1] for m in layers[1:4]] == [64, 64, 256]
    assert [m.shape for m in layers[4:7]] == [(2, 32, 32, 64)] * 2 + [(2, 32, 32, 256)]
    # First block of stage 2: conv1 at input size, stride on the 3x3 (torchvision v1.5).
    assert [m.shape for m in layers[10:13]] == [
        (2, 32, 32, 128), (2, 16, 16, 128), (2, 16, 16, 512)]
    assert layers[-1].shape == (2, 4, 4, 2048)


@pytest.mark.parametrize("name,per_block", [("resnet_mini", 2), ("resnet_bottleneck_mini", 3),
                                            ("resnext_mini", 3)])
def test_mini_layer_counts(name, per_block):
    model = models.get(name, num_classes=10, stem="cifar")
    assert len(abstract_maps(model, (2, 16, 16, 3), "stages")) == 5
    assert len(abstract_maps(model, (2, 16, 16, 3), "blocks")) == 4
    assert len(abstract_maps(model, (2, 16, 16, 3), "layers")) == 1 + 4 * per_block


@pytest.mark.parametrize("stem,size", [("imagenet", 8), ("cifar", 32), ("cifar_pool", 16)])
def test_stem_spatial_size(stem, size):
    model = models.get("resnet_mini", num_classes=10, stem=stem)
    stages = abstract_maps(model, (2, 32, 32, 3), "stages")
    assert [m.shape[1] for m in stages] == [size, size, size // 2, size // 4, size // 8]
    kernel = abstract_vars(model, (2, 32, 32, 3))["params"]["backbone"]["stem"]["conv"]["kernel"]
    assert kernel.shape[:2] == ((7, 7) if stem == "imagenet" else (3, 3))


def test_resnext_grouped_conv():
    model = models.get("resnext50_32x4d", num_classes=10)
    p = abstract_vars(model, (1, 32, 32, 3))["params"]["backbone"]
    # width = planes * 4/64 * 32 = 2 * planes; grouped 3x3 kernel has width/32 inputs.
    assert p["stage1_block00"]["conv2"]["conv"]["kernel"].shape == (3, 3, 4, 128)
    assert p["stage4_block00"]["conv3"]["conv"]["kernel"].shape == (1, 1, 1024, 2048)


def _decorrelation(maps):
    from mfdjax.losses.mfd import mfd_loss
    return mfd_loss(maps)


@pytest.mark.slow
@pytest.mark.parametrize("name,level,n_kernels", [
    ("resnet_mini", "stages", 1 + 4 * 2 + 3),  # stem, 2 convs per block, 3 projections
    ("resnet_bottleneck_mini", "layers", 1 + 4 * 3 + 4),
    ("resnext_mini", "blocks", 1 + 4 * 3 + 4)])
def test_forward_backward_and_mfd_gradient(name, level, n_kernels):
    model = models.get(name, num_classes=5, stem="cifar")
    x = jax.random.normal(jax.random.key(1), (4, 8, 8, 3))
    y = jnp.array([0, 3, 1, 4])
    v = init_vars(model, x)

    def losses(params):
        (logits, out), upd = model.apply({"params": params, "batch_stats": v["batch_stats"]},
                                         x, train=True, features=level, mutable=MUT)
        ce = -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(4), y])
        return ce, _decorrelation(collect_features(upd)), logits, out

    def both(params):
        ce_grad, (ce, mfd, logits, out) = jax.grad(
            lambda p: (losses(p)[0], losses(p)), has_aux=True)(params)
        mfd_grad = jax.grad(lambda p: losses(p)[1])(params)
        return ce, mfd, logits, out, ce_grad, mfd_grad

    ce, mfd, logits, out, g_ce, g_mfd = fast_jit(both)(v["params"])
    assert logits.shape == (4, 5) and logits.dtype == jnp.float32
    assert out["pre_logits"].ndim == 2 and out["pre_logits"].shape[0] == 4
    assert np.isfinite(float(ce)) and 0 < float(mfd) < 49
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves((g_ce, g_mfd)))
    assert all(float(jnp.max(jnp.abs(leaf))) > 0 for leaf in jax.tree.leaves(g_ce["head"]))
    # MFD on the sown maps reaches every conv kernel, and never the head.
    kernels = {jax.tree_util.keystr(p): leaf for p, leaf in
               jax.tree_util.tree_leaves_with_path(g_mfd["backbone"]) if "kernel" in str(p)}
    assert len(kernels) == n_kernels
    for path, leaf in kernels.items():
        assert float(jnp.max(jnp.abs(leaf))) > 0, path
    assert all(float(jnp.max(jnp.abs(leaf))) == 0 for leaf in jax.tree.leaves(g_mfd["head"]))


def test_network_order_survives_key_sorting():
    model = models.get("resnet_bottleneck_mini", num_classes=4, stem="cifar")
    x = jax.random.normal(jax.random.key(6), (2, 16, 16, 3))
    v = init_vars(model, x)

    def run(v, x):
        _, upd = model.apply(v, x, train=True, features="layers", mutable=MUT)
        return collect_features(upd), upd  # in-trace: dict insertion (call) order

    eager, upd = fast_jit(run)(v, x)
    # jit returns dicts with sorted keys; the names are chosen so the order is the same.
    jitted = collect_features(upd)
    assert [m.shape for m in eager] == [m.shape for m in jitted]
    for a, b in zip(eager, jitted):
        np.testing.assert_array_equal(a, b)
    # act1, act2, out per block: channels 4, 4, 16 | 8, 8, 32 | ...
    assert [m.shape[-1] for m in eager] == [8, 4, 4, 16, 8, 8, 32, 8, 8, 32, 16, 16, 64]


def test_features_none_sows_nothing():
    model = models.get("resnet_mini", num_classes=4, stem="cifar")
    for train in (True, False):
        assert abstract_maps(model, (2, 16, 16, 3), None, train=train) == []
    _, upd = jax.eval_shape(lambda x: model.init_with_output(
        jax.random.key(0), x, train=True, features=None), jnp.ones((2, 16, 16, 3)))
    assert COLLECTION not in upd


def test_batchnorm_train_vs_eval_momentum_eps():
    model = models.get("resnet_mini", num_classes=4, stem="cifar")
    x = 3.0 + 2.0 * jax.random.normal(jax.random.key(3), (4, 8, 8, 3))
    x_other = x.at[2:].set(-x[2:])  # same first two examples, different batch-mates
    v = init_vars(model, x)
    train = fast_jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))
    evaluate = fast_jit(lambda v, x: model.apply(v, x, train=False, mutable=["batch_stats"]))
    (t_all, _), upd = train(v, x)
    before, after = jax.tree.leaves(v["batch_stats"]), jax.tree.leaves(upd["batch_stats"])
    assert any(not np.allclose(a, b) for a, b in zip(before, after))
    (l_all, _), upd_eval = evaluate(v, x)
    for a, b in zip(before, jax.tree.leaves(upd_eval["batch_stats"])):
        np.testing.assert_array_equal(a, b)
    # Eval uses running averages (an example's output ignores its batch-mates); train
    # uses batch statistics (it does not).
    (l_other, _), _ = evaluate(v, x_other)
    np.testing.assert_allclose(l_all[:2], l_other[:2], rtol=1e-5, atol=1e-5)
    (t_other, _), _ = train(v, x_other)
    assert not np.allclose(t_all[:2], t_other[:2], atol=1e-4)
    # momentum 0.9 in Flax terms (PyTorch 0.1): running mean = 0.9 * 0 + 0.1 * batch mean.
    p = v["params"]["backbone"]["stem"]["conv"]["kernel"]
    conv = jax.lax.conv_general_dilated(x, p, (1, 1), ((1, 1), (1, 1)),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(upd["batch_stats"]["backbone"]["stem"]["bn"]["mean"],
                               0.1 * conv.mean((0, 1, 2)), rtol=1e-4, atol=1e-6)
    # eps 1e-5: in eval with the initial running stats (0, 1), BN is x / sqrt(1 + eps).
    y = models.layers.ConvBN(8, 3, act=False).apply(
        {"params": v["params"]["backbone"]["stem"],
         "batch_stats": v["batch_stats"]["backbone"]["stem"]}, x, False)
    np.testing.assert_allclose(y, conv / np.sqrt(1 + 1e-5), rtol=1e-5, atol=1e-5)


def test_zero_init_residual():
    model = models.get("resnet_bottleneck_mini", num_classes=4, stem="cifar",
                       zero_init_residual=True)
    p = init_vars(model, jnp.ones((1, 8, 8, 3)))["params"]["backbone"]
    for b in range(1, 5):
        blk = p[f"stage{b}_block00"]
        np.testing.assert_array_equal(blk["conv3"]["bn"]["scale"], 0.0)
        np.testing.assert_array_equal(blk["conv2"]["bn"]["scale"], 1.0)


def test_bfloat16_compute_float32_params_and_logits():
    model = models.get("resnet_mini", num_classes=4, stem="cifar", dtype=jnp.bfloat16)
    x = jax.random.normal(jax.random.key(5), (2, 16, 16, 3))
    v = init_vars(model, x)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(v["params"]))
    (logits, out), upd = fast_jit(lambda v, x: model.apply(v, x, train=True, features="stages",
                                                       mutable=MUT))(v, x)
    assert logits.dtype == jnp.float32 and out["pre_logits"].dtype == jnp.float32
    assert np.all(np.isfinite(logits))
    maps = collect_features(upd)
    assert len(maps) == 5 and all(m.dtype == jnp.bfloat16 for m in maps)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(upd["batch_stats"]))
    # Close to the float32 model with the same params.
    f32 = models.get("resnet_mini", num_classes=4, stem="cifar")
    (ref, _), _ = fast_jit(lambda v, x: f32.apply(v, x, train=True, mutable=["batch_stats"]))(v, x)
    np.testing.assert_allclose(logits, ref, atol=0.1, rtol=0.1)


def test_bad_arguments():
    model = models.get("resnet_mini", num_classes=4, stem="cifar")
    x = jnp.ones((1, 8, 8, 3))
    v = init_vars(model, x)
    with pytest.raises(ValueError, match="features"):
        model.apply(v, x, train=False, features="stage")
    with pytest.raises(ValueError, match="NHWC"):
        model.apply(v, jnp.ones((8, 8, 3)), train=False)
    with pytest.raises(ValueError, match="floating"):
        model.apply(v, jnp.ones((1, 8, 8, 3), jnp.uint8), train=False)
    with pytest.raises(ValueError, match="stem"):
        models.get("resnet_mini", num_classes=4, stem="tiny")
    with pytest.raises(ValueError, match="num_classes"):
        models.get("resnet18", num_classes=1)


def test_resnet_cifar_small_fashion_mnist_shape():
    model = models.get("resnet_cifar_small", num_classes=10, stem="cifar")
    v = abstract_vars(model, (2, 28, 28, 1))
    assert _n_params(v["params"]) < 400_000
    stages = abstract_maps(model, (2, 28, 28, 1), "stages")
    assert [m.shape[1:] for m in stages] == [(28, 28, 16), (28, 28, 16), (14, 14, 32),
                                             (7, 7, 64), (4, 4, 128)]
