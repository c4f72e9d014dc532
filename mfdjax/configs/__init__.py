"""Experiment configs: one ml_collections ``get_config()`` file per table-row family.

:func:`load_config` resolves ``"name"`` (a module of this package),
``"name:arg"`` (``get_config("arg")``, e.g. ``mfd_cifar:resnet50,cifar100,mfd``)
or a path to a ``.py`` file; :func:`apply_overrides` applies ``key.sub=value``
strings (values parsed as Python literals, else kept as strings).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import pkgutil
from typing import Iterable

import ml_collections

__all__ = ["apply_overrides", "list_configs", "load_config", "parse_overrides"]


def list_configs() -> list[str]:
    """Names of the config modules shipped in mfdjax.configs."""
    here = os.path.dirname(__file__)
    return sorted(m.name for m in pkgutil.iter_modules([here]) if not m.name.startswith("_"))


def load_config(spec: str) -> ml_collections.ConfigDict:
    """A config from ``"name"``, ``"name:arg"`` or ``"path/to/file.py[:arg]"``."""
    name, _, arg = spec.partition(":")
    if name.endswith(".py") or os.sep in name:
        if not os.path.exists(name):
            raise ValueError(f"config file {name!r} does not exist.")
        if os.path.isdir(name) or not name.endswith(".py"):
            raise ValueError(f"--config {name!r} must be a Python file (.py) defining "
                             "get_config(), or a shipped config name (mfdjax --help).")
        mod_spec = importlib.util.spec_from_file_location("_mfdjax_user_config", name)
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
    else:
        if name not in list_configs():
            raise ValueError(f"unknown config {name!r}; choose one of {list_configs()} "
                             "or give a path to a .py file with get_config().")
        module = importlib.import_module(f"mfdjax.configs.{name}")
    if not hasattr(module, "get_config"):
        raise ValueError(f"config {spec!r} has no get_config() function.")
    config = module.get_config(arg) if arg else module.get_config()
    if not isinstance(config, ml_collections.ConfigDict):
        raise ValueError(f"get_config() of {spec!r} returned a {type(config).__name__}; it "
                         "must return an ml_collections.ConfigDict (start from "
                         "mfdjax.configs.base.get_base_config()).")
    return config


# An override value longer or more deeply nested than this is refused (a config value is a
# number, a short string or a small tuple; literal_eval of a huge or deep text can exhaust
# memory or the recursion limit).
MAX_OVERRIDE_CHARS = 10_000
MAX_OVERRIDE_DEPTH = 8


def _parse_value(text: str):
    if len(text) > MAX_OVERRIDE_CHARS:
        raise ValueError(f"an override value of {len(text):,} characters is longer than "
                         f"{MAX_OVERRIDE_CHARS:,}; put large settings in a config file.")
    depth = deepest = 0
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        deepest = max(deepest, depth)
    if deepest > MAX_OVERRIDE_DEPTH:
        raise ValueError(f"an override value nested {deepest} deep is refused (at most "
                         f"{MAX_OVERRIDE_DEPTH}); put it in a config file.")
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        if text.lower() in ("none", "null"):
            return None
        return text


def parse_overrides(items: Iterable[str] | str) -> list[tuple[str, object]]:
    """``["a.b=1", "c=x"]`` or ``"a.b=1,c=x"`` -> ``[("a.b", 1), ("c", "x")]``."""
    if isinstance(items, str):
        items = [s for s in _split_top_level(items) if s.strip()]
    out = []
    for item in items:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key.sub=value.")
        key, _, value = item.partition("=")
        out.append((key.strip(), _parse_value(value.strip())))
    return out


def _split_top_level(text: str) -> list[str]:
    """Splits on commas outside brackets/quotes (so ``a=(1,2),b=3`` works)."""
    parts, depth, cur, quote = [], 0, [], None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return parts


def apply_overrides(config: ml_collections.ConfigDict, overrides) -> ml_collections.ConfigDict:
    """Sets ``key.sub=value`` fields in place (and returns ``config``).

    Existing fields keep their type (an int given for a float field is
    converted; a list for a tuple field becomes a tuple). New keys may only be
    added under ``*.kwargs``, ``*.head_kwargs``, ``*.options`` and ``comparison``.
    """
    if isinstance(overrides, (str, list, tuple)) and overrides and isinstance(
            (overrides if isinstance(overrides, str) else overrides[0]), str):
        overrides = parse_overrides(overrides)
    for key, value in overrides:
        parts = key.split(".")
        node = config
        for p in parts[:-1]:
            if p not in node:
                raise ValueError(f"override {key!r}: no field {p!r} in the config.")
            node = node[p]
        leaf = parts[-1]
        free = parts[-2] if len(parts) > 1 else ""
        if leaf not in node:
            if free not in ("kwargs", "head_kwargs", "options", "comparison"):
                raise ValueError(f"override {key!r}: the config has no field {key!r}.")
            with node.unlocked():
                node[leaf] = value
            continue
        current = node[leaf]
        if isinstance(current, bool) or isinstance(value, bool):
            pass
        elif isinstance(current, float) and isinstance(value, int):
            value = float(value)
        elif isinstance(current, tuple) and isinstance(value, (list, int, float)):
            value = tuple(value) if isinstance(value, list) else (value,)
        elif isinstance(current, str) and not isinstance(value, str) and value is not None:
            value = str(value)
        try:
            node[leaf] = value
        except TypeError as e:
            raise ValueError(f"override {key!r}: {e}") from None
    return config
