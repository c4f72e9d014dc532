"""Runner rows that read another row's runs (``Row.runs_of``) and extra results.md sections."""

from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "experiments"))

import _runner  # noqa: E402
from _runner import Comparison, Experiment, Row  # noqa: E402


def _exp(sections=()):
    rows = [Row("soft", "default:softmax", "Acc", "net", "softmax", paper=76.4),
            Row("mfd", "default:softmax_mfd", "Acc", "net", "+MFD", paper=79.2),
            Row("t1", "default:softmax", "Corr", "softmax", "stage 0", paper=0.189,
                metric="corr/0", runs_of="soft"),
            Row("t3", "default:softmax_mfd", "Corr", "+MFD", "stage 0", paper=0.007,
                metric="corr/0", runs_of="mfd", lower_is_better=True)]
    return Experiment("t", "t.py", rows, [Comparison("Corr", "t1", "t3", lower_is_better=True)],
                      sections=sections)


def _runner_with_records(exp, argv=()):
    r = _runner.Runner(exp, _runner.parse_args(exp, ["--seeds", "3", *argv]))
    for seed, (a, b) in enumerate([(0.20, 0.010), (0.19, 0.012), (0.21, 0.009)]):
        r.records[("soft", seed)] = {"seed": seed, "status": "done", "workdir": f"soft/seed{seed}",
                                     "command": f"cmd soft {seed}", "metrics": {"top1": 76.0 + seed, "corr/0": a}}
        r.records[("mfd", seed)] = {"seed": seed, "status": "done", "workdir": f"mfd/seed{seed}",
                                    "metrics": {"top1": 78.0 + seed, "corr/0": b}}
    return r


def test_a_derived_row_reads_its_source_runs_with_its_own_metric():
    def ratio(res):
        rows = {r["label"]: r for r in res["rows"]}
        return f"## ratio\n\n{rows['mfd']['mean'] / rows['soft']['mean']:.4f}"

    def broken(res):
        raise KeyError("nope")

    res = _runner_with_records(_exp([ratio, broken])).results()
    rows = {r["label"]: r for r in res["rows"]}
    assert rows["t1"]["values"] == [0.20, 0.19, 0.21] and rows["t1"]["runs_of"] == "soft"
    assert rows["t3"]["mean"] == pytest.approx(0.0103333, rel=1e-4)
    assert rows["t1"]["diff_paper"] == pytest.approx(0.20 - 0.189)
    comp = res["comparisons"][0]
    assert (comp["metric"], comp["verdict"]) == ("corr/0", "shown")
    assert res["sections"][0] == f"## ratio\n\n{79.0 / 77.0:.4f}"
    assert "KeyError" in res["sections"][1]
    md = _runner.render_markdown(res)
    assert "## Corr" in md and "0.200 ± 0.010 (n=3) (0.189)" in md and "## ratio" in md
    # A derived row's runs are listed once, under the row that trained them.
    assert "- soft seed 0: `cmd soft 0`" in md and "- t1 seed" not in md


def test_only_a_derived_row_trains_its_source_and_bad_sources_are_refused():
    exp = _exp()
    r = _runner.Runner(exp, _runner.parse_args(exp, ["--only", "t3"]))
    assert [row.label for row in r.rows] == ["mfd", "t3"]
    with pytest.raises(ValueError, match="not a training row"):
        Experiment("t", "t.py", [Row("a", "s", "T", "r", "c"),
                                 Row("b", "s", "T", "r", "d", runs_of="zz")])
    with pytest.raises(ValueError, match="not a training row"):
        Experiment("t", "t.py", [Row("a", "s", "T", "r", "c", runs_of="b"),
                                 Row("b", "s", "T", "r", "d", runs_of="a")])


def test_list_says_where_a_derived_row_comes_from(capsys):
    assert _runner.main(_exp(), ["--list"]) == 0
    out = capsys.readouterr().out
    assert "read from the runs of soft" in out and "0.189" in out
