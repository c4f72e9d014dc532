"""Swin Transformer (Swin-B) backbone, defined as torchvision's ``swin_b`` (V1).

The POD paper, Table VIII, trains POD on Swin-B (AdamW, 300 epochs; see :mod:`mfdjax.configs.pod_transformers`). The
definition follows torchvision's ``SwinTransformer`` (Liu et al., "Swin Transformer",
ICCV 2021, section 3): a 4x4 patch embedding (conv + LayerNorm), 4 stages of
``depths = (2, 2, 18, 2)`` blocks with ``num_heads = (4, 8, 16, 32)`` at widths
``128 * 2^s``, patch merging between stages, final LayerNorm and global average pool.
Each block (Swin paper eq. 3) is

.. math::

    \\hat z^\\ell &= \\text{(S)W-MSA}(\\mathrm{LN}(z^{\\ell-1})) + z^{\\ell-1},\\qquad
    z^\\ell = \\mathrm{MLP}(\\mathrm{LN}(\\hat z^\\ell)) + \\hat z^\\ell\\\\
    \\mathrm{Attention}(Q, K, V) &= \\mathrm{softmax}(Q K^\\top / \\sqrt{d} + B + M)\\, V

with attention inside non-overlapping ``window x window`` windows, every odd block of a
stage cyclically shifted by ``window // 2`` (no shift when the window covers the whole
map, as torchvision), ``B`` the learned relative position bias (a parameter table of
``(2w-1)^2 x heads`` entries, indexed by a constant index: not a parameter) and ``M``
the shifted-window mask (:func:`shifted_window_mask`). With ``image_size=224`` and a
1000-class linear head the trainable parameter count is torchvision's 87,768,224.

Deviations from torchvision, by choice:

* torchvision zero-pads a map that the window does not tile; here the input must be
  tiled exactly (``H`` and ``W`` multiples of ``patch_size * 2^(stages-1) * window``,
  224 for Swin-B) and anything else raises a ValueError: padding silently changes
  what the model computes at the border.
* the shifted-window mask is boolean (masked weights are exactly 0) instead of
  torchvision's additive -100 (weights ~e^-100): numerically identical in float32.
* the patch-embedding conv bias starts at zero (torchvision: PyTorch's default uniform).

Sown features (see :mod:`mfdjax.models.common`), all maps ``(B, H_s, W_s, C_s)``:

* ``"stages"``: ``stage0_stem`` (patch embedding after its LayerNorm), then ``stage1`` ...
  ``stageS``: each stage's output before patch merging (Swin-B at 224: 5 maps,
  56x56x128, 56x56x128, 28x28x256, 14x14x512, 7x7x1024);
* ``"blocks"``: every Swin block output (Swin-B: 24 maps);
* ``"layers"``: inside every block, in order ``attn_residual`` (after the (S)W-MSA
  residual), ``mlp_hidden`` (the MLP activation after GELU, ``4 C_s`` channels) and
  ``out`` (the block output).

Names sort in network order (``stage0_stem``, ``stage1``, ...; blocks
``stage1_block00`` ... ``stage3_block17``, zero-padded), so the order survives JAX's
key-sorting of dicts under ``jit`` (see :mod:`mfdjax.models.vit`).
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mfdjax.models.common import check_level, sow_feature
from mfdjax.models.registry import register
from mfdjax.models.vit import (Attention, DropPath, MlpBlock, _check_rate, _torch_default,
                               build_classifier, check_image)

__all__ = ["PatchMerging", "SwinBlock", "SwinTransformer", "WindowAttention",
           "relative_position_index", "shifted_window_mask", "swin_b", "swin_mini"]

# torchvision's SwinTransformer.__init__ re-initialises every nn.Linear (attention, MLP,
# patch merging) with trunc_normal(std=0.02) and zero bias.
_trunc02 = nn.initializers.truncated_normal(0.02)


def relative_position_index(window: int) -> np.ndarray:
    """Index into the ``(2w-1)^2`` bias table for every (query, key) pair of a window.

    Returns an int32 ``(w^2, w^2)`` array: for tokens ``a, b`` at ``(i_a, j_a), (i_b, j_b)``
    (row-major in the window), ``(i_a - i_b + w - 1) (2w - 1) + (j_a - j_b + w - 1)``.
    Same as torchvision's ``relative_position_index`` buffer (Swin paper section 3.2).
    """
    coords = np.stack(np.meshgrid(np.arange(window), np.arange(window), indexing="ij"))
    coords = coords.reshape(2, -1)
    rel = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0) + (window - 1)
    return (rel[..., 0] * (2 * window - 1) + rel[..., 1]).astype(np.int32)


def _partition(x: jax.Array, window: int) -> jax.Array:
    """``(B, H, W, C) -> (B, nW, w*w, C)``, windows in row-major order (JAX or NumPy)."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // window, window, w // window, window, c)
    return x.transpose(0, 1, 3, 2, 4, 5).reshape(b, (h // window) * (w // window),
                                                 window * window, c)


def _merge(x: jax.Array, window: int, h: int, w: int) -> jax.Array:
    """Inverse of :func:`_partition`: ``(B, nW, w*w, C) -> (B, H, W, C)``."""
    b, _, _, c = x.shape
    x = x.reshape(b, h // window, w // window, window, window, c)
    return x.transpose(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)


def shifted_window_mask(height: int, width: int, window: int,
                        shift: int | tuple[int, int]) -> np.ndarray:
    """Which tokens may attend to which inside each window of the cyclically shifted map.

    After rolling the ``(height, width)`` map by ``-shift`` on both axes, the last
    ``shift`` rows / columns of the map hold tokens that were the first rows / columns
    of the image: they share a window with tokens they are not adjacent to. The map is
    cut into the regions of torchvision's ``h_slices`` / ``w_slices``
    (``[0, H-w), [H-w, H-s), [H-s, H)``) and a token may attend only to tokens of its own
    region (Swin paper section 3.2, Fig. 4).

    Args: ``height``, ``width`` multiples of ``window``; ``shift`` an int, or
    ``(shift_h, shift_w)``, each in ``[0, window)``.
    Returns a bool ``(nW, w*w, w*w)`` array (``nW = height*width / w^2``, windows in
    row-major order), True where query ``i`` may attend to key ``j``; all True for shift 0.
    """
    sh, sw = (shift, shift) if np.isscalar(shift) else shift
    if height % window or width % window or not (0 <= sh < window and 0 <= sw < window):
        raise ValueError(f"need height, width multiples of window and 0 <= shift < window; "
                         f"got {height}x{width}, window={window}, shift={shift}.")

    def regions(n: int, s: int) -> np.ndarray:
        lab = np.zeros(n, np.int32)
        if s > 0:
            lab[n - window:n - s] = 1
            lab[n - s:] = 2
        return lab

    labels = regions(height, sh)[:, None] * 3 + regions(width, sw)[None, :]
    win = _partition(labels[None, :, :, None], window)[0, :, :, 0]  # NumPy in, NumPy out
    return win[:, :, None] == win[:, None, :]


class WindowAttention(nn.Module):
    """(Shifted) window multi-head self-attention with relative position bias.

    Input / output ``(B, H, W, C)`` with ``H``, ``W`` multiples of ``window``. Parameters:
    ``relative_position_bias_table`` ``((2w-1)^2, num_heads)`` and the ``attn`` qkv/out
    Dense layers (torchvision's ``qkv`` + ``proj``). ``shift`` 0 is W-MSA; ``shift > 0``
    rolls the map by ``-shift``, masks with :func:`shifted_window_mask` and rolls back.
    """

    num_heads: int
    window: int
    shift: int = 0
    attention_dropout: float = 0.0
    dropout: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        _, h, w, _ = x.shape
        ws = self.window
        if h % ws or w % ws:
            raise ValueError(f"the {h}x{w} token map is not tiled by window={ws}; use an "
                             f"input size whose maps are multiples of the window.")
        table = self.param("relative_position_bias_table", _trunc02,
                           ((2 * ws - 1) ** 2, self.num_heads), jnp.float32)
        idx = relative_position_index(ws)
        bias = jnp.transpose(table[idx], (2, 0, 1)).astype(self.dtype)  # (heads, N, N)
        # torchvision: no shift along an axis that a single window covers.
        shift_h = self.shift if ws < h else 0
        shift_w = self.shift if ws < w else 0
        mask = None
        if shift_h or shift_w:
            x = jnp.roll(x, (-shift_h, -shift_w), axis=(1, 2))
            mask = jnp.asarray(shifted_window_mask(h, w, ws, (shift_h, shift_w)))[:, None]
        y = Attention(self.num_heads, self.attention_dropout, dtype=self.dtype,
                      qkv_kernel_init=_trunc02, out_kernel_init=_trunc02, name="attn")(
                          _partition(x, ws), train=train, bias=bias, mask=mask)
        y = nn.Dropout(self.dropout)(y, deterministic=not train)
        y = _merge(y, ws, h, w)
        if shift_h or shift_w:
            y = jnp.roll(y, (shift_h, shift_w), axis=(1, 2))
        return y


class SwinBlock(nn.Module):
    """Swin block (torchvision ``SwinTransformerBlock``) on ``(B, H, W, C)``.

    ``x' = x + DropPath((S)W-MSA(LN(x)))``, ``out = x' + DropPath(MLP(LN(x')))``; sows
    ``attn_residual``, ``mlp_hidden``, ``out`` at ``"layers"`` and ``out`` at ``"blocks"``.
    """

    num_heads: int
    window: int
    shift: int = 0
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    attention_dropout: float = 0.0
    drop_path: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, features: str | None = None) -> jax.Array:
        ln = lambda name: nn.LayerNorm(epsilon=1e-5, dtype=self.dtype, name=name)
        h = WindowAttention(self.num_heads, self.window, self.shift, self.attention_dropout,
                            self.dropout, dtype=self.dtype, name="attn")(ln("norm1")(x),
                                                                         train=train)
        x = x + DropPath(self.drop_path)(h, deterministic=not train)
        sow_feature(self, features, "layers", "attn_residual", x)
        h = MlpBlock(int(x.shape[-1] * self.mlp_ratio), self.dropout, dtype=self.dtype,
                     kernel_init=_trunc02, bias_init=nn.initializers.zeros,
                     name="mlp")(ln("norm2")(x), train=train, features=features)
        x = x + DropPath(self.drop_path)(h, deterministic=not train)
        sow_feature(self, features, "layers", "out", x)
        sow_feature(self, features, "blocks", "out", x)
        return x


class PatchMerging(nn.Module):
    """``(B, H, W, C) -> (B, H/2, W/2, 2C)``: concat the 2x2 neighbours (torchvision's order
    x[0::2,0::2], x[1::2,0::2], x[0::2,1::2], x[1::2,1::2]), LayerNorm(4C), Dense(2C, no bias)."""

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        x = jnp.concatenate([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2],
                             x[:, 1::2, 1::2]], axis=-1)
        x = nn.LayerNorm(epsilon=1e-5, dtype=self.dtype, name="norm")(x)
        return nn.Dense(2 * c, use_bias=False, dtype=self.dtype, kernel_init=_trunc02,
                        name="reduction")(x)


