"""Vision Transformer (ViT-B/16) backbone, defined as torchvision's ``vit_b_16``.

The POD paper, Table VIII, fine-tunes POD on ViT-B/16 (and Swin-B, :mod:`mfdjax.models.swin`).
The definition follows torchvision's ``VisionTransformer`` (Dosovitskiy et al., "An
Image is Worth 16x16 Words", ICLR 2021, section 3.1):

.. math::

    z_0 &= [x_\\mathrm{cls};\\, x_p^1 E; \\dots; x_p^N E] + E_\\mathrm{pos}
        \\qquad (E: \\text{16x16 stride-16 conv})\\\\
    z'_\\ell &= z_{\\ell-1} + \\mathrm{MSA}(\\mathrm{LN}(z_{\\ell-1}))\\\\
    z_\\ell &= z'_\\ell + \\mathrm{MLP}(\\mathrm{LN}(z'_\\ell))
        \\qquad (\\mathrm{MLP}: D \\to 4D \\xrightarrow{\\mathrm{GELU}} D)\\\\
    y &= \\mathrm{LN}(z_L)^{0} \\qquad (\\text{the class token})

With ``image_size=224`` and a 1000-class linear head the trainable parameter count is
torchvision's: 86,567,656 (conv_proj 590,592 + class token 768 + position embedding
151,296 + 12 blocks x 7,087,872 + final LayerNorm 1,536 + head 769,000).

Attention: one fused ``qkv`` Dense (D -> 3D, with bias) and an ``out`` Dense (D -> D),
which is exactly torchvision's ``nn.MultiheadAttention`` ``in_proj`` + ``out_proj``
(same parameter count, and a torchvision checkpoint maps onto it by a transpose).
The product itself is :func:`flax.linen.dot_product_attention` with the softmax forced
to float32 (so bf16 compute is safe) and attention dropout.

Sown features (``features=`` level, see :mod:`mfdjax.models.common`), token maps
``(B, T, C)`` with ``T = 1 + (image_size / patch_size)^2`` (class token first):

* ``"stages"``: 5 maps, like the CNNs' five stages: ``stage0_stem`` (the token sequence that
  enters the encoder: patch embedding + class token + position embedding, after the
  embedding dropout), then ``stage1`` ... ``stage4``: the outputs of 4 consecutive,
  equal groups of encoder blocks (ViT-B: blocks 3, 6, 9, 12; groups differ by at most
  one block when ``depth`` is not a multiple of ``num_stages``);
* ``"blocks"``: every encoder block output (``depth`` maps);
* ``"layers"``: inside every block, in order: ``attn_residual`` (the residual stream
  after the attention sub-block, ``z'``), ``mlp_hidden`` (the MLP hidden activation after
  GELU, ``(B, T, mlp_dim)``) and ``out`` (the block output ``z``): ``3 * depth`` maps.

Names sort in network order (``stage0_stem`` < ``stage1``; blocks ``encoder_layer_00``,
``encoder_layer_01``, ...; inside a block ``attn_residual`` < ``mlp`` < ``out``), because
JAX rebuilds dicts with sorted keys whenever the sown collection crosses a
transformation boundary (``jax.jit(model.apply)``, ``eval_shape``, ``tree.map``), and
:func:`mfdjax.models.collect_features` reads dict order: sorted order is then still
network order.

The shared transformer pieces (:class:`Attention`, :class:`MlpBlock`,
:class:`DropPath`) are also used by :mod:`mfdjax.models.swin`.

Pre-trained weights (the POD paper fine-tunes ViT-B/16 from ImageNet-21k weights):
``pretrained="path/to/ViT-B_16.npz"`` (config ``model.kwargs.pretrained``) names a file
of the official ViT release's ``.npz`` layout (Dosovitskiy et al.'s JAX code:
``embedding/kernel``, ``cls``, ``Transformer/posembed_input/pos_embedding``,
``Transformer/encoderblock_<i>/{LayerNorm_0, MultiHeadDotProductAttention_1/{query,key,
value,out}, LayerNorm_2, MlpBlock_3/{Dense_0, Dense_1}}``, ``Transformer/encoder_norm``).
The trainer loads it into the backbone after initialisation (:func:`load_official_npz`);
the classification head (``head``, ``pre_logits``) is NOT loaded: the new head starts
from its own initialisation, as in the ViT paper's fine-tuning (section 3.2, "we remove
the pre-trained prediction head"). mfdjax ships no weights: the user supplies the file.
When the file's patch grid differs from the model's, the position embedding is resized
bilinearly without antialiasing, as timm loads these files;
``pos_embedding_antialias=True`` (config ``model.kwargs.pos_embedding_antialias``)
antialiases a shrinking resize instead (JAX's ``jax.image.resize`` default).
"""

