"""--smoke of the MFD scripts (one file per paper, so the test workers share them)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from smoke_common import path_and_cache, run_smoke, scripts  # noqa: E402,F401

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("script", scripts("mfd_", "fmnist_mfd_", "fmnist_convergence"))
def test_smoke(script, tmp_path, capsys, monkeypatch, path_and_cache):
    run_smoke(script, tmp_path, capsys, monkeypatch)