class SwinTransformer(nn.Module):
    """Swin backbone: ``__call__(x (B, H, W, C), *, train, features=None) -> (B, D)``.

    ``D = embed_dim * 2^(len(depths)-1)`` (Swin-B: 1024): final LayerNorm, then the mean
    over the last ``(H_S, W_S)`` map, cast to float32. ``H`` and ``W`` must be multiples
    of ``patch_size * 2^(len(depths)-1) * window`` (else ValueError). ``image_size`` is
    only checked at construction (relative position bias does not depend on the input
    size). Stochastic depth grows linearly over all blocks from 0 to ``drop_path_rate``
    (torchvision's ``swin_b`` uses 0.5; default 0 here); dropout, attention dropout and
    stochastic depth need ``rngs={"dropout": key}`` with ``train=True``.
    """

    image_size: int = 224
    patch_size: int = 4
    embed_dim: int = 128
    depths: Sequence[int] = (2, 2, 18, 2)
    num_heads: Sequence[int] = (4, 8, 16, 32)
    window: int = 7
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    attention_dropout: float = 0.0
    drop_path_rate: float = 0.0
    dtype: Any = jnp.float32

    def _multiple(self) -> int:
        return self.patch_size * 2 ** (len(self.depths) - 1) * self.window

    def _check_size(self, h: int, w: int, what: str) -> None:
        m = self._multiple()
        if h % m or w % m:
            raise ValueError(
                f"{what} {h}x{w} is not tiled by the windows: height and width must be "
                f"multiples of patch_size * 2^(stages-1) * window = {self.patch_size} * "
                f"{2 ** (len(self.depths) - 1)} * {self.window} = {m} (torchvision would "
                f"zero-pad; resize / crop the images to a multiple of {m}, or change "
                f"`window` / `patch_size`).")

    def _validate(self) -> None:
        if len(self.depths) != len(self.num_heads) or not self.depths:
            raise ValueError(f"`depths` {tuple(self.depths)} and `num_heads` "
                             f"{tuple(self.num_heads)} must be non-empty, of equal length.")
        for s, heads in enumerate(self.num_heads):
            if (self.embed_dim * 2 ** s) % heads:
                raise ValueError(f"stage {s + 1} width {self.embed_dim * 2 ** s} is not "
                                 f"divisible by num_heads[{s}]={heads}.")
        if self.window < 2:
            raise ValueError(f"`window` must be >= 2, got {self.window}.")
        for name in ("dropout", "attention_dropout", "drop_path_rate"):
            _check_rate(getattr(self, name), name)
        self._check_size(self.image_size, self.image_size, "`image_size`")

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, features: str | None = None) -> jax.Array:
        check_level(features)
        self._validate()
        x = check_image(x)
        self._check_size(x.shape[1], x.shape[2], "the input `x` of")
        p = self.patch_size
        x = nn.Conv(self.embed_dim, (p, p), strides=(p, p), padding="VALID", dtype=self.dtype,
                    kernel_init=_torch_default, name="patch_embed")(x)
        x = nn.LayerNorm(epsilon=1e-5, dtype=self.dtype, name="patch_norm")(x)
        sow_feature(self, features, "stages", "stage0_stem", x)

        total = sum(self.depths)
        width = len(str(max(self.depths) - 1))  # names sort in network order (see vit.py)
        k = 0
        for s, (depth, heads) in enumerate(zip(self.depths, self.num_heads)):
            for j in range(depth):
                dp = self.drop_path_rate * k / max(total - 1, 1)
                x = SwinBlock(heads, self.window, 0 if j % 2 == 0 else self.window // 2,
                              self.mlp_ratio, self.dropout, self.attention_dropout, dp,
                              dtype=self.dtype, name=f"stage{s + 1}_block{j:0{width}d}")(
                                  x, train=train, features=features)
                k += 1
            sow_feature(self, features, "stages", f"stage{s + 1}", x)
            if s < len(self.depths) - 1:
                x = PatchMerging(dtype=self.dtype, name=f"merge{s + 1}")(x)
        x = nn.LayerNorm(epsilon=1e-5, dtype=self.dtype, name="norm")(x)
        return jnp.mean(x.astype(jnp.float32), axis=(1, 2))