from __future__ import annotations

import math
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mfdjax.models.common import check_level, sow_feature
from mfdjax.models.heads import Classifier, make_head
from mfdjax.models.registry import register

__all__ = ["Attention", "DropPath", "EncoderBlock", "MlpBlock", "VisionTransformer",
           "check_image", "load_official_npz", "vit_b16", "vit_mini"]

# torchvision's initialisers (VisionTransformer.__init__, MLPBlock, nn.MultiheadAttention).
_xavier = nn.initializers.xavier_uniform()
_bias_1e6 = nn.initializers.normal(stddev=1e-6)
# PyTorch's default nn.Linear / nn.Conv2d weight init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
_torch_default = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def check_image(x: Any, name: str = "x") -> jax.Array:
    """``x`` as a floating NHWC batch ``(B, H, W, C)``, or a ValueError naming ``name``."""
    if not (isinstance(x, (jax.Array, np.ndarray)) or hasattr(x, "aval")):
        raise ValueError(f"`{name}` must be a JAX or NumPy array of images (B, H, W, C), "
                         f"got {type(x).__name__}; wrap it with jnp.asarray(...).")
    x = jnp.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"`{name}` must be a batch of NHWC images (B, H, W, C), got shape "
                         f"{tuple(x.shape)}; add the batch / channel axis with x[None] or "
                         f"x[..., None].")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f"`{name}` must have a floating dtype, got {x.dtype}; cast it with "
                         f"{name}.astype(jnp.float32) (and scale to the model's input range).")
    return x


def _check_rate(value: float, name: str) -> None:
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"`{name}` must be in [0, 1), got {value!r}.")


class DropPath(nn.Module):
    """Stochastic depth (torchvision ``StochasticDepth(p, "row")``): per sample, the branch
    is zeroed with probability ``rate`` and otherwise scaled by ``1 / (1 - rate)``.

    Identity when ``deterministic`` or ``rate == 0``. Draws from the ``"dropout"`` rng.
    Input ``(B, ...)``, output the same shape.
    """

    rate: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, *, deterministic: bool) -> jax.Array:
        if deterministic or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = jax.random.bernoulli(self.make_rng("dropout"), keep,
                                    (x.shape[0],) + (1,) * (x.ndim - 1))
        return jnp.where(mask, x / jnp.asarray(keep, x.dtype), jnp.zeros_like(x))


class MlpBlock(nn.Module):
    """``Dense(mlp_dim) -> GELU -> Dropout -> Dense(D) -> Dropout`` on ``(..., D)``.

    Sows the GELU output as ``mlp_hidden`` at the ``"layers"`` level. GELU is the exact
    (erf) form, as torch's ``nn.GELU()``.
    """

    mlp_dim: int
    dropout: float = 0.0
    dtype: Any = jnp.float32
    kernel_init: Any = _xavier
    bias_init: Any = _bias_1e6

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, features: str | None = None) -> jax.Array:
        dim = x.shape[-1]
        dense = lambda n, name: nn.Dense(n, dtype=self.dtype, kernel_init=self.kernel_init,
                                         bias_init=self.bias_init, name=name)
        h = nn.gelu(dense(self.mlp_dim, "fc1")(x), approximate=False)
        sow_feature(self, features, "layers", "mlp_hidden", h)
        h = nn.Dropout(self.dropout)(h, deterministic=not train)
        y = dense(dim, "fc2")(h)
        return nn.Dropout(self.dropout)(y, deterministic=not train)


