"""README's Results block is exactly what experiments/_summary.py makes of the committed
results files, and every committed results.json has the runner's schema."""

from __future__ import annotations

import glob
import json
import os
import re
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
                    # A run trained side by side records the core it was pinned to.
                    command = re.sub(r"^taskset -c \d+ ", "", run["command"])
                    assert command.startswith("mfdjax train --config "), run
                    assert f"seed={run['seed']}" in run["command"], run
        for c in res["comparisons"]:
            assert c["verdict"] in {"shown", "not shown", "contradicted"}
            if min(c["n_a"], c["n_b"]) < 2:
                assert c["verdict"] == "not shown"


def test_run_counts_leave_out_rows_that_reuse_other_runs():
    # A row with runs_of (e.g. study 4's Table IX classifiers, read off the POD runs) trains
    # nothing: counting it would report more finished runs than planned.
    def row(label, n, runs_of=None):
        return {"row": label, "column": "c", "metric": "top1", "mean": 90.0, "std": 0.1,
                "n": n, "runs_of": runs_of, "extra": {},
                "runs": [{"status": "done", "metrics": {"wall_seconds": 100.0 + 10 * s}}
                         for s in range(n)]}

    res = {"title": "t", "commit": "abc", "comparisons": [],
           "rows": [row("a", 3), row("b", 3), row("b_view", 3, runs_of="b")]}
    text = "\n".join(_summary.study_block("x", res, 3))
    assert "(6 of 6 planned runs finished" in text
    lines = {ln.split(" | ")[0]: ln for ln in text.splitlines() if ln.startswith("| c, ")}
    assert lines["| c, a"].endswith("| 110 ± 10 |")
    assert lines["| c, b_view"].endswith("| – |")