_SWIN_OPTIONS = ("patch_size", "embed_dim", "depths", "num_heads", "window", "mlp_ratio",
                 "dropout", "attention_dropout", "drop_path_rate")


@register("swin_b")
def swin_b(*, num_classes: int, stem: Any = None, head: str = "linear",
           head_kwargs: dict | None = None, dtype: Any = jnp.float32, image_size: int = 224,
           **options) -> nn.Module:
    """Swin-B (torchvision ``swin_b``): patch 4, embed 128, depths (2, 2, 18, 2), heads
    (4, 8, 16, 32), window 7. ``options`` override :class:`SwinTransformer` fields;
    ``stem`` must be None. Returns ``Classifier(SwinTransformer, head)``."""
    return build_classifier(SwinTransformer, {}, _SWIN_OPTIONS, num_classes=num_classes,
                            stem=stem, head=head, head_kwargs=head_kwargs, dtype=dtype,
                            image_size=image_size, options=options)


@register("swin_mini")
def swin_mini(*, num_classes: int, stem: Any = None, head: str = "linear",
              head_kwargs: dict | None = None, dtype: Any = jnp.float32, image_size: int = 32,
              **options) -> nn.Module:
    """Test-size Swin (same code): 32x32, patch 2, window 4, embed 16, depths (2, 2),
    heads (1, 2). Two blocks per stage so the shifted-window path runs in stage 1 (16x16
    tokens, shift 2) and stage 2 (8x8 tokens, shift 2)."""
    defaults = dict(patch_size=2, embed_dim=16, depths=(2, 2), num_heads=(1, 2), window=4)
    return build_classifier(SwinTransformer, defaults, _SWIN_OPTIONS,
                            num_classes=num_classes, stem=stem, head=head,
                            head_kwargs=head_kwargs, dtype=dtype, image_size=image_size,
                            options=options)