class Attention(nn.Module):
    """Multi-head scaled dot-product attention over the token axis.

    .. math::

        [Q, K, V] = x W_{qkv} + b_{qkv},\\quad
        \\mathrm{head}_h = \\mathrm{softmax}\\Big(\\frac{Q_h K_h^\\top}{\\sqrt{d_h}} + B_h
        + M\\Big) V_h,\\quad y = [\\mathrm{head}_1, \\dots] W_o + b_o

    Args (call): ``x`` ``(..., N, D)``; ``bias`` broadcastable to ``(..., H, N, N)`` (Swin's
    relative position bias) or None; ``mask`` boolean, broadcastable to
    ``(..., H, N, N)``, True where a query may attend to a key (masked logits get the
    dtype's most negative value, so masked weights are exactly 0) or None.
    Returns ``(..., N, D)``. Parameters ``qkv`` (D, 3D)+(3D,) and ``out`` (D, D)+(D,):
    torchvision's ``in_proj`` + ``out_proj`` (or Swin's ``qkv`` + ``proj``).
    """

    num_heads: int
    attention_dropout: float = 0.0
    dtype: Any = jnp.float32
    qkv_kernel_init: Any = _xavier
    out_kernel_init: Any = _torch_default
    bias_init: Any = nn.initializers.zeros

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, bias: jax.Array | None = None,
                 mask: jax.Array | None = None) -> jax.Array:
        dim = x.shape[-1]
        if dim % self.num_heads:
            raise ValueError(f"the width {dim} must be divisible by `num_heads`="
                             f"{self.num_heads}; pick num_heads dividing it.")
        head_dim = dim // self.num_heads
        qkv = nn.Dense(3 * dim, dtype=self.dtype, kernel_init=self.qkv_kernel_init,
                       bias_init=self.bias_init, name="qkv")(x)
        # torchvision's layout: the 3D outputs are [q | k | v], each split into heads.
        qkv = qkv.reshape(x.shape[:-1] + (3, self.num_heads, head_dim))
        q, k, v = qkv[..., 0, :, :], qkv[..., 1, :, :], qkv[..., 2, :, :]  # (..., N, H, d)
        deterministic = not train or self.attention_dropout == 0.0
        y = nn.dot_product_attention(
            q, k, v, bias=bias, mask=mask, dropout_rate=self.attention_dropout,
            broadcast_dropout=False, deterministic=deterministic,
            dropout_rng=None if deterministic else self.make_rng("dropout"),
            dtype=self.dtype, force_fp32_for_softmax=True)
        y = y.reshape(x.shape[:-1] + (dim,))
        return nn.Dense(dim, dtype=self.dtype, kernel_init=self.out_kernel_init,
                        bias_init=self.bias_init, name="out")(y)


class EncoderBlock(nn.Module):
    """Pre-norm transformer block (torchvision ``EncoderBlock``) on ``(B, T, D)``.

    ``z' = z + DropPath(Dropout(MSA(LN(z))))``, ``out = z' + DropPath(MLP(LN(z')))``.
    Sows ``attn_residual``, ``mlp_hidden`` (in the MLP) and ``out`` at ``"layers"``, and
    ``out`` at ``"blocks"``.
    """

    num_heads: int
    mlp_dim: int
    dropout: float = 0.0
    attention_dropout: float = 0.0
    drop_path: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, features: str | None = None) -> jax.Array:
        ln = lambda name: nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name=name)
        h = Attention(self.num_heads, self.attention_dropout, dtype=self.dtype,
                      name="attn")(ln("ln_1")(x), train=train)
        h = nn.Dropout(self.dropout)(h, deterministic=not train)
        x = x + DropPath(self.drop_path)(h, deterministic=not train)
        sow_feature(self, features, "layers", "attn_residual", x)
        h = MlpBlock(self.mlp_dim, self.dropout, dtype=self.dtype,
                     name="mlp")(ln("ln_2")(x), train=train, features=features)
        x = x + DropPath(self.drop_path)(h, deterministic=not train)
        sow_feature(self, features, "layers", "out", x)
        sow_feature(self, features, "blocks", "out", x)
        return x


