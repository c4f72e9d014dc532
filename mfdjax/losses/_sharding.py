"""Output shardings for the few operations that JAX's Explicit sharding mode cannot infer.

Under a mesh with ``AxisType.Explicit`` axes (what ``jax.make_mesh`` builds by
default), a batch-sharded input makes two kinds of operation ambiguous: a product
that contracts the batch axis (a Gram matrix, a batch mean written as a product)
and a gather whose indices are batch-sharded (``centroids[labels]``). JAX then asks
for the output sharding. These helpers give it from the input's own type: the
reduction is replicated, the gather keeps the indices' batch sharding. Under an
Auto mesh, ``shard_map`` or no mesh at all they return None, i.e. JAX's own choice,
so the losses behave as before there.
"""

from __future__ import annotations

import jax
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = ["replicated", "take_rows"]


def _explicit(x) -> NamedSharding | None:
    """``x``'s NamedSharding when its mesh has an Explicit axis, else None."""
    try:
        sharding = jax.typeof(x).sharding
    except (AttributeError, TypeError):
        return None
    mesh = getattr(sharding, "mesh", None)
    types = getattr(mesh, "axis_types", ()) or ()
    if not any(t == AxisType.Explicit for t in types):
        return None
    return sharding


def replicated(x) -> NamedSharding | None:
    """``out_sharding`` of a product that contracts ``x``'s (batch) axis: replicated."""
    sharding = _explicit(x)
    return None if sharding is None else NamedSharding(sharding.mesh, P())


def take_rows(table: jax.Array, index: jax.Array) -> jax.Array:
    """``table[index]`` for a replicated (K, ...) table and (B,) indices; under Explicit
    axes the result keeps the indices' batch sharding."""
    sharding = _explicit(index)
    if sharding is None:
        return table[index]
    spec = P(sharding.spec[0] if len(sharding.spec) else None, *([None] * (table.ndim - 1)))
    return table.at[index].get(out_sharding=NamedSharding(sharding.mesh, spec))
