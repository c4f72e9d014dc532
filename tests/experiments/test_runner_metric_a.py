"""Runner comparisons whose two sides read different metrics (``Comparison.metric_a``)."""

from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "experiments"))

import _runner  # noqa: E402
from _runner import Comparison, Experiment, Row  # noqa: E402


def test_metric_a_compares_two_metrics_of_the_same_runs():
    rows = [Row("cos", "default:softmax", "IX", "POD", "cosine", metric="cos_top1"),
            Row("gda", "default:softmax", "IX", "POD", "GDA", metric="gda_top1", runs_of="cos")]
    exp = Experiment("t", "t.py", rows, [
        Comparison("IX", "gda", "cos", metric="cos_top1", metric_a="gda_top1",
                   lower_is_better=False),
        Comparison("IX", "gda", "cos", metric="cos_top1")])   # no metric_a: the same metric
    r = _runner.Runner(exp, _runner.parse_args(exp, ["--seeds", "3"]))
    for seed in range(3):
        r.records[("cos", seed)] = {"seed": seed, "status": "done", "workdir": f"cos/s{seed}",
                                    "metrics": {"cos_top1": 90.0 + 0.1 * seed,
                                                "gda_top1": 80.0 + 0.2 * seed}}
    with_a, without = r.results()["comparisons"]
    assert with_a["metric_a"] == "gda_top1" and with_a["metric"] == "cos_top1"
    assert with_a["mean_a"] == pytest.approx(80.2) and with_a["mean_b"] == pytest.approx(90.1)
    assert with_a["diff_mean"] == pytest.approx(9.9)
    assert with_a["verdict"] == "shown"
    assert without["diff_mean"] == pytest.approx(0.0) and without["verdict"] == "not shown"