def _stage_ends(depth: int, num_stages: int) -> list[int]:
    """Indices of the last block of each of ``num_stages`` consecutive near-equal groups."""
    sizes = [len(a) for a in np.array_split(np.arange(depth), num_stages)]
    return list(np.cumsum(sizes) - 1)


class VisionTransformer(nn.Module):
    """ViT backbone: ``__call__(x (B, H, W, C), *, train, features=None) -> (B, hidden_dim)``.

    Returns the class token after the final LayerNorm, cast to float32. ``H = W =
    image_size`` is required (the position embedding has a fixed length), and
    ``image_size`` must be a multiple of ``patch_size``. With ``dtype=jnp.bfloat16`` the
    computation runs in bf16 with float32 parameters (LayerNorm statistics and the
    attention softmax in float32). Dropout / attention dropout / stochastic depth
    (linearly increasing over blocks up to ``drop_path_rate``; 0 in torchvision's ViT)
    are active only with ``train=True`` and then need ``rngs={"dropout": key}``.
    """

    image_size: int = 224
    patch_size: int = 16
    hidden_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_dim: int = 3072
    dropout: float = 0.0
    attention_dropout: float = 0.0
    drop_path_rate: float = 0.0
    num_stages: int = 4
    dtype: Any = jnp.float32
    pretrained: str = ""
    pos_embedding_antialias: bool = False

    def load_pretrained(self, params: Any) -> Any:
        """This backbone's ``params`` with the weights of the file ``pretrained`` (see
        :func:`load_official_npz`; ``pos_embedding_antialias`` is its ``antialias``);
        ``params`` unchanged when ``pretrained`` is empty."""
        if not self.pretrained:
            return params
        return load_official_npz(params, self.pretrained, num_heads=self.num_heads,
                                 antialias=self.pos_embedding_antialias)

    def _validate(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError(f"`image_size`={self.image_size} must be a multiple of "
                             f"`patch_size`={self.patch_size}.")
        if self.hidden_dim % self.num_heads:
            raise ValueError(f"`hidden_dim`={self.hidden_dim} must be divisible by "
                             f"`num_heads`={self.num_heads}.")
        if not 1 <= self.num_stages <= self.depth:
            raise ValueError(f"`num_stages`={self.num_stages} must be in [1, depth="
                             f"{self.depth}] (it splits the blocks into groups).")
        for name in ("dropout", "attention_dropout", "drop_path_rate"):
            _check_rate(getattr(self, name), name)
        if not isinstance(self.pos_embedding_antialias, (bool, np.bool_)):
            raise ValueError(f"`pos_embedding_antialias` must be True or False, got "
                             f"{self.pos_embedding_antialias!r}.")
        if self.pretrained:
            if not isinstance(self.pretrained, str) or not os.path.isfile(self.pretrained):
                raise ValueError(f"`pretrained` (model.kwargs.pretrained) must name an existing "
                                 f".npz file of the official ViT layout, got "
                                 f"{self.pretrained!r}; give the file's path, or '' to start "
                                 "from a random initialisation.")

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, features: str | None = None) -> jax.Array:
        check_level(features)
        self._validate()
        x = check_image(x)
        if x.shape[1:3] != (self.image_size, self.image_size):
            raise ValueError(f"`x` must be (B, {self.image_size}, {self.image_size}, C) images "
                             f"for this ViT (image_size={self.image_size}), got "
                             f"{tuple(x.shape)}; resize the input or build the model with "
                             f"image_size={x.shape[1]}.")
        p = self.patch_size
        fan_in = p * p * x.shape[-1]
        x = nn.Conv(self.hidden_dim, (p, p), strides=(p, p), padding="VALID", dtype=self.dtype,
                    kernel_init=nn.initializers.truncated_normal(math.sqrt(1.0 / fan_in)),
                    name="conv_proj")(x)
        b, h, w, c = x.shape
        x = x.reshape(b, h * w, c)
        cls = self.param("class_token", nn.initializers.zeros, (1, 1, c), jnp.float32)
        x = jnp.concatenate([jnp.broadcast_to(cls.astype(x.dtype), (b, 1, c)), x], axis=1)
        pos = self.param("pos_embedding", nn.initializers.normal(0.02), (1, h * w + 1, c),
                         jnp.float32)
        x = x + pos.astype(x.dtype)
        x = nn.Dropout(self.dropout)(x, deterministic=not train)
        sow_feature(self, features, "stages", "stage0_stem", x)

        ends = _stage_ends(self.depth, self.num_stages)
        width = len(str(self.depth - 1))  # zero-padded names: see "Names" in the module doc
        for i in range(self.depth):
            dp = self.drop_path_rate * i / max(self.depth - 1, 1)
            x = EncoderBlock(self.num_heads, self.mlp_dim, self.dropout, self.attention_dropout,
                             dp, dtype=self.dtype, name=f"encoder_layer_{i:0{width}d}")(
                                 x, train=train, features=features)
            if i in ends:
                sow_feature(self, features, "stages", f"stage{ends.index(i) + 1}", x)
        x = nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name="ln")(x)
        return x[:, 0].astype(jnp.float32)


