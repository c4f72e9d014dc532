"""Swin: torchvision parameter count, shifted-window mask and attention against an
independent NumPy port of torchvision's ``shifted_window_attention``, sown features,
heads, MFD gradients, bf16, jit and size errors."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mfdjax import models
from mfdjax.losses import mfd_loss
from mfdjax.models import COLLECTION, collect_features
from mfdjax.models.swin import (PatchMerging, WindowAttention, relative_position_index,
                                shifted_window_mask)

X_SHAPE = (2, 32, 32, 3)


def _n_params(tree):
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


def _abstract_vars(model, shape):
    return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(shape), train=False))


def _apply(model, level=None):
    return jax.jit(lambda v, x: model.apply(v, x, train=False, features=level,
                                            mutable=[COLLECTION]))


@pytest.fixture(scope="module")
def mini():
    model = models.get("swin_mini", num_classes=5)
    x = jax.random.normal(jax.random.key(1), X_SHAPE)
    # One jitted init (compiling is the cost); "rbg" keys compile faster than threefry.
    v = jax.jit(functools.partial(model.init, train=False))(jax.random.key(0, impl="rbg"), x)
    return model, v, x


@pytest.fixture(scope="module")
def tiny(mini):
    """The same code with one block per stage, for tests about heads / dtypes / dropout
    (half the blocks: half the compile time). Its parameters are a subset of mini's."""
    _, v, x = mini
    p = {k: a for k, a in v["params"]["backbone"].items() if not k.endswith("_block1")}
    return {"params": {"backbone": p, "head": v["params"]["head"]}}, x


TINY = dict(depths=(1, 1))


# ----------------------------------------------------------------- full-size model


def test_swin_b_param_count_matches_torchvision():
    model = models.get("swin_b", num_classes=1000)
    v = _abstract_vars(model, (1, 224, 224, 3))
    assert list(v) == ["params"]  # the relative position index is a constant, not a variable
    assert _n_params(v["params"]) == 87_768_224
    p = v["params"]["backbone"]
    tables = [leaf.shape for path, leaf in jax.tree_util.tree_leaves_with_path(p)
              if "relative_position_bias_table" in jax.tree_util.keystr(path)]
    assert tables == [(169, 4)] * 2 + [(169, 8)] * 2 + [(169, 16)] * 18 + [(169, 32)] * 2
    assert p["merge1"]["reduction"]["kernel"].shape == (512, 256)  # no bias
    assert "bias" not in p["merge1"]["reduction"]


def test_swin_b_sown_shapes():
    model = models.get("swin_b", num_classes=1000)
    v = _abstract_vars(model, (1, 224, 224, 3))

    def maps(level):
        _, upd = jax.eval_shape(
            lambda v, x: model.apply(v, x, train=False, features=level, mutable=[COLLECTION]),
            v, jax.ShapeDtypeStruct((1, 224, 224, 3), jnp.float32))
        return [m.shape for m in collect_features(upd)]

    assert maps("stages") == [(1, 56, 56, 128), (1, 56, 56, 128), (1, 28, 28, 256),
                              (1, 14, 14, 512), (1, 7, 7, 1024)]
    blocks = maps("blocks")
    assert blocks == ([(1, 56, 56, 128)] * 2 + [(1, 28, 28, 256)] * 2
                      + [(1, 14, 14, 512)] * 18 + [(1, 7, 7, 1024)] * 2)
    layers = maps("layers")
    assert len(layers) == 72
    assert layers[:3] == [(1, 56, 56, 128), (1, 56, 56, 512), (1, 56, 56, 128)]


# --------------------------------------------- window attention vs a NumPy reference


