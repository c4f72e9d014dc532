"""The feature-sowing contract shared by every backbone.

A backbone tags its intermediate activations with Flax's ``sow`` under the
collection :data:`COLLECTION`, at one of three granularities (:data:`LEVELS`):

* ``"stages"``: the five-stage split of the MFD paper (stem output, then each
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

:func:`feature_names` lists the same maps' paths, and ``select=`` picks maps by
path, which is how the losses reach into models that do not follow this
contract (an NNX model, a Linen model with its own names, a function returning
a dict): see the getting-started page of the documentation.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Sequence

import flax.linen as nn
import jax

COLLECTION = "intermediates"
LEVELS = ("stages", "blocks", "layers")

__all__ = ["COLLECTION", "LEVELS", "check_level", "collect_features", "feature_names",
           "sow_feature"]


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
    """Sort key comparing digit runs as numbers: "block2" < "block10", "Conv_9" < "Conv_10".

    ``__call__`` (the key under which Linen's ``capture_intermediates`` stores a
    module's own output) sorts after every other key, because a module's output
    is computed after the outputs of the sub-modules it calls.
    """
    if name == "__call__":
        return ((2, 0, ""),)
    parts = re.split(r"(\d+)", str(name))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


Selector = str | Sequence[str] | Callable[[str], bool] | None


def _selector(select: Selector) -> Callable[[str], bool]:
    """Turns ``select`` into a predicate on "/"-joined paths (see collect_features)."""
    if select is None:
        return lambda path: True
    if callable(select):
        return lambda path: bool(select(path))
    patterns = [select] if isinstance(select, str) else select
    if (not isinstance(patterns, (list, tuple)) or not patterns
            or not all(isinstance(p, str) for p in patterns)):
        raise ValueError(
            "`select` must be None, a regular expression, a non-empty list of them, or a "
            f"callable taking the path string, got {select!r}."
        )
    try:
        compiled = [re.compile(p) for p in patterns]
    except re.error as err:
        raise ValueError(f"`select` holds an invalid regular expression: {err}.") from err
    return lambda path: any(c.fullmatch(path) for c in compiled)


def _unwrap(node: Any) -> Any:
    """Flax NNX containers -> plain values: a State -> nested dict, a Variable -> its value."""
    module = type(node).__module__
    if not module.startswith("flax.nnx"):
        return node
    from flax import nnx

    if isinstance(node, nnx.State):
        return nnx.to_pure_dict(node)
    if isinstance(node, nnx.Variable):
        return node.get_value() if hasattr(node, "get_value") else node.value
    return node


def collect_features(intermediates: Mapping[str, Any], *,
                     select: Selector = None) -> list[jax.Array]:
    """The sown (or captured) maps as a flat list in network order.

    Accepts any of:

    * the ``intermediates`` collection of a Linen ``apply(..., mutable=[...])``,
      or the whole dict of mutated collections (it then reads ``[COLLECTION]``);
      this includes the output of ``capture_intermediates=True`` (a module's
      output under ``<module path>/__call__``);
    * the ``nnx.State`` of ``nnx.Intermediate`` variables, as returned by
      ``nnx.capture(model, nnx.Intermediate)(x)`` or ``nnx.state(model,
      nnx.Intermediate)`` (``nnx.Variable`` leaves are unwrapped);
    * any nested dict (and tuples/lists) of arrays, e.g. what a plain function
      returns.

    Order: the keys of each nested dict are visited in *natural* order (digit runs
    compared as numbers; ``__call__`` last), and the values of a tuple or list in
    call order. Dict insertion order cannot be used: a dict that leaves ``jax.jit``
    (or passes through ``jax.tree.map``/``eval_shape``) comes back with sorted
    keys. So the naming contract for mfdjax's backbones is that sown names, and
    the names of the modules on the path to them, sort in network order this way:
    ``stage0``, ``stage1_block00``/``act1`` ... (Flax's automatic ``Block_0``,
    ``Block_1``, ... names satisfy it within one module class). Each family's
    tests check it. The MFD loss is a sum over maps, so the order matters only
    to a caller that weights or labels the maps.

    Picking maps by name: each array has a *path*, the dict keys leading to it
    joined by ``/`` (tuple positions are not part of it), e.g. ``stage2`` for a
    map sown as ``self.sow("intermediates", "stage2", x)``,
    ``encoder/block1/__call__`` for a module output captured by Linen, or
    ``blocks/0/act`` for an NNX model. ``select`` keeps the arrays whose path
    matches:

    * a regular expression (``str``), matched against the whole path
      (:func:`re.fullmatch`), e.g. ``r"block\d+/__call__"``;
    * a list or tuple of them (any may match);
    * a callable ``path -> bool``.

    Args:
      intermediates: the collection, mutated-collections dict, NNX state or
        nested dict described above.
      select: which arrays to keep (default: all of them).

    Returns:
      The selected arrays, in the order above (empty when nothing was sown and
      ``select`` is None).

    Raises:
      ValueError: ``intermediates`` is not a dict / NNX state; ``select`` is
        malformed; ``select`` matched nothing (the message lists the paths
        there are); or a selected leaf is not an array.

    Example:
      >>> import jax.numpy as jnp
      >>> out = {"logits": jnp.zeros((4, 3)), "hidden10": jnp.ones((4, 8)),
      ...        "hidden2": jnp.ones((4, 5))}
      >>> [m.shape for m in collect_features(out, select=r"hidden\d+")]
      [(4, 5), (4, 8)]
    """
    return [value for _, value in _selected(intermediates, select)]


def feature_names(intermediates: Mapping[str, Any], *, select: Selector = None) -> list[str]:
    """The paths of the maps :func:`collect_features` returns, in the same order.

    One path per array (a name sown twice appears twice). Use it to see what a
    model sows or captures before writing ``select=``.

    Example:
      >>> import jax.numpy as jnp
      >>> feature_names({"block10": {"act": (jnp.ones(2),)}, "block2": {"act": (jnp.ones(2),)}})
      ['block2/act', 'block10/act']
    """
    return [path for path, _ in _selected(intermediates, select)]


def _selected(intermediates: Any, select: Selector) -> list[tuple[str, Any]]:
    intermediates = _unwrap(intermediates)
    if not isinstance(intermediates, Mapping):
        raise ValueError(
            "`intermediates` must be the dict that model.apply(..., mutable=[...]) "
            "returns, the nnx.State of nnx.capture(model, nnx.Intermediate), or a dict "
            f"of arrays, got {type(intermediates).__name__}."
        )
    if COLLECTION in intermediates:
        inner = _unwrap(intermediates[COLLECTION])
        if isinstance(inner, Mapping):
            intermediates = inner
    keep = _selector(select)
    out: list[tuple[str, Any]] = []
    seen: list[str] = []

    def walk(node: Any, path: tuple[str, ...]) -> None:
        node = _unwrap(node)
        if isinstance(node, Mapping):
            for key in sorted(node, key=_natural_key):
                walk(node[key], path + (str(key),))
        elif isinstance(node, (tuple, list)):
            for value in node:
                walk(value, path)
        else:
            joined = "/".join(path)
            if not seen or seen[-1] != joined:
                seen.append(joined)
            if not keep(joined):
                return
            if not hasattr(node, "shape") or not hasattr(node, "dtype"):
                raise ValueError(
                    f"`intermediates` holds a {type(node).__name__} at {joined!r}, not an "
                    "array; leave it out with `select=`."
                )
            out.append((joined, node))

    walk(intermediates, ())
    if select is not None and not out:
        shown = ", ".join(repr(p) for p in seen[:20]) + (" ..." if len(seen) > 20 else "")
        raise ValueError(
            f"`select`={select!r} matched none of the paths in `intermediates`: "
            f"{shown or '(none: nothing was sown or captured)'}."
        )
    return out