_VIT_OPTIONS = ("patch_size", "hidden_dim", "depth", "num_heads", "mlp_dim", "dropout",
                "attention_dropout", "drop_path_rate", "num_stages", "pretrained",
                "pos_embedding_antialias")


def _resample_pos_embedding(pos: np.ndarray, tokens: int, *,
                            antialias: bool = False) -> np.ndarray:
    """(1, 1 + g0*g0, D) -> (1, tokens, D): class token kept, the g0 x g0 grid resized
    bilinearly to g x g (the ViT paper's "2D interpolation of the pre-trained position
    embeddings", section 3.2).

    Bilinear with half-pixel centres (:func:`jax.image.resize`, PyTorch's
    ``align_corners=False``). ``antialias=False`` (default) samples the grid at the new
    points, as timm's loader of the official ``.npz`` files does (bilinear, no
    antialiasing); ``antialias=True`` widens the bilinear kernel by the shrink factor when
    ``g < g0`` (JAX's own default), which averages more of the old grid. When the grid
    grows (``g >= g0``) both give the same values.
    """
    n0, n = pos.shape[1] - 1, tokens - 1
    g0, g = int(round(math.sqrt(n0))), int(round(math.sqrt(n)))
    if g0 * g0 != n0 or g * g != n:
        raise ValueError(f"cannot resample a position embedding of {n0} patches to {n}: both "
                         "must be square grids.")
    grid = jnp.asarray(pos[0, 1:].reshape(g0, g0, -1), jnp.float32)
    grid = jax.image.resize(grid, (g, g, grid.shape[-1]), method="bilinear",
                            antialias=bool(antialias))
    return np.concatenate([pos[:, :1], np.asarray(grid).reshape(1, n, -1)], axis=1)


