"""ViT: torchvision parameter count, attention vs a NumPy reference, sown features,
heads, MFD gradients, bf16, jit, dropout / stochastic depth and argument errors."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mfdjax import models
from mfdjax.losses import mfd_loss
from mfdjax.models import COLLECTION, collect_features
from mfdjax.models.vit import Attention, DropPath, _stage_ends

X_SHAPE = (2, 32, 32, 3)


def _n_params(tree):
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


def _abstract_vars(model, shape):
    return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(shape), train=False))


def _init(model, x):
    # One jitted init per model (compiling is the cost here); the "rbg" PRNG compiles
    # its random bits about twice as fast as threefry on CPU.
    return jax.jit(functools.partial(model.init, train=False))(
        jax.random.key(0, impl="rbg"), x)


def _apply(model, level=None, train=False):
    return jax.jit(lambda v, x: model.apply(v, x, train=train, features=level,
                                            mutable=[COLLECTION]))


@pytest.fixture(scope="module")
def mini():
    model = models.get("vit_mini", num_classes=5)
    x = jax.random.normal(jax.random.key(1), X_SHAPE)
    return model, _init(model, x), x


def test_vit_b16_param_count_matches_torchvision():
    model = models.get("vit_b16", num_classes=1000)
    v = _abstract_vars(model, (1, 224, 224, 3))
    assert list(v) == ["params"]
    assert _n_params(v["params"]) == 86_567_656
    p = v["params"]["backbone"]
    # torchvision's in_proj (3D x D) + out_proj (D x D), as one fused Dense each.
    assert p["encoder_layer_00"]["attn"]["qkv"]["kernel"].shape == (768, 2304)
    assert p["encoder_layer_11"]["attn"]["out"]["kernel"].shape == (768, 768)
    assert p["pos_embedding"].shape == (1, 197, 768)
    assert p["class_token"].shape == (1, 1, 768)


def test_vit_b16_sown_shapes():
    model = models.get("vit_b16", num_classes=1000)
    v = _abstract_vars(model, (2, 224, 224, 3))

    def maps(level):
        _, upd = jax.eval_shape(
            lambda v, x: model.apply(v, x, train=False, features=level, mutable=[COLLECTION]),
            v, jax.ShapeDtypeStruct((2, 224, 224, 3), jnp.float32))
        return [m.shape for m in collect_features(upd)]

    assert maps("stages") == [(2, 197, 768)] * 5
    assert maps("blocks") == [(2, 197, 768)] * 12
    assert maps("layers") == [(2, 197, 768), (2, 197, 3072), (2, 197, 768)] * 12


def test_stage_groups():
    assert _stage_ends(12, 4) == [2, 5, 8, 11]
    assert _stage_ends(4, 4) == [0, 1, 2, 3]
    assert _stage_ends(6, 4) == [1, 3, 4, 5]


def test_attention_matches_numpy_reference(mini):
    _, variables, _ = mini
    b, n, d, heads = 2, 5, 32, 2
    x = jax.random.normal(jax.random.key(0), (b, n, d))
    p = variables["params"]["backbone"]["encoder_layer_0"]["attn"]
    p = jax.tree.map(lambda a: a + 0.1 * jax.random.normal(jax.random.key(2), a.shape), p)
    y = Attention(num_heads=heads).apply({"params": p}, x, train=False)
    p = jax.tree.map(np.asarray, p)
    xn = np.asarray(x, np.float64)
    qkv = xn @ p["qkv"]["kernel"] + p["qkv"]["bias"]
    q, k, vv = np.split(qkv, 3, axis=-1)  # torchvision in_proj layout [q | k | v]
    hd = d // heads
    outs = []
    for h in range(heads):
        sl = slice(h * hd, (h + 1) * hd)
        s = q[..., sl] @ np.swapaxes(k[..., sl], -1, -2) / np.sqrt(hd)
        s = np.exp(s - s.max(-1, keepdims=True))
        outs.append((s / s.sum(-1, keepdims=True)) @ vv[..., sl])
    ref = np.concatenate(outs, -1) @ p["out"]["kernel"] + p["out"]["bias"]
    np.testing.assert_allclose(np.asarray(y), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("head,head_kwargs", [("linear", None), ("cosine", None),
                                              ("pod", {"dim": 8})])
def test_forward_backward_each_head(mini, head, head_kwargs):
    _, variables, x = mini
    model = models.get("vit_mini", num_classes=5, head=head, head_kwargs=head_kwargs)
    labels = jnp.array([0, 3])
    # Same backbone parameters; only the (small) head is initialised here.
    params = {"backbone": variables["params"]["backbone"],
              "head": model.head.init(jax.random.key(3), jnp.zeros((1, 32)))["params"]}

    def loss_fn(head_params, backbone_params):
        params = {"backbone": backbone_params, "head": head_params}
        logits, out = model.apply({"params": params}, x, train=True)
        return optax.softmax_cross_entropy_with_integer_labels(10.0 * logits, labels).mean(), (
            logits, out)

    # Linear head: gradients of every parameter. The other heads: of the head's own
    # parameters (the backbone's backward is the same code; half the compile time).
    argnums = (0, 1) if head == "linear" else 0
    (loss, (logits, out)), grads = jax.jit(jax.value_and_grad(
        loss_fn, argnums=argnums, has_aux=True))(params["head"], params["backbone"])
    assert logits.shape == (2, 5) and logits.dtype == jnp.float32
    assert np.isfinite(float(loss))
    feat_dim = 8 if head == "pod" else 32
    assert out["pre_logits"].shape == (2, feat_dim)
    if head == "cosine":
        assert out["weights"].shape == (5, 32)
    if head == "pod":
        assert out["centroids"].shape == (5, 8)
    norms = jax.tree.map(lambda g: float(jnp.linalg.norm(g)), grads)
    for path, g in jax.tree_util.tree_leaves_with_path(norms):
        assert np.isfinite(g) and g > 0, jax.tree_util.keystr(path)


def test_sown_names_counts_and_none(mini):
    model, v, x = mini
    _, upd = model.apply(v, x, train=False, features=None, mutable=[COLLECTION])
    assert not upd.get(COLLECTION)
    logits_plain, _ = model.apply(v, x, train=False)

    _, upd = model.apply(v, x, train=False, features="stages", mutable=[COLLECTION])
    sown = upd[COLLECTION]["backbone"]
    assert list(sown) == ["stage0_stem", "stage1", "stage2", "stage3", "stage4"]
    assert [m.shape for m in collect_features(upd)] == [(2, 65, 32)] * 5

    (logits, _), upd = model.apply(v, x, train=False, features="blocks", mutable=[COLLECTION])
    np.testing.assert_array_equal(logits, logits_plain)  # sowing does not change the output
    assert list(upd[COLLECTION]["backbone"]) == [f"encoder_layer_{i}" for i in range(4)]
    assert len(collect_features(upd)) == 4

    _, upd = model.apply(v, x, train=False, features="layers", mutable=[COLLECTION])
    block = upd[COLLECTION]["backbone"]["encoder_layer_0"]
    assert list(block) == ["attn_residual", "mlp", "out"]
    assert list(block["mlp"]) == ["mlp_hidden"]
    assert [m.shape for m in collect_features(upd)] == [(2, 65, 32), (2, 65, 64),
                                                        (2, 65, 32)] * 4
    # stage k output == output of its last block.
    _, st = model.apply(v, x, train=False, features="stages", mutable=[COLLECTION])
    _, bl = model.apply(v, x, train=False, features="blocks", mutable=[COLLECTION])
    np.testing.assert_array_equal(collect_features(st)[1:], collect_features(bl))


def test_jit_matches_eager_and_keeps_sown_order(mini):
    """JAX rebuilds dicts with sorted keys across jit; the names keep network order."""
    model, v, x = mini
    level = "layers"
    (logits, _), eager = model.apply(v, x, train=False, features=level, mutable=[COLLECTION])
    (logits_jit, _), jitted = _apply(model, level)(v, x)
    np.testing.assert_allclose(logits, logits_jit, rtol=1e-5, atol=1e-5)
    for a, b in zip(collect_features(eager), collect_features(jitted), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_mfd_gradient_reaches_parameters(mini):
    model, v, x = mini
    level = "layers"

    @jax.jit
    def grads(params):
        def loss(params):
            _, upd = model.apply({"params": params}, x, train=True, features=level,
                                 mutable=[COLLECTION])
            return mfd_loss(collect_features(upd))
        return jax.grad(loss)(params)

    g = grads(v["params"])["backbone"]
    norm = lambda t: float(optax.global_norm(t))
    assert norm(g["conv_proj"]) > 0 and norm(g["pos_embedding"]) > 0
    for i in range(4):
        assert norm(g[f"encoder_layer_{i}"]) > 0, i
    # The final LayerNorm lies after every sown map: no gradient.
    assert norm(g["ln"]) == 0


def test_bfloat16_compute_float32_params_and_logits(mini):
    _, v, x = mini
    model = models.get("vit_mini", num_classes=5, dtype=jnp.bfloat16)
    v16 = _abstract_vars(model, X_SHAPE)
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(v16["params"]))
    (logits, out), upd = _apply(model, "stages")(v, x)
    assert logits.dtype == jnp.float32 and out["pre_logits"].dtype == jnp.float32
    assert collect_features(upd)[1].dtype == jnp.bfloat16
    ref = _apply(models.get("vit_mini", num_classes=5))(v, x)[0][0]
    np.testing.assert_allclose(logits, ref, atol=0.1)


def test_dropout_and_drop_path_need_rng_and_train(mini):
    _, v, x = mini
    model = models.get("vit_mini", num_classes=5, dropout=0.1, attention_dropout=0.1,
                       drop_path_rate=0.2)
    run = jax.jit(lambda v, x, key: model.apply(v, x, train=True, rngs={"dropout": key})[0])
    # "rbg" keys: the dropout masks compile faster than with threefry.
    a, b = run(v, x, jax.random.key(0, impl="rbg")), run(v, x, jax.random.key(1, impl="rbg"))
    assert not np.allclose(a, b)
    # Eval mode is deterministic and equals the dropout-free model (eager: the ops are
    # already compiled by the other eager tests).
    ref = models.get("vit_mini", num_classes=5).apply(v, x, train=False)[0]
    np.testing.assert_array_equal(model.apply(v, x, train=False)[0], ref)


def test_drop_path_is_per_sample_and_unbiased():
    x = jnp.ones((4000, 3))
    y = DropPath(0.25).apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(0)})
    y = np.asarray(y)
    # Whole samples dropped, survivors rescaled by 1 / (1 - 0.25).
    dropped = np.all(y == 0.0, axis=1)
    np.testing.assert_allclose(y[~dropped], 4.0 / 3.0, rtol=1e-6)
    assert 0.2 < dropped.mean() < 0.3
    assert abs(y.mean() - 1.0) < 0.05
    np.testing.assert_array_equal(DropPath(0.25).apply({}, x, deterministic=True), x)


@pytest.mark.parametrize("kwargs,match", [
    (dict(stem="cifar"), "stem"),
    (dict(image_size=30), "multiple of `patch_size`"),
    (dict(depth=3), "num_stages"),
    (dict(num_heads=3), "num_heads"),
    (dict(dropout=1.0), "dropout"),
    (dict(patchsize=4), "unknown option"),
    (dict(head="svm"), "head"),
])
def test_bad_configuration_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.get("vit_mini", num_classes=5, **kwargs)


def test_bad_input_raises(mini):
    model, v, x = mini
    with pytest.raises(ValueError, match="image_size"):
        model.apply(v, jnp.zeros((2, 16, 16, 3)), train=False)
    with pytest.raises(ValueError, match="floating"):
        model.apply(v, jnp.zeros(X_SHAPE, jnp.int32), train=False)
    with pytest.raises(ValueError, match="NHWC"):
        model.apply(v, jnp.zeros((32, 32, 3)), train=False)
    with pytest.raises(ValueError, match="features"):
        model.apply(v, x, train=False, features="tokens")
