"""Helpers shared by the softmax-family losses: the checked (features, labels, class
matrix) triple, cosine logits, target replacement and optax's integer-label CE."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from mfdjax.losses._checks import (
    check_features_and_rows,
    check_labels,
    check_where,
    compute_dtype,
)
from mfdjax.losses._numerics import clip_labels, l2_normalize

__all__ = ["ce", "check_triple", "cosines", "replace_target", "safe_sin", "take_target"]

# Squared-sine floor of the safe sine (finite derivative of arccos's stand-in at +-1).
SIN_EPS = 1e-12


def check_triple(features: Any, labels: Any, rows: Any, where: Any = None, *,
                 name: str = "weights", min_classes: int = 2):
    """Validates ``(features (B, D), labels (B,), rows (K, D), where)``.

    Returns ``(features, rows, labels, valid, where)``: both matrices in their common
    compute dtype, labels clipped into [0, K), the (B,) validity of the original labels
    and the checked mask (None when not given). Concrete labels are range-checked on
    the rows ``where`` keeps.
    """
    features, rows = check_features_and_rows(features, rows, name)
    rows = rows.astype(compute_dtype(rows))
    if rows.shape[0] < min_classes:
        raise ValueError(f"`{name}` needs at least {min_classes} classes (rows), got "
                         f"{rows.shape[0]}.")
    where = check_where(where, features.shape[0])
    labels = check_labels(labels, features.shape[0], rows.shape[0], where=where)
    if where is not None:   # masked rows' values (NaN padding included) leave no trace
        features = jnp.where(where[:, None], features, 0.0)
    dtype = compute_dtype(features, rows)
    labels, valid = clip_labels(labels, rows.shape[0])
    return features.astype(dtype), rows.astype(dtype), labels, valid, where


def ce(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """optax's integer-label CE on already checked, in-range labels."""
    return optax.losses.softmax_cross_entropy_with_integer_labels(logits, labels)


def cosines(features: jax.Array, weights: jax.Array) -> jax.Array:
    """cos(theta_{ij}) between every feature row and every class row, (B, K), in [-1, 1]."""
    cos = l2_normalize(features) @ l2_normalize(weights).T
    return jnp.clip(cos, -1.0, 1.0)


def safe_sin(cos: jax.Array) -> jax.Array:
    """sin(theta) = sqrt(1 - cos^2) for theta in [0, pi], with a finite derivative at +-1."""
    return jnp.sqrt(jnp.maximum(1.0 - cos * cos, SIN_EPS))


def replace_target(logits: jax.Array, labels: jax.Array, target: jax.Array) -> jax.Array:
    """Puts ``target`` (B,) at ``logits[i, labels[i]]``."""
    onehot = jax.nn.one_hot(labels, logits.shape[-1], dtype=bool)
    return jnp.where(onehot, target[:, None], logits)


def take_target(x: jax.Array, labels: jax.Array) -> jax.Array:
    """``x[i, labels[i]]``, (B,)."""
    return jnp.take_along_axis(x, labels[:, None], axis=-1)[:, 0]
