"""The shared experiments runner: statistics, verdicts, argument errors, failure isolation."""

from __future__ import annotations

import json
import math
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "experiments"))

import _runner  # noqa: E402
from _runner import Comparison, Experiment, Row  # noqa: E402


def test_mean_std_is_sample_std():
    m, s = _runner.mean_std([1.0, 2.0, 3.0, 4.0])
    assert m == 2.5 and s == pytest.approx(math.sqrt(5.0 / 3.0))
    assert math.isnan(_runner.mean_std([7.0])[1])
    assert math.isnan(_runner.mean_std([])[0])


def test_welch_matches_the_textbook_formula():
    a, b = [90.1, 90.5, 89.8, 90.3], [91.0, 91.4, 90.9, 91.6, 91.2]
    diff, p, verdict = _runner.welch(a, b)
    # Welch's t and Welch-Satterthwaite df, written out; p from the t distribution.
    from scipy import stats

    ma, mb = sum(a) / len(a), sum(b) / len(b)
    va = sum((x - ma) ** 2 for x in a) / (len(a) - 1)
    vb = sum((x - mb) ** 2 for x in b) / (len(b) - 1)
    se2 = va / len(a) + vb / len(b)
    t = (mb - ma) / math.sqrt(se2)
    df = se2 ** 2 / ((va / len(a)) ** 2 / (len(a) - 1) + (vb / len(b)) ** 2 / (len(b) - 1))
    assert diff == pytest.approx(mb - ma)
    assert p == pytest.approx(2 * stats.t.sf(abs(t), df), rel=1e-9)
    assert verdict == "shown"


@pytest.mark.parametrize("a,b,lower,expect", [
    ([1.0, 1.1, 0.9], [2.0, 2.1, 1.9], False, "shown"),
    ([1.0, 1.1, 0.9], [2.0, 2.1, 1.9], True, "contradicted"),
    ([1.0, 1.1, 0.9], [0.0, 0.1, -0.1], True, "shown"),
    ([1.0, 3.0, 2.0], [2.0, 1.0, 3.5], False, "not shown"),
    ([1.0], [2.0], False, "not shown"),            # one seed: never a verdict
    ([1.0, 1.0], [1.0, 1.0], False, "not shown"),
])
def test_verdicts(a, b, lower, expect):
    assert _runner.welch(a, b, lower_is_better=lower)[2] == expect


def _exp(rows, comparisons=()):
    return Experiment(title="t", script="t.py", rows=rows, comparisons=comparisons,
                      default_workdir="t")


def test_unknown_only_label_lists_the_valid_ones(capsys):
    exp = _exp([Row("a", "default:softmax", "T", "r", "c"),
                Row("b", "default:softmax", "T", "r", "d")])
    with pytest.raises(SystemExit):
        _runner.parse_args(exp, ["--only", "nope"])
    err = capsys.readouterr().err
    assert "nope" in err and "a, b" in err


def test_bad_data_dir_and_duplicate_labels(capsys):
    exp = _exp([Row("a", "default:softmax", "T", "r", "c", data="cifar10")])
    with pytest.raises(SystemExit):
        _runner.parse_args(exp, ["--data-dir", "cifar100=/x"])
    assert "cifar10" in capsys.readouterr().err
    with pytest.raises(ValueError, match="duplicate"):
        _exp([Row("a", "s", "T", "r", "c"), Row("a", "s", "T", "r", "d")])
    with pytest.raises(ValueError, match="unknown row"):
        _exp([Row("a", "s", "T", "r", "c")], [Comparison("T", "a", "zz")])


def test_a_failing_run_is_recorded_and_the_next_one_runs(tmp_path, capsys):
    exp = _exp([Row("bad1", "no_such_config", "T", "r", "c", paper=1.0),
                Row("bad2", "default:nonsense", "T", "r", "d")],
               [Comparison("T", "bad1", "bad2")])
    rc = _runner.main(exp, ["--seeds", "2", "--workdir", str(tmp_path)])
    assert rc == 1
    res = json.loads((tmp_path / "results.json").read_text())
    runs = {(r["label"], run["seed"]): run for r in res["rows"] for run in r["runs"]}
    assert set(runs) == {("bad1", 0), ("bad1", 1), ("bad2", 0), ("bad2", 1)}
    assert all(run["status"] == "failed" for run in runs.values())
    assert "unknown config" in runs[("bad1", 0)]["error"]
    assert res["comparisons"][0]["verdict"] == "not shown"
    md = (tmp_path / "results.md").read_text()
    assert "Failed runs" in md and "bad2 seed 1" in md


def test_list_prints_every_row_with_its_paper_number(capsys):
    exp = _exp([Row("a", "default:softmax", "T", "r", "c", paper=93.25, data="cifar10")])
    assert _runner.main(exp, ["--list"]) == 0
    out = capsys.readouterr().out
    assert "a" in out and "93.25" in out and "--data-dir cifar10=PATH" in out


def test_other_measurements_lists_only_rows_that_have_them():
    # Study 4 measures GDA on the POD runs only: its "Other measurements" table must not
    # carry nine empty rows for the other losses.
    path = os.path.join(ROOT, "experiments", "results", "fashion_mnist", "pod_losses",
                        "results.json")
    with open(path) as f:
        res = json.load(f)
    md = _runner.render_markdown(res)
    block = md.split("Other measurements (Study 4: ten losses")[1].split("\n\n")[1]
    body = block.splitlines()[2:]
    assert len(body) == 1 and body[0].startswith("| POD Loss")
