"""The package reports the version written in pyproject.toml."""

import pathlib
import tomllib

import pytest

import mfdjax
from mfdjax.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _declared_version() -> str:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["version"]


def test_version_attribute_matches_pyproject():
    assert mfdjax.__version__ == _declared_version()


def test_cli_version_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"mfdjax {_declared_version()}"