def load_official_npz(params: Any, path: str, *, num_heads: int,
                      antialias: bool = False) -> Any:
    """Backbone params of :class:`VisionTransformer` filled from an official ViT ``.npz``.

    Mapping (official -> mfdjax): ``embedding/{kernel,bias}`` -> ``conv_proj``; ``cls`` ->
    ``class_token``; ``Transformer/posembed_input/pos_embedding`` -> ``pos_embedding``
    (bilinearly resized, half-pixel centres, when the patch grid differs; a shrinking
    resize is antialiased only with ``antialias=True``); per block ``i``
    ``Transformer/encoderblock_<i>/``: ``LayerNorm_0`` -> ``ln_1``, ``LayerNorm_2`` ->
    ``ln_2``, ``MultiHeadDotProductAttention_1/{query,key,value}/kernel`` (D, H, d) ->
    the columns ``[q | k | v]`` of ``attn/qkv/kernel`` (D, 3D) (biases (H, d) likewise),
    ``.../out/kernel`` (H, d, D) -> ``attn/out/kernel`` (D, D), ``MlpBlock_3/Dense_0`` /
    ``Dense_1`` -> ``mlp/fc1`` / ``mlp/fc2``; ``Transformer/encoder_norm`` -> ``ln``.
    An RGB patch kernel loaded into a 1-channel model is summed over its colour axis.
    ``head/*`` and ``pre_logits/*`` are ignored (a new head is trained).

    Args:
      params: the backbone's initialised params (the shapes to fill).
      path: the ``.npz`` file.
      num_heads: the model's head count (must match the file's).
      antialias: antialias the position-embedding resize when the grid shrinks (default
        False, as timm's loader of these files).

    Returns:
      A new params dict (float32 leaves from the file).

    Raises:
      ValueError: a missing key, a shape that does not match, or a block-count mismatch,
        naming the key and both shapes.
    """
    if not os.path.isfile(path):
        raise ValueError(f"pretrained file {path!r} does not exist.")
    with np.load(path) as f:
        w = {k: np.asarray(f[k], np.float32) for k in f.files}

    def get(key: str) -> np.ndarray:
        if key not in w:
            raise ValueError(f"{path}: key {key!r} is missing; is this an official ViT .npz "
                             f"(keys like 'embedding/kernel', 'Transformer/encoderblock_0/...')?")
        return w[key]

    def put(tree: dict, keys: tuple, value: np.ndarray, src: str) -> None:
        node = tree
        for k in keys[:-1]:
            node = node[k]
        want = tuple(node[keys[-1]].shape)
        if tuple(value.shape) != want:
            raise ValueError(f"{path}: {src} has shape {tuple(value.shape)}, the model's "
                             f"{'/'.join(keys)} has {want}; build the model with the file's "
                             "sizes (patch_size, hidden_dim, num_heads, mlp_dim).")
        node[keys[-1]] = jnp.asarray(value)

    def copy(tree):
        return {k: copy(v) if hasattr(v, "items") else v for k, v in tree.items()}

    out = copy(params)
    blocks = sorted(k for k in out if k.startswith("encoder_layer_"))
    file_blocks = {k.split("/")[1] for k in w if k.startswith("Transformer/encoderblock_")}
    if len(file_blocks) != len(blocks):
        raise ValueError(f"{path}: the file has {len(file_blocks)} encoder blocks, the model "
                         f"{len(blocks)}; set depth={len(file_blocks)}.")
    kernel = get("embedding/kernel")
    want_c = out["conv_proj"]["kernel"].shape[2]
    if kernel.shape[2] == 3 and want_c == 1:
        kernel = kernel.sum(axis=2, keepdims=True)
    put(out, ("conv_proj", "kernel"), kernel, "embedding/kernel")
    put(out, ("conv_proj", "bias"), get("embedding/bias"), "embedding/bias")
    put(out, ("class_token",), get("cls"), "cls")
    pos = get("Transformer/posembed_input/pos_embedding")
    if pos.shape[1] != out["pos_embedding"].shape[1]:
        pos = _resample_pos_embedding(pos, out["pos_embedding"].shape[1], antialias=antialias)
    put(out, ("pos_embedding",), pos, "Transformer/posembed_input/pos_embedding")
    for i, name in enumerate(blocks):
        b = f"Transformer/encoderblock_{i}/"
        a = b + "MultiHeadDotProductAttention_1/"
        q, k, v = (get(a + n + "/kernel") for n in ("query", "key", "value"))
        if q.ndim != 3 or q.shape[1] != num_heads:
            raise ValueError(f"{path}: {a}query/kernel has shape {q.shape}, expected "
                             f"(D, num_heads={num_heads}, head_dim).")
        d = q.shape[0]
        put(out, (name, "attn", "qkv", "kernel"),
            np.concatenate([x.reshape(d, -1) for x in (q, k, v)], axis=1), a + "query/key/value")
        put(out, (name, "attn", "qkv", "bias"),
            np.concatenate([get(a + n + "/bias").reshape(-1) for n in ("query", "key", "value")]),
            a + "query/key/value biases")
        o = get(a + "out/kernel")
        put(out, (name, "attn", "out", "kernel"), o.reshape(-1, o.shape[-1]), a + "out/kernel")
        put(out, (name, "attn", "out", "bias"), get(a + "out/bias"), a + "out/bias")
        for ours, theirs in (("ln_1", "LayerNorm_0"), ("ln_2", "LayerNorm_2")):
            for leaf in ("scale", "bias"):
                put(out, (name, ours, leaf), get(b + f"{theirs}/{leaf}"), b + theirs)
        for ours, theirs in (("fc1", "Dense_0"), ("fc2", "Dense_1")):
            for leaf in ("kernel", "bias"):
                put(out, (name, "mlp", ours, leaf), get(b + f"MlpBlock_3/{theirs}/{leaf}"),
                    b + f"MlpBlock_3/{theirs}/{leaf}")
    for leaf in ("scale", "bias"):
        put(out, ("ln", leaf), get(f"Transformer/encoder_norm/{leaf}"), "Transformer/encoder_norm")
    return out


