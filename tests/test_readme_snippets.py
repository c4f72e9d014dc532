"""README's and docs/getting-started.rst's code blocks run as written.

Python blocks (README: ```python fences; the .rst page: ``::`` literal blocks that
parse as Python) run in order, one namespace per document, on the 8 simulated
devices of conftest.py. Shell blocks are checked line by line: an ``mfdjax`` command
must parse with the real command-line parser, a script it names must exist.
"""

from __future__ import annotations

import ast
import pathlib
import re
import shlex
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _markdown_blocks(text: str) -> list[tuple[str, str]]:
    return [(lang, body) for lang, body in re.findall(r"```(\w*)\n(.*?)```", text, re.S)]


def _rst_blocks(text: str) -> list[tuple[str, str]]:
    """The literal blocks (introduced by ``::``) of an .rst page, as (kind, code)."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].rstrip().endswith("::") and not lines[i].lstrip().startswith(".."):
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            body = []
            while j < len(lines) and (not lines[j].strip() or lines[j].startswith("    ")):
                body.append(lines[j])
                j += 1
            code = textwrap.dedent("\n".join(body)).strip("\n")
            if code:
                blocks.append((_kind(code), code + "\n"))
            i = j
        else:
            i += 1
    return blocks


def _kind(code: str) -> str:
    try:
        ast.parse(code)
    except SyntaxError:
        return "bash"
    return "python"


def _check_shell(code: str) -> None:
    from mfdjax.cli import build_parser

    parser = build_parser()
    for line in code.replace("\\\n", " ").splitlines():
        line = line.split("  #")[0].strip()
        if not line or line.startswith("#") or "<" in line or "..." in line:
            continue   # a synopsis with placeholders, not a command
        line = line.replace("[", "").replace("]", "")   # optional parts: check them too
        words = shlex.split(line)
        if words[0].endswith("mfdjax"):
            try:
                parser.parse_args(words[1:])
            except SystemExit as e:   # --help / --version exit 0 after printing
                assert e.code == 0, f"`{line}` does not parse"
        for w in words:
            if w.endswith((".sh", ".py")) and "/" in w:
                assert (ROOT / w).exists(), f"`{line}` names {w}, which does not exist"


DOCS = {"README.md": _markdown_blocks, "docs/getting-started.rst": _rst_blocks}


@pytest.mark.parametrize("doc", sorted(DOCS))
def test_code_blocks_run_as_written(doc, capsys):
    blocks = DOCS[doc]((ROOT / doc).read_text(encoding="utf-8"))
    python = [code for kind, code in blocks if kind == "python"]
    assert python, f"{doc} has no Python block"
    namespace: dict = {"__name__": "__snippet__"}
    for n, code in enumerate(python):
        exec(compile(code, f"{doc} block {n}", "exec"), namespace)
    for kind, code in blocks:
        if kind in ("bash", "sh", ""):
            _check_shell(code)
