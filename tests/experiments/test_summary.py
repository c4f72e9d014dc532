"""README's Results block is exactly what experiments/_summary.py makes of the committed
results files, and every committed results.json has the runner's schema."""

from __future__ import annotations

import glob
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "experiments"))

import _summary  # noqa: E402


def test_readme_results_block_matches_the_results_files():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    start = readme.index(_summary.START)
    end = readme.index(_summary.END) + len(_summary.END)
    assert readme[start:end] == _summary.block(), (
        "README's Results block is stale: run `python experiments/_summary.py --readme`")


def test_committed_results_have_the_schema_and_reproducible_commands():
    paths = glob.glob(os.path.join(ROOT, "experiments", "results", "*", "*", "results.json"))
    for path in paths:
        with open(path) as f:
            res = json.load(f)
        assert not res.get("smoke"), f"{path}: a --smoke result must not be committed"
        for key in ("title", "commit", "machine", "command", "rows", "comparisons"):
            assert key in res, (path, key)
        for r in res["rows"]:
            assert r["n"] == len(r["values"])
            for run in r["runs"]:
                if run.get("status") == "done":
                    assert run["command"].startswith("mfdjax train --config "), run
                    assert f"seed={run['seed']}" in run["command"], run
        for c in res["comparisons"]:
            assert c["verdict"] in {"shown", "not shown", "contradicted"}
            if min(c["n_a"], c["n_b"]) < 2:
                assert c["verdict"] == "not shown"
