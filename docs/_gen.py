"""Pages generated from the code at build time (called from conf.py).

* ``_generated/cli.rst``: the ``--help`` of ``mfdjax`` and of every sub-command;
* ``_generated/config_fields.rst``: every field of the base config with its
  default and the comment written next to it in ``mfdjax/configs/base.py``;
* ``_generated/config_list.rst``: the shipped configs and their first line.

The model-zoo tables (``model_zoo_table.rst``) cost a trace of every model, so
they are written by ``python docs/gen_model_zoo.py`` and committed instead; a
test checks they match the code.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re


def _write(path: str, text: str) -> None:
    old = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = f.read()
    if old != text:  # leave mtimes alone when nothing changed (no needless rebuilds)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


def _indent(text: str, n: int = 3) -> str:
    pad = " " * n
    return "\n".join(pad + line if line.strip() else "" for line in text.splitlines())


def cli_page() -> str:
    import argparse

    from mfdjax import cli

    os.environ["COLUMNS"] = "88"
    parser = cli.build_parser()
    out = [".. code-block:: text", "", _indent(parser.format_help()), ""]
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subs.choices.items():
        title = f"``mfdjax {name}``"
        out += [title, "~" * len(title), "", ".. code-block:: text", "",
                _indent(sub.format_help()), ""]
    return "\n".join(out)


_ASSIGN = re.compile(r"^\s*c\.([\w.]+)\s*=\s*(.*?)\s*(?:#\s*(.*))?$")


def _field_rows() -> list[tuple[str, str]]:
    """(field, comment) in source order; a comment block above a run of assignments
    describes the whole run (the later fields point back to the first)."""
    from mfdjax.configs import base

    rows: list[tuple[str, str]] = []
    block: list[str] = []
    group_head: str | None = None
    for line in inspect.getsource(base.get_base_config).splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            block.append(stripped.lstrip("#").strip())
            group_head = None
            continue
        m = _ASSIGN.match(line)
        if not m:
            block, group_head = [], None
            continue
        field, _, inline = m.groups()
        text = inline or ""
        if block:
            text = " ".join(block) + (f" ({text})" if text else "")
            group_head = field
            block = []
        elif group_head is not None and not text:
            text = f"see ``{group_head}``"
        rows.append((field, text))
    return rows


def _rst_cell(text: str) -> str:
    # Escape what RST would read as markup, but keep ``literal`` spans.
    parts = re.split(r"(``[^`]+``)", text)
    return "".join(p if p.startswith("``") else
                   p.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*")
                   .replace("`", "'").replace("_", "\\_")
                   for p in parts)


def config_fields_page() -> str:
    from mfdjax.configs.base import get_base_config

    config = get_base_config()
    out = [".. list-table::", "   :header-rows: 1", "   :widths: 28 18 54", "",
           "   * - field", "     - default", "     - meaning"]
    for path, text in _field_rows():
        node = config
        for key in path.split("."):
            node = node[key]
        if hasattr(node, "keys") and len(list(node.keys())) > 0:
            continue  # a group; its fields have their own rows
        shown = "{}" if hasattr(node, "keys") else repr(node)
        out += [f"   * - ``{path}``", f"     - ``{shown}``", f"     - {_rst_cell(text)}"]
    return "\n".join(out) + "\n"


def config_list_page() -> str:
    from mfdjax.configs import list_configs

    out: list[str] = []
    for name in list_configs():
        module = importlib.import_module(f"mfdjax.configs.{name}")
        with open(module.__file__, encoding="utf-8") as f:
            header = []
            for line in f:
                if not line.startswith("#"):
                    break
                header.append(line[1:].rstrip()[1:] if line[1:2] == " " else line[1:].rstrip())
        doc = (module.__doc__ or "").strip().splitlines()
        title = f"``{name}``"
        out += [title, "~" * len(title), ""]
        if doc:
            out += [_rst_cell(doc[0]), ""]
        if header:
            out += [".. code-block:: text", "", _indent("\n".join(header)), ""]
    return "\n".join(out) + "\n"


def generate(folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    _write(os.path.join(folder, "cli.rst"), cli_page())
    _write(os.path.join(folder, "config_fields.rst"), config_fields_page())
    _write(os.path.join(folder, "config_list.rst"), config_list_page())
