"""Model registry: a config names a backbone with a string.

Family modules register factories with :func:`register`; :func:`get` builds a
model by name. A factory is a callable ``factory(*, num_classes, stem, **kwargs)``
returning a Flax module whose ``__call__(x, *, train, features=None)`` returns
``(logits, out)`` (see :mod:`mfdjax.models.common`).
"""

from __future__ import annotations

from typing import Callable

_REGISTRY: dict[str, Callable] = {}


def register(name: str) -> Callable[[Callable], Callable]:
    """Decorator: registers ``factory`` under ``name`` (names are unique)."""

    def deco(factory: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is registered twice")
        _REGISTRY[name] = factory
        return factory

    return deco


def list_models() -> list[str]:
    """Sorted names of every registered model."""
    return sorted(_REGISTRY)


def get(name: str, **kwargs):
    """Builds the registered model ``name``; kwargs go to its factory (num_classes, stem, head, ...)."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown model name {name!r}; choose one of {list_models()}"
        ) from None
    return factory(**kwargs)
