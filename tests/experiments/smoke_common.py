"""Every experiments/ script end to end with --smoke: its rows train on a Fashion-MNIST
slice, results.json / results.md / PNGs have the runner's schema, a rerun trains nothing,
and --list names every row with its paper number.

Profiles: in CI (the default) a script that declares ``EXPERIMENT.ci_rows`` trains those
rows (chosen to exercise every figure, analysis and section of the script); with
``MFDJAX_SMOKE_PROFILE=full`` every row of every script trains, as a manual
``--smoke`` does."""

from __future__ import annotations

import glob
import importlib
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXP_DIR = os.path.join(ROOT, "experiments")
SCRIPTS = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(EXP_DIR, "*.py"))
                 if not os.path.basename(p).startswith("_"))
VERDICTS = {"shown", "not shown", "contradicted"}

@pytest.fixture(scope="module")
def path_and_cache(tmp_path_factory):
    sys.path.insert(0, EXP_DIR)
    old = os.environ.get("MFDJAX_COMPILE_CACHE")
    os.environ["MFDJAX_COMPILE_CACHE"] = str(tmp_path_factory.mktemp("jax_cache"))
    yield
    sys.path.remove(EXP_DIR)
    if old is None:
        os.environ.pop("MFDJAX_COMPILE_CACHE", None)
    else:
        os.environ["MFDJAX_COMPILE_CACHE"] = old


def _experiment(script):
    module = importlib.import_module(script)
    assert hasattr(module, "EXPERIMENT"), f"{script}.py must define EXPERIMENT"
    return module.EXPERIMENT


def check_schema(res: dict, exp, selected) -> None:
    for key in ("title", "commit", "machine", "command", "rows", "comparisons"):
        assert key in res, key
    labels = {r["label"] for r in res["rows"]}
    assert set(selected) <= labels <= {r.label for r in exp.rows}
    for r in res["rows"]:
        for key in ("table", "row", "column", "metric", "paper", "seeds", "values", "mean",
                    "std", "n", "runs"):
            assert key in r, (r["label"], key)
        assert r["n"] == len(r["values"]) >= 1, (r["label"], r["runs"])
        for run in r["runs"]:
            assert {"seed", "workdir", "command"} <= set(run), run
            assert run["status"] == "done", (r["label"], run.get("error"))
    for c in res["comparisons"]:
        for key in ("table", "a", "b", "diff_mean", "p_value", "verdict"):
            assert key in c, key
        assert c["verdict"] in VERDICTS


def scripts(*prefixes: str) -> list[str]:
    return [s for s in SCRIPTS if s.startswith(prefixes)]


def run_smoke(script, tmp_path, capsys, monkeypatch):
    import _runner

    exp = _experiment(script)
    assert _runner.main(exp, ["--list"]) == 0
    listing = capsys.readouterr().out
    for row in exp.rows:
        assert row.label in listing
        if row.paper is not None:
            assert f"{row.paper:g}" in listing

    work = tmp_path / "w"
    full = os.environ.get("MFDJAX_SMOKE_PROFILE", "ci") == "full"
    selected = [r.label for r in exp.rows] if full or not exp.ci_rows else list(exp.ci_rows)
    only = [] if len(selected) == len(exp.rows) else ["--only"] + selected
    rc = _runner.main(exp, ["--smoke", "--workdir", str(work)] + only)
    res = json.loads((work / "results.json").read_text())
    check_schema(res, exp, selected)
    assert rc == 0
    assert res["smoke"] is True
    md = (work / "results.md").read_text()
    assert exp.title in md and "Per-seed values" in md
    for fig in res.get("figures", []):
        assert fig["status"] == "drawn", fig
        assert (work / fig["name"]).stat().st_size > 1000

    # A rerun finds every run finished and trains nothing.
    def no_training(*a, **k):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(_runner.Runner, "run_one", no_training)
    assert _runner.main(exp, ["--smoke", "--workdir", str(work)] + only) == 0
