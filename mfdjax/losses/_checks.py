"""Trace-time argument checks shared by the loss families.

Every public loss validates its arguments before any arithmetic, so a wrong
shape or dtype fails at trace time with a message that names the argument and
the fix, instead of surfacing as a NaN several steps later. The checks only
look at static properties (shape, dtype, Python values), so they are free under
``jax.jit`` and work on tracers.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "as_float_array",
    "check_array",
    "check_class_matrix",
    "check_features_and_rows",
    "check_floating",
    "check_labels",
    "check_ndim",
    "check_number",
    "check_positive",
    "check_where",
    "compute_dtype",
]


def check_array(x: Any, name: str) -> jax.Array:
    """Returns ``x`` as a JAX array, or raises a ValueError naming ``name``."""
    if isinstance(x, (jax.Array, np.ndarray)) or hasattr(x, "aval"):
        return jnp.asarray(x)
    raise ValueError(
        f"`{name}` must be a JAX or NumPy array, got {type(x).__name__}; "
        f"wrap it with jnp.asarray(...)."
    )


def check_floating(x: jax.Array, name: str) -> None:
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(
            f"`{name}` must have a floating dtype, got {x.dtype}; "
            f"cast it with {name}.astype(jnp.float32)."
        )


def check_ndim(x: jax.Array, name: str, ndim: int | tuple[int, ...], shape_doc: str) -> None:
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if x.ndim not in allowed:
        raise ValueError(
            f"`{name}` must have shape {shape_doc}, got shape {tuple(x.shape)}."
        )


def check_labels(labels: Any, batch: int, num_classes: int | None = None,
                 name: str = "labels", where: Any = None) -> jax.Array:
    """Integer labels of shape (batch,); concrete values must lie in [0, num_classes).

    Traced labels cannot be checked: the losses then follow the rule of
    ``mfdjax.losses._numerics`` (such rows give NaN). Rows masked out by a
    concrete boolean ``where`` are not checked (padding may carry any label).
    """
    labels = check_array(labels, name)
    if jnp.issubdtype(labels.dtype, jnp.floating) and labels.ndim == 2:
        raise ValueError(
            f"`{name}` must hold integer class indices of shape (batch,), got a "
            f"{labels.dtype} matrix of shape {tuple(labels.shape)}: did you swap `labels` "
            f"and the class matrix? {ORDER}"
        )
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(
            f"`{name}` must hold integer class indices, got dtype {labels.dtype}; "
            f"pass integer labels (one-hot targets: use labels.argmax(-1))."
        )
    if labels.shape != (batch,):
        raise ValueError(
            f"`{name}` must have shape (batch,) = ({batch},), got {tuple(labels.shape)}."
        )
    if num_classes is not None and not isinstance(labels, jax.core.Tracer):
        concrete = np.asarray(labels)
        if where is not None and not isinstance(where, jax.core.Tracer):
            concrete = concrete[np.asarray(where, bool)]
        if concrete.size and (concrete.min() < 0 or concrete.max() >= num_classes):
            raise ValueError(
                f"`{name}` values must lie in [0, {num_classes}) (one per class), got "
                f"range [{concrete.min()}, {concrete.max()}]; check the label encoding "
                f"or the number of classes."
            )
    return labels


#: The one argument order of every loss that takes a class matrix.
ORDER = ("Losses that take a class matrix are called as loss(features, labels, "
         "class_matrix, *, hyper-parameters).")


def check_class_matrix(rows: Any, name: str) -> jax.Array:
    """A floating class matrix; an integer one is most likely the labels, swapped."""
    rows = check_array(rows, name)
    if jnp.issubdtype(rows.dtype, jnp.integer) or rows.dtype == jnp.bool_:
        raise ValueError(
            f"`{name}` must be a floating (num_classes, dim) matrix, got {rows.dtype} of "
            f"shape {tuple(rows.shape)}: did you swap `labels` and `{name}`? {ORDER}"
        )
    return rows


def check_where(where: Any, batch: int) -> jax.Array | None:
    """``where``: None, or a bool mask of shape (batch,) (True = the row counts)."""
    if where is None:
        return None
    where = check_array(where, "where")
    if where.shape != (batch,):
        raise ValueError(
            f"`where` must be a boolean mask of shape (batch,) = ({batch},), "
            f"got {tuple(where.shape)}."
        )
    if where.dtype != jnp.bool_:
        raise ValueError(
            f"`where` must have dtype bool, got {where.dtype}; use where.astype(bool).")
    return where


def check_number(value: Any, name: str, *, low: float | None = None,
                 high: float | None = None, low_inclusive: bool = True) -> None:
    """Range check on a Python-number hyper-parameter (skipped for traced values)."""
    if isinstance(value, jax.core.Tracer):
        return
    try:
        v = float(np.asarray(value))
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a number, got {value!r}.") from None
    ok = np.isfinite(v)
    if ok and low is not None:
        ok = v >= low if low_inclusive else v > low
    if ok and high is not None:
        ok = v < high
    if not ok:
        lo = "" if low is None else (f"{'>=' if low_inclusive else '>'} {low}")
        hi = "" if high is None else f"< {high}"
        rng = " and ".join(t for t in (lo, hi) if t)
        raise ValueError(f"`{name}` must be finite{' and ' + rng if rng else ''}, "
                         f"got {value!r}.")


def check_positive(value: float, name: str, *, allow_zero: bool = False) -> None:
    """Checks a Python-number hyper-parameter (skipped for traced values)."""
    if isinstance(value, jax.core.Tracer):
        return
    v = float(np.asarray(value))
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"`{name}` must be finite and {bound}, got {value!r}.")


def compute_dtype(*arrays: jax.Array) -> jnp.dtype:
    """float32 for half-precision inputs (bf16/fp16 accumulate in float32), else the input dtype."""
    dtype = jnp.result_type(*arrays)
    if jnp.finfo(dtype).bits < 32:
        return jnp.dtype(jnp.float32)
    return jnp.dtype(dtype)


def as_float_array(x: Any, name: str) -> jax.Array:
    """check_array + check_floating, returning the array upcast to its compute dtype."""
    x = check_array(x, name)
    check_floating(x, name)
    return x.astype(compute_dtype(x))


def check_features_and_rows(features: Any, rows: Any, rows_name: str
                            ) -> tuple[jax.Array, jax.Array]:
    """Validates features (B, D) and a per-class matrix (K, D) (weights, centroids, centres).

    Returns both as floating arrays: features upcast to its compute dtype, ``rows``
    as given (the caller casts it). Raises a ValueError naming the argument when a
    shape does not fit, with the usual fix (class matrices are rows: transpose a
    Flax (D, K) kernel with ``.T``).
    """
    x = as_float_array(features, "features")
    check_ndim(x, "features", 2, "(batch, dim)")
    r = check_class_matrix(rows, rows_name)
    check_floating(r, rows_name)
    check_ndim(r, rows_name, 2, "(num_classes, dim) -- one row per class")
    if r.shape[1] != x.shape[1]:
        raise ValueError(
            f"`{rows_name}` must have shape (num_classes, {x.shape[1]}) to match `features` "
            f"of shape {tuple(x.shape)}, got {tuple(r.shape)}; class matrices hold one row "
            f"per class (transpose a (dim, num_classes) kernel with .T)."
        )
    return x, r
