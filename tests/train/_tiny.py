"""A tiny BN CNN registered for the trainer tests (compiles in a fraction of resnet_mini's time).

Two conv + BN + ReLU stages, each sown at every level ("stages", "blocks",
"layers"), global average pool, then the standard heads of mfdjax.models.heads.
Also a tiny config factory on the digits data.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from mfdjax.configs.base import get_base_config
from mfdjax.models import registry
from mfdjax.models.common import sow_feature
from mfdjax.models.heads import Classifier, make_head

NAME = "trainer_tiny_cnn"


class TinyCNN(nn.Module):
    widths: tuple = (8, 16)
    dtype: object = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool, features=None):
        x = x.astype(self.dtype)
        for i, w in enumerate(self.widths):
            x = nn.Conv(w, (3, 3), strides=1 if i == 0 else 2, use_bias=False,
                        dtype=self.dtype, name=f"conv{i}")(x)
            x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                             dtype=self.dtype, name=f"bn{i}")(x)
            x = nn.relu(x)
            for level in ("stages", "blocks", "layers"):
                sow_feature(self, features, level, f"stage{i}", x)
        return jnp.mean(x.astype(jnp.float32), axis=(1, 2))


if NAME not in registry.list_models():
    @registry.register(NAME)
    def _factory(*, num_classes, stem=None, head="linear", head_kwargs=None, dtype=jnp.float32,
                 **options):
        del stem
        return Classifier(TinyCNN(dtype=dtype, **options),
                          make_head(head, num_classes, **(head_kwargs or {})))


def tiny_config(**overrides):
    """digits, the tiny CNN, batch 64, no progress bar, fast PRNG."""
    c = get_base_config()
    c.dataset.name = "digits"
    c.dataset.pad = 1
    c.model.name = NAME
    c.model.stem = ""
    c.batch_size = 64
    c.eval_batch_size = 128
    c.num_epochs = 2
    c.log_every_steps = 5
    c.progress_bar = False
    c.prng_impl = "rbg"
    c.correlation.batch_size = 64
    c.checkpoint.async_save = False
    from mfdjax.configs import apply_overrides

    apply_overrides(c, [(k.replace("__", "."), v) for k, v in overrides.items()])
    return c
