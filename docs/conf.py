"""Sphinx configuration of the mfdjax documentation.

Build (offline, warnings are errors)::

    python -m sphinx -W -b html docs docs/_build/html

The pages that list the command line and the config fields are generated at
build time from the code itself (``_gen.py``), so they cannot go stale.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))  # the repository root: mfdjax without install

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import _gen  # noqa: E402

import mfdjax  # noqa: E402

project = "mfdjax"
author = "the mfdjax authors"
copyright = "the mfdjax authors"  # noqa: A001
release = mfdjax.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]

exclude_patterns = ["_build", "_generated", "model_zoo_table.rst"]
templates_path: list[str] = []
html_theme = "alabaster"
html_static_path: list[str] = []
html_theme_options = {"description": "MFD, POD and W-Softmax in JAX", "fixed_sidebar": True}

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
# Flax dataclass fields are listed by autodoc already: render "Attributes:" sections
# as field lists so they are not described twice.
napoleon_use_ivar = True
nitpicky = False
suppress_warnings: list[str] = []
# Docstrings write "mean |correlation|" (the statistic of the MFD paper's Tables I
# and III); in reStructuredText |name| is a substitution, so define it as itself.
rst_prolog = r"""
.. |correlation| replace:: \|correlation\|
"""


def setup(app):
    app.connect("builder-inited", lambda app: _gen.generate(os.path.join(HERE, "_generated")))