def build_classifier(backbone_cls: type, defaults: dict, valid: tuple[str, ...], *,
                     num_classes: int, stem: Any, head: str, head_kwargs: dict | None,
                     dtype: Any, image_size: int, options: dict) -> Classifier:
    """Shared factory body for the transformer families (checks, then Classifier)."""
    if stem is not None:
        raise ValueError(f"`stem` has no meaning for a transformer (its stem is the patch "
                         f"embedding); leave it None, got {stem!r}.")
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for {backbone_cls.__name__}; valid "
                         f"options are {list(valid)}.")
    if not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise ValueError(f"`image_size` must be a positive int, got {image_size!r}.")
    cfg = dict(defaults)
    cfg.update(options)
    backbone = backbone_cls(image_size=int(image_size), dtype=dtype, **cfg)
    backbone._validate()  # fail at construction, not at the first apply
    return Classifier(backbone, make_head(head, num_classes, **(head_kwargs or {})))


@register("vit_b16")
def vit_b16(*, num_classes: int, stem: Any = None, head: str = "linear",
            head_kwargs: dict | None = None, dtype: Any = jnp.float32, image_size: int = 224,
            **options) -> Classifier:
    """ViT-B/16 (torchvision ``vit_b_16``): patch 16, width 768, 12 blocks, 12 heads, MLP 3072.

    ``options`` override :class:`VisionTransformer` fields (patch_size, hidden_dim, depth,
    num_heads, mlp_dim, dropout, attention_dropout, drop_path_rate, num_stages,
    pretrained, pos_embedding_antialias).
    ``stem`` must be None. Returns ``Classifier(VisionTransformer, head)``.
    """
    return build_classifier(VisionTransformer, {}, _VIT_OPTIONS, num_classes=num_classes,
                            stem=stem, head=head, head_kwargs=head_kwargs, dtype=dtype,
                            image_size=image_size, options=options)


@register("vit_mini")
def vit_mini(*, num_classes: int, stem: Any = None, head: str = "linear",
             head_kwargs: dict | None = None, dtype: Any = jnp.float32, image_size: int = 32,
             **options) -> Classifier:
    """Test-size ViT (same code): 32x32 images, patch 4, width 32, 4 blocks, 2 heads, MLP 64."""
    defaults = dict(patch_size=4, hidden_dim=32, depth=4, num_heads=2, mlp_dim=64)
    return build_classifier(VisionTransformer, defaults, _VIT_OPTIONS,
                            num_classes=num_classes, stem=stem, head=head,
                            head_kwargs=head_kwargs, dtype=dtype, image_size=image_size,
                            options=options)
