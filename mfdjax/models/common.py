"""The feature-sowing contract shared by every backbone.

A backbone tags its intermediate activations with Flax's ``sow`` under the
collection :data:`COLLECTION`, at one of three granularities (:data:`LEVELS`):

* ``"stages"``: the five-stage split of mfd-loss.txt (stem output, then each
  stage's output);
* ``"blocks"``: every residual / dense / inverted / transformer block output;
* ``"layers"``: every post-activation map inside the blocks (where the authors'
  reference code places MFD: 49 places in ResNet50).

The caller picks the level per call with ``features=LEVEL``; with
``features=None`` nothing is sown, so inference and plain softmax training pay
nothing. ``collect_features`` turns the sown collection into a list in network
order, ready for :func:`mfdjax.losses.mfd_loss`::

    (logits, out), upd = model.apply(variables, x, train=True, features="stages",
                                     mutable=["batch_stats", COLLECTION])
    maps = collect_features(upd[COLLECTION])
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import flax.linen as nn
import jax

COLLECTION = "intermediates"
LEVELS = ("stages", "blocks", "layers")

__all__ = ["COLLECTION", "LEVELS", "check_level", "collect_features", "sow_feature"]


def check_level(features: str | None) -> None:
    """Raises a ValueError unless ``features`` is None or one of :data:`LEVELS`."""
    if features is not None and features not in LEVELS:
        raise ValueError(
            f"`features` must be None or one of {LEVELS}, got {features!r}."
        )


def sow_feature(module: nn.Module, features: str | None, level: str, name: str,
                x: jax.Array) -> None:
    """Sows ``x`` under ``name`` when the caller asked for ``level``; otherwise does nothing."""
    if features == level:
        module.sow(COLLECTION, name, x)


def _natural_key(name: Any) -> tuple:
    """Sort key comparing digit runs as numbers: "block2" < "block10", "Conv_9" < "Conv_10"."""
    parts = re.split(r"(\d+)", str(name))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def collect_features(intermediates: Mapping[str, Any]) -> list[jax.Array]:
    """The sown maps as a flat list in network order.

    Accepts either the ``intermediates`` collection itself or the whole dict of
    mutated collections returned by ``apply`` (it then reads ``[COLLECTION]``).

    Order: the keys of each nested dict are visited in *natural* order (digit runs
    compared as numbers), and the values sown under one name in call order. Dict
    insertion order cannot be used: a dict that leaves ``jax.jit`` (or passes
    through ``jax.tree.map``/``eval_shape``) comes back with sorted keys. So the
    naming contract for backbones is that sown names, and the names of the modules
    on the path to them, sort in network order this way: ``stage0``,
    ``stage1_block00``/``act1`` ... (Flax's automatic ``Block_0``, ``Block_1``, ...
    names satisfy it within one module class). Each family's tests check it.
    """
    if not isinstance(intermediates, Mapping):
        raise ValueError(
            "`intermediates` must be the dict that model.apply(..., mutable=[...]) "
            f"returns, got {type(intermediates).__name__}."
        )
    if COLLECTION in intermediates and isinstance(intermediates[COLLECTION], Mapping):
        intermediates = intermediates[COLLECTION]
    out: list[jax.Array] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key in sorted(node, key=_natural_key):
                walk(node[key])
        elif isinstance(node, (tuple, list)):
            for value in node:
                walk(value)
        else:
            out.append(node)

    walk(intermediates)
    return out
