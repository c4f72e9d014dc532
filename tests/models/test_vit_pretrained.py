"""ViT weights from a file of the official ViT release's .npz layout.

A small synthetic file with the official key names and shapes is written here; the loaded
model must compute what an independent NumPy ViT computes from the file's arrays under the
official semantics (query/key/value kernels (D, H, d), out kernel (H, d, D), pre-norm
blocks, LayerNorm eps 1e-6, exact GELU, class token after the final norm).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erf

from mfdjax import models

D, H, DEPTH, MLP, P, IMG, C = 32, 2, 2, 48, 4, 16, 3


def _official(path, *, img=IMG, channels=C, depth=DEPTH, seed=0, pre_logits=True):
    rng = np.random.default_rng(seed)
    r = lambda *s: rng.normal(0, 0.2, s).astype(np.float32)   # noqa: E731
    g = img // P
    w = {"embedding/kernel": r(P, P, channels, D), "embedding/bias": r(D), "cls": r(1, 1, D),
         "Transformer/posembed_input/pos_embedding": r(1, g * g + 1, D),
         "Transformer/encoder_norm/scale": 1 + r(D), "Transformer/encoder_norm/bias": r(D),
         "head/kernel": r(D, 7), "head/bias": r(7)}
    if pre_logits:
        w.update({"pre_logits/kernel": r(D, D), "pre_logits/bias": r(D)})
    for i in range(depth):
        b = f"Transformer/encoderblock_{i}/"
        a = b + "MultiHeadDotProductAttention_1/"
        for n in ("query", "key", "value"):
            w[a + n + "/kernel"], w[a + n + "/bias"] = r(D, H, D // H), r(H, D // H)
        w[a + "out/kernel"], w[a + "out/bias"] = r(H, D // H, D), r(D)
        for ln in ("LayerNorm_0", "LayerNorm_2"):
            w[b + ln + "/scale"], w[b + ln + "/bias"] = 1 + r(D), r(D)
        w[b + "MlpBlock_3/Dense_0/kernel"], w[b + "MlpBlock_3/Dense_0/bias"] = r(D, MLP), r(MLP)
        w[b + "MlpBlock_3/Dense_1/kernel"], w[b + "MlpBlock_3/Dense_1/bias"] = r(MLP, D), r(D)
    np.savez(path, **w)
    return w


def _reference(w, x, depth=DEPTH):
    """The official ViT forward in NumPy, from the file's arrays: the class-token feature."""
    def ln(v, pre):
        m = v.mean(-1, keepdims=True)
        s = ((v - m) ** 2).mean(-1, keepdims=True)
        return (v - m) / np.sqrt(s + 1e-6) * w[pre + "/scale"] + w[pre + "/bias"]

    b, hh, ww, c = x.shape
    g = hh // P
    patches = x.reshape(b, g, P, g, P, c).transpose(0, 1, 3, 2, 4, 5)
    tok = np.einsum("bhwijc,ijcd->bhwd", patches, w["embedding/kernel"]) + w["embedding/bias"]
    z = np.concatenate([np.broadcast_to(w["cls"], (b, 1, D)), tok.reshape(b, g * g, D)], 1)
    z = z + w["Transformer/posembed_input/pos_embedding"]
    for i in range(depth):
        pre = f"Transformer/encoderblock_{i}/"
        a = pre + "MultiHeadDotProductAttention_1/"
        y = ln(z, pre + "LayerNorm_0")
        q, k, v = (np.einsum("btd,dhk->bthk", y, w[a + n + "/kernel"]) + w[a + n + "/bias"]
                   for n in ("query", "key", "value"))
        logits = np.einsum("bthk,bshk->bhts", q, k) / np.sqrt(D // H)
        att = np.exp(logits - logits.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        o = np.einsum("bhts,bshk->bthk", att, v)
        z = z + np.einsum("bthk,hkd->btd", o, w[a + "out/kernel"]) + w[a + "out/bias"]
        y = ln(z, pre + "LayerNorm_2")
        h = y @ w[pre + "MlpBlock_3/Dense_0/kernel"] + w[pre + "MlpBlock_3/Dense_0/bias"]
        h = 0.5 * h * (1 + erf(h / np.sqrt(2)))
        z = z + h @ w[pre + "MlpBlock_3/Dense_1/kernel"] + w[pre + "MlpBlock_3/Dense_1/bias"]
    return ln(z, "Transformer/encoder_norm")[:, 0]


def _model(path, img=IMG, **kw):
    return models.get("vit_mini", num_classes=5, image_size=img, pretrained=str(path),
                      patch_size=P, hidden_dim=D, depth=DEPTH, num_heads=H, mlp_dim=MLP,
                      num_stages=2, **kw)


def test_loaded_vit_computes_the_official_forward(tmp_path):
    path = tmp_path / "vit.npz"
    w = _official(path)
    model = _model(path)
    x = np.random.default_rng(1).normal(size=(2, IMG, IMG, C)).astype(np.float32)
    variables = model.init(jax.random.PRNGKey(0), jnp.asarray(x))
    params = model.backbone.load_pretrained(variables["params"]["backbone"])
    full = {"params": {**variables["params"], "backbone": params}}
    feat = model.apply(full, jnp.asarray(x))[1]["pre_logits"]
    np.testing.assert_allclose(np.asarray(feat), _reference(w, x), rtol=2e-4, atol=2e-4)
    # The head keeps its own initialisation (the file's head is for other classes).
    np.testing.assert_array_equal(np.asarray(full["params"]["head"]["fc"]["kernel"]),
                                  np.asarray(variables["params"]["head"]["fc"]["kernel"]))


def test_trainer_state_starts_from_the_file(tmp_path):
    from mfdjax.configs import load_config
    from mfdjax.train.optim import make_optimizer
    from mfdjax.train.state import create_train_state, make_key

    path = tmp_path / "vit.npz"
    w = _official(path, pre_logits=False)
    config = load_config("default:softmax")
    tx, _ = make_optimizer(config.optimizer, steps_per_epoch=10, num_epochs=1)
    state = create_train_state(config, _model(path), rng=make_key(0, "threefry"),
                               input_shape=(IMG, IMG, C), num_classes=5, tx=tx)
    np.testing.assert_array_equal(np.asarray(state.params["backbone"]["class_token"]), w["cls"])
    np.testing.assert_array_equal(np.asarray(state.params["backbone"]["ln"]["scale"]),
                                  w["Transformer/encoder_norm/scale"])


def test_position_embedding_is_resampled_and_grey_input_sums_rgb(tmp_path):
    path = tmp_path / "vit.npz"
    w = _official(path, img=IMG)
    pos = w["Transformer/posembed_input/pos_embedding"]
    pos[0, 1:] = 0.25                      # a constant grid stays constant when resized
    np.savez(path, **w)
    model = _model(path, img=2 * IMG)      # 8x8 patches instead of 4x4
    x = jnp.zeros((1, 2 * IMG, 2 * IMG, 1))
    params = model.backbone.load_pretrained(
        model.init(jax.random.PRNGKey(0), x)["params"]["backbone"])
    got = np.asarray(params["pos_embedding"])
    assert got.shape == (1, 65, D)
    np.testing.assert_array_equal(got[0, 0], pos[0, 0])
    np.testing.assert_allclose(got[0, 1:], 0.25, atol=1e-6)
    np.testing.assert_allclose(np.asarray(params["conv_proj"]["kernel"])[:, :, 0],
                               w["embedding/kernel"].sum(2), rtol=1e-6)


def test_shrinking_resize_samples_without_antialias_unless_asked(tmp_path):
    """Default: bilinear at half-pixel centres with no antialiasing (timm's .npz loader);
    halving an 8x8 grid then averages each 2x2 block. pos_embedding_antialias=True widens
    the kernel (jax.image.resize's default), which averages more of the old grid."""
    path = tmp_path / "vit.npz"
    w = _official(path, img=2 * IMG)       # 8x8 patches in the file, 4x4 in the model
    grid = w["Transformer/posembed_input/pos_embedding"][0, 1:].reshape(8, 8, D)
    block_mean = grid.reshape(4, 2, 4, 2, D).mean(axis=(1, 3)).reshape(16, D)
    x = jnp.zeros((1, IMG, IMG, C))
    got = {}
    for antialias in (False, True):
        model = _model(path, pos_embedding_antialias=antialias)
        params = model.backbone.load_pretrained(
            model.init(jax.random.PRNGKey(0), x)["params"]["backbone"])
        got[antialias] = np.asarray(params["pos_embedding"])[0]
        np.testing.assert_array_equal(got[antialias][0],
                                      w["Transformer/posembed_input/pos_embedding"][0, 0])
    np.testing.assert_allclose(got[False][1:], block_mean, rtol=1e-5, atol=1e-6)
    assert np.abs(got[True][1:] - block_mean).max() > 1e-2
    with pytest.raises(ValueError, match="pos_embedding_antialias"):
        _model(path, pos_embedding_antialias="yes")


def test_bad_files_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="pretrained"):
        _model(tmp_path / "missing.npz")
    path = tmp_path / "deep.npz"
    _official(path, depth=DEPTH + 1)
    model = _model(path)
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, IMG, IMG, C)))["params"]
    with pytest.raises(ValueError, match="encoder blocks"):
        model.backbone.load_pretrained(params["backbone"])
    wide = tmp_path / "wide.npz"
    _official(wide)
    model = models.get("vit_mini", num_classes=5, image_size=IMG, pretrained=str(wide),
                       patch_size=P, hidden_dim=2 * D, depth=DEPTH, num_heads=H, mlp_dim=MLP,
                       num_stages=2)
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, IMG, IMG, C)))["params"]
    with pytest.raises(ValueError, match="embedding/kernel has shape"):
        model.backbone.load_pretrained(params["backbone"])
