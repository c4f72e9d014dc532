"""The sdist and wheel build, their metadata is valid, and the wheel works outside the repo.

What runs (marked slow; about half a minute, no network):

1. ``python -m build --no-isolation`` builds the sdist and, from it, the wheel
   (the test extra installs the backend, so no build environment is downloaded).
2. The wheel's core metadata is parsed and validated with ``packaging`` (the same
   checks ``twine check`` starts from); ``twine check`` itself runs too when twine is
   installed.
3. Every third-party module that mfdjax imports at module level is declared in
   ``Requires-Dist``: a dependency that is only installed by accident fails here.
4. A fresh virtual environment is made in a temporary folder outside the
   repository, and the wheel is installed into it with ``--no-deps --no-index``.
   To avoid downloading about 1 GB of dependencies on every CI run, that
   environment sees the test environment's installed packages through a ``.pth``
   path entry (a plain path line: the editable install of mfdjax there is not
   activated, which the test checks). Step 3 is what keeps this honest.
5. From a folder outside the repository: ``mfdjax --help``, ``mfdjax --version``,
   ``mfdjax info --config default`` and a loss import and call, each checked to run
   the installed wheel's code.
"""

import ast
import email
import os
import pathlib
import subprocess
import sys
import sysconfig
import tomllib
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _run(cmd, cwd, env=None, timeout=300):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _pyproject():
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    pytest.importorskip("build", reason="the test extra (python -m build) is needed")
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT], cwd=ROOT)
    wheels = sorted(out.glob("mfdjax-*.whl"))
    sdists = sorted(out.glob("mfdjax-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return wheels[0], sdists[0]


def _wheel_metadata(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        return names, z.read(meta).decode(), z.read(entry).decode()


def test_metadata_is_valid(dist):
    from packaging.metadata import Metadata

    wheel, sdist = dist
    names, raw, entry_points = _wheel_metadata(wheel)
    meta = Metadata.from_email(raw, validate=True)  # raises on any invalid field
    project = _pyproject()
    assert meta.name == "mfdjax" and str(meta.version) == project["version"]
    assert meta.description_content_type.startswith("text/markdown")
    assert meta.description and "mfdjax" in meta.description  # README as long description
    assert str(meta.requires_python) == project["requires-python"]
    assert set(meta.provides_extra or []) >= {"test", "docs", "tfds-prepare", "cuda12"}
    assert "mfdjax = mfdjax.cli:main" in entry_points
    # The package and its configs ship; tests and docs do not.
    assert "mfdjax/configs/default.py" in names and "mfdjax/losses/mfd.py" in names
    assert not [n for n in names if n.startswith(("tests/", "docs/", "experiments/"))]
    try:
        import twine  # noqa: F401
    except ImportError:
        return
    _run([sys.executable, "-m", "twine", "check", "--strict", wheel, sdist], cwd=ROOT)


def _module_level_imports():
    """Top-level names of the modules that mfdjax imports when a module is imported."""
    found = set()
    for path in (ROOT / "mfdjax").rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


def test_every_module_level_import_is_declared(dist):
    from importlib.metadata import packages_distributions

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    _, raw, _ = _wheel_metadata(dist[0])
    declared = {canonicalize_name(Requirement(r).name)
                for r in email.message_from_string(raw).get_all("Requires-Dist")
                if "extra ==" not in r}
    stdlib = set(sys.stdlib_module_names) | {"mfdjax", "__future__"}
    providers = packages_distributions()
    missing = {}
    for module in sorted(_module_level_imports() - stdlib):
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        if not dists & declared:
            missing[module] = sorted(dists)
    assert not missing, f"imported at module level but not in dependencies: {missing}"


def test_wheel_installs_and_runs_outside_the_repository(dist, tmp_path):
    wheel, _ = dist
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    py = venv / "bin" / "python"
    site = pathlib.Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             cwd=tmp_path).strip())
    (site / "_test_env_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index",
          "--no-cache-dir", "-q", wheel], cwd=tmp_path)

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "XLA_FLAGS")}
    env["JAX_PLATFORMS"] = "cpu"
    work = tmp_path / "elsewhere"
    work.mkdir()
    mfdjax_cmd = venv / "bin" / "mfdjax"
    assert "usage: mfdjax" in _run([mfdjax_cmd, "--help"], cwd=work, env=env)
    assert _run([mfdjax_cmd, "--version"], cwd=work, env=env).strip() == \
        f"mfdjax {_pyproject()['version']}"
    info = _run([mfdjax_cmd, "info", "--config", "default"], cwd=work, env=env)
    assert "parameters:" in info and "config default" in info
    code = (
        "import jax.numpy as jnp, mfdjax\n"
        "from mfdjax.losses import mfd_loss, pod_loss, w_softmax_loss\n"
        "print(mfdjax.__file__)\n"
        "x = jnp.array([[1.0, 2.0, 0.5], [2.0, 1.0, 0.0], [0.0, 1.0, 3.0], [1.0, 0.0, 1.0]])\n"
        "print(float(mfd_loss(x)))\n"
    )
    out = _run([py, "-c", code], cwd=work, env=env).split()
    assert pathlib.Path(out[0]).is_relative_to(venv), f"imported {out[0]}, not the wheel"
    assert 0.0 < float(out[1]) < 1.0
