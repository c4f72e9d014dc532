"""The documentation builds with warnings as errors, and its generated model page is current.

A broken docstring (bad RST, a bad cross-reference in an autodoc'd module) or a
page that refers to something that no longer exists fails here.
"""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

pytest.importorskip("sphinx", reason="the docs extra (pip install -e '.[docs]') is needed")


def _env():
    env = dict(os.environ)
    env["JAX_PLATFORMS"] = "cpu"
    env.pop("XLA_FLAGS", None)  # one device is enough to import the package
    return env


def test_sphinx_build_has_no_warnings(tmp_path):
    out = tmp_path / "html"
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(out)],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    catalogue = (out / "catalogue.html").read_text(encoding="utf-8")
    # Every public loss has an API entry the catalogue links to.
    import mfdjax.losses

    missing = [name for name in mfdjax.losses.__all__
               if name != "softmax_cross_entropy" and f"mfdjax.losses.{name}" not in catalogue]
    assert not missing, f"not in the loss catalogue: {missing}"
    api = (out / "api" / "losses.html").read_text(encoding="utf-8")
    undocumented = [name for name in mfdjax.losses.__all__
                    if name != "softmax_cross_entropy" and f'id="mfdjax.losses.{name}"' not in api]
    assert not undocumented, f"no API entry: {undocumented}"


@pytest.mark.slow
def test_model_zoo_page_matches_the_models():
    proc = subprocess.run([sys.executable, str(DOCS / "gen_model_zoo.py"), "--check"],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