def _np_shifted_window_attention(x, p, window, shift, num_heads):
    """NumPy port of torchvision.models.swin_transformer.shifted_window_attention
    (no padding, no dropout), with its additive -100 mask."""
    b, h, w, c = x.shape
    shift = [shift if window < h else 0, shift if window < w else 0]
    if sum(shift) > 0:
        x = np.roll(x, shift=(-shift[0], -shift[1]), axis=(1, 2))
    nw = (h // window) * (w // window)
    x = x.reshape(b, h // window, window, w // window, window, c)
    x = x.transpose(0, 1, 3, 2, 4, 5).reshape(b * nw, window * window, c)
    n = window * window
    qkv = x @ p["attn"]["qkv"]["kernel"] + p["attn"]["qkv"]["bias"]
    qkv = qkv.reshape(b * nw, n, 3, num_heads, c // num_heads).transpose(2, 0, 3, 1, 4)
    q, k, v = qkv[0] * (c // num_heads) ** -0.5, qkv[1], qkv[2]
    attn = q @ np.swapaxes(k, -2, -1)
    # relative position bias, built the torchvision way
    coords = np.stack(np.meshgrid(np.arange(window), np.arange(window), indexing="ij"))
    cf = coords.reshape(2, -1)
    rel = (cf[:, :, None] - cf[:, None, :]).transpose(1, 2, 0).copy()
    rel[:, :, 0] += window - 1
    rel[:, :, 1] += window - 1
    rel[:, :, 0] *= 2 * window - 1
    index = rel.sum(-1).flatten()
    bias = p["relative_position_bias_table"][index].reshape(n, n, -1).transpose(2, 0, 1)
    attn = attn + bias[None]
    if sum(shift) > 0:
        mask = np.zeros((h, w))
        hs = ((0, -window), (-window, -shift[0]), (-shift[0], None))
        ws = ((0, -window), (-window, -shift[1]), (-shift[1], None))
        count = 0
        for a in hs:
            for bb in ws:
                mask[a[0]:a[1], bb[0]:bb[1]] = count
                count += 1
        mask = mask.reshape(h // window, window, w // window, window).transpose(0, 2, 1, 3)
        mask = mask.reshape(nw, n)
        mask = mask[:, None, :] - mask[:, :, None]
        mask = np.where(mask != 0, -100.0, 0.0)
        attn = attn.reshape(b, nw, num_heads, n, n) + mask[None, :, None]
        attn = attn.reshape(-1, num_heads, n, n)
    attn = np.exp(attn - attn.max(-1, keepdims=True))
    attn = attn / attn.sum(-1, keepdims=True)
    y = (attn @ v).transpose(0, 2, 1, 3).reshape(b * nw, n, c)
    y = y @ p["attn"]["out"]["kernel"] + p["attn"]["out"]["bias"]
    y = y.reshape(b, h // window, w // window, window, window, c)
    y = y.transpose(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
    if sum(shift) > 0:
        y = np.roll(y, shift=(shift[0], shift[1]), axis=(1, 2))
    return y


@pytest.mark.parametrize("shift", [0, 2])
def test_window_attention_matches_torchvision_port(mini, shift):
    _, v, _ = mini
    # stage-2 block parameters of the initialised mini model: width 32, 2 heads.
    p = v["params"]["backbone"]["stage2_block1"]["attn"]
    p = jax.tree.map(lambda a: a + 0.3 * jax.random.normal(jax.random.key(4), a.shape), p)
    x = jax.random.normal(jax.random.key(5), (2, 8, 8, 32))
    y = jax.jit(lambda p, x: WindowAttention(2, 4, shift).apply({"params": p}, x,
                                                                 train=False))(p, x)
    ref = _np_shifted_window_attention(np.asarray(x, np.float64),
                                       jax.tree.map(lambda a: np.asarray(a, np.float64), p),
                                       4, shift, 2)
    np.testing.assert_allclose(np.asarray(y), ref, rtol=1e-4, atol=1e-4)


def _allowed_pairs(h, w, window, shift):
    """(H*W, H*W) bool, from first principles in ORIGINAL image coordinates: tokens p, q
    interact iff they fall in the same window of the map rolled by -shift AND neither
    axis separates them by the wrap-around (original row < shift vs >= shift)."""
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    rows, cols = rows.ravel(), cols.ravel()
    win_r, win_c = ((rows - shift) % h) // window, ((cols - shift) % w) // window
    wrap_r, wrap_c = rows < shift, cols < shift
    same = lambda a: a[:, None] == a[None, :]
    return same(win_r) & same(win_c) & same(wrap_r) & same(wrap_c)


@pytest.mark.parametrize("h,w,window,shift", [(8, 8, 4, 2), (12, 8, 4, 2), (9, 6, 3, 1),
                                              (8, 8, 4, 0)])
def test_shifted_window_mask_from_first_principles(h, w, window, shift):
    mask = shifted_window_mask(h, w, window, shift)
    n = window * window
    assert mask.shape == (h * w // n, n, n) and mask.dtype == bool
    # Scatter the per-window mask back to (token, token) pairs of the ROLLED map, then to
    # original coordinates (rolled position i holds original token (i + shift) % size).
    rolled = np.arange(h * w).reshape(h, w)
    original = np.roll(rolled, (-shift, -shift), axis=(0, 1))
    ids = original.reshape(h // window, window, w // window, window)
    ids = ids.transpose(0, 2, 1, 3).reshape(-1, n)
    full = np.zeros((h * w, h * w), bool)
    for k in range(ids.shape[0]):
        full[np.ix_(ids[k], ids[k])] = mask[k]
    np.testing.assert_array_equal(full, _allowed_pairs(h, w, window, shift))
    if shift == 0:
        assert mask.all()


def test_no_token_attends_across_a_shifted_window_boundary(mini):
    """Jacobian of shifted-window attention: output token p depends on input token q
    exactly when they share a shifted window and no wrap-around boundary."""
    _, v, _ = mini
    p = v["params"]["backbone"]["stage2_block1"]["attn"]
    p = jax.tree.map(lambda a: a + 0.3 * jax.random.normal(jax.random.key(6), a.shape), p)
    x = jax.random.normal(jax.random.key(7), (1, 8, 8, 32))
    f = lambda x: WindowAttention(2, 4, 2).apply({"params": p}, x, train=False)
    jac = jax.jit(jax.jacrev(f))(x)  # (1, 8, 8, 32, 1, 8, 8, 32)
    dep = np.asarray(jnp.abs(jac).sum(axis=(0, 3, 4, 7))).reshape(64, 64) > 0
    np.testing.assert_array_equal(dep, _allowed_pairs(8, 8, 4, 2))


def test_relative_position_index():
    w = 3
    idx = relative_position_index(w)
    assert idx.shape == (9, 9)
    for a in range(9):
        for b in range(9):
            di, dj = a // w - b // w, a % w - b % w
            assert idx[a, b] == (di + w - 1) * (2 * w - 1) + (dj + w - 1)
    assert idx.min() == 0 and idx.max() == (2 * w - 1) ** 2 - 1


def test_patch_merging_order():
    x = jax.random.normal(jax.random.key(0), (1, 4, 4, 2))
    pm = PatchMerging()
    v = pm.init(jax.random.key(1), x)
    y = pm.apply(v, x)
    xn = np.asarray(x)
    cat = np.concatenate([xn[:, 0::2, 0::2], xn[:, 1::2, 0::2], xn[:, 0::2, 1::2],
                          xn[:, 1::2, 1::2]], -1)  # torchvision's x0, x1, x2, x3
    cat = (cat - cat.mean(-1, keepdims=True)) / np.sqrt(cat.var(-1, keepdims=True) + 1e-5)
    ref = cat @ np.asarray(v["params"]["reduction"]["kernel"])
    assert y.shape == (1, 2, 2, 4)
    np.testing.assert_allclose(np.asarray(y), ref, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------- mini model


@pytest.mark.parametrize("head,head_kwargs", [("linear", None), ("cosine", None),
                                              ("pod", {"dim": 8})])
def test_forward_backward_each_head(tiny, head, head_kwargs):
    variables, x = tiny
    model = models.get("swin_mini", num_classes=5, head=head, head_kwargs=head_kwargs, **TINY)
    labels = jnp.array([1, 4])
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
    assert out["pre_logits"].shape == (2, 8 if head == "pod" else 32)
    norms = jax.tree.map(lambda g: float(jnp.linalg.norm(g)), grads)
    for path, g in jax.tree_util.tree_leaves_with_path(norms):
        assert np.isfinite(g) and g > 0, jax.tree_util.keystr(path)


def _abstract_sown(model, variables, level):
    """The sown collection's shapes (no compile). Under eval_shape JAX sorts dict keys,
    so the names must sort in network order for collect_features to be right."""
    (logits, _), upd = jax.eval_shape(
        lambda v, x: model.apply(v, x, train=False, features=level, mutable=[COLLECTION]),
        variables, jax.ShapeDtypeStruct(X_SHAPE, jnp.float32))
    assert logits.shape == (2, 5)
    return upd.get(COLLECTION, {})


def test_sown_names_counts_and_none(mini):
    model, v, x = mini
    assert not _abstract_sown(model, v, None)

    sown = _abstract_sown(model, v, "stages")["backbone"]
    assert list(sown) == ["stage0_stem", "stage1", "stage2"]
    assert [m.shape for m in collect_features(sown)] == [(2, 16, 16, 16), (2, 16, 16, 16),
                                                         (2, 8, 8, 32)]
    sown = _abstract_sown(model, v, "blocks")["backbone"]
    assert list(sown) == ["stage1_block0", "stage1_block1", "stage2_block0", "stage2_block1"]
    assert all(list(b) == ["out"] for b in sown.values())

    sown = _abstract_sown(model, v, "layers")
    assert list(sown["backbone"]["stage2_block1"]) == ["attn_residual", "mlp", "out"]
    assert [m.shape for m in collect_features(sown)] == (
        [(2, 16, 16, 16), (2, 16, 16, 64), (2, 16, 16, 16)] * 2
        + [(2, 8, 8, 32), (2, 8, 8, 128), (2, 8, 8, 32)] * 2)


def test_sown_values(tiny):
    """Real values: sowing leaves the output unchanged; a stage output is its last block's."""
    v, x = tiny
    model = models.get("swin_mini", num_classes=5, **TINY)

    @jax.jit
    def run(v, x):
        plain = model.apply(v, x, train=False)[0]
        (logits, _), st = model.apply(v, x, train=False, features="stages", mutable=[COLLECTION])
        _, bl = model.apply(v, x, train=False, features="blocks", mutable=[COLLECTION])
        return plain, logits, collect_features(st), collect_features(bl)

    plain, logits, stages, blocks = run(v, x)
    np.testing.assert_allclose(logits, plain, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(blocks[0], stages[1], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(blocks[1], stages[2], rtol=1e-6, atol=1e-6)
    assert not np.allclose(stages[0], stages[1])


@pytest.mark.slow
def test_mfd_gradient_reaches_parameters(mini):
    model, v, x = mini

    @jax.jit
    def grads(params):
        def loss(params):
            _, upd = model.apply({"params": params}, x, train=True, features="stages",
                                 mutable=[COLLECTION])
            return mfd_loss(collect_features(upd))
        return jax.grad(loss)(params)

    g = grads(v["params"])["backbone"]
    norm = lambda t: float(optax.global_norm(t))
    for name in ("patch_embed", "patch_norm", "stage1_block0", "stage1_block1", "merge1",
                 "stage2_block0", "stage2_block1"):
        assert norm(g[name]) > 0, name
    assert norm(g["stage2_block1"]["attn"]["relative_position_bias_table"]) > 0
    assert norm(g["norm"]) == 0  # after every sown map


def test_bfloat16_compute_float32_params_and_logits(tiny):
    v, x = tiny
    model = models.get("swin_mini", num_classes=5, dtype=jnp.bfloat16, **TINY)
    assert all(p.dtype == jnp.float32
               for p in jax.tree.leaves(_abstract_vars(model, X_SHAPE)["params"]))
    (logits, out), upd = _apply(model, "stages")(v, x)
    assert logits.dtype == jnp.float32 and out["pre_logits"].dtype == jnp.float32
    assert collect_features(upd)[-1].dtype == jnp.bfloat16
    ref = _apply(models.get("swin_mini", num_classes=5, **TINY))(v, x)[0][0]
    np.testing.assert_allclose(logits, ref, atol=0.1)


def test_stochastic_depth_in_train_only(tiny):
    v, x = tiny
    model = models.get("swin_mini", num_classes=5, drop_path_rate=0.3, dropout=0.1, **TINY)
    run = jax.jit(lambda v, x, key: model.apply(v, x, train=True, rngs={"dropout": key})[0])
    # "rbg" keys: the dropout masks compile faster than with threefry.
    a, b = run(v, x, jax.random.key(0, impl="rbg")), run(v, x, jax.random.key(1, impl="rbg"))
    assert not np.allclose(a, b)


# ------------------------------------------------------------------------ errors


def test_non_multiple_image_size_raises(tiny):
    v, _ = tiny
    model = models.get("swin_mini", num_classes=5, **TINY)
    with pytest.raises(ValueError, match="multiples of patch_size"):
        models.get("swin_mini", num_classes=5, image_size=24)
    with pytest.raises(ValueError, match="multiples of patch_size .* = 224"):
        models.get("swin_b", num_classes=10, image_size=32)
    with pytest.raises(ValueError, match="multiple of 16"):
        model.apply(v, jnp.zeros((1, 40, 40, 3)), train=False)
    # A different size that the windows do tile is fine (no position embedding).
    logits, _ = _apply(model)(v, jnp.zeros((1, 48, 32, 3)))[0]
    assert logits.shape == (1, 5)


@pytest.mark.parametrize("kwargs,match", [
    (dict(stem="imagenet"), "stem"),
    (dict(depths=(2,), num_heads=(1, 2)), "equal length"),
    (dict(num_heads=(3, 2)), "divisible"),
    (dict(drop_path_rate=-0.1), "drop_path_rate"),
    (dict(windows=4), "unknown option"),
])
def test_bad_configuration_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.get("swin_mini", num_classes=5, **kwargs)


def test_bad_input_raises(mini):
    model, v, x = mini
    with pytest.raises(ValueError, match="floating"):
        model.apply(v, jnp.zeros(X_SHAPE, jnp.uint8), train=False)
    with pytest.raises(ValueError, match="features"):
        model.apply(v, x, train=False, features="windows")
