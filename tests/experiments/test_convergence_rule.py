"""The convergence rule of experiments/fmnist_convergence.py on made-up results."""

from __future__ import annotations

import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "experiments"))

import fmnist_convergence as conv  # noqa: E402


def _res(means: dict, n: int = 2) -> dict:
    return {"rows": [{"label": lab, "n": n, "mean": m} for lab, m in means.items()]}


def test_the_shortest_doubling_under_the_tolerance_is_chosen():
    res = _res({"full_e4": 90.0, "full_e8": 91.0, "full_e16": 91.15, "full_e32": 91.2})
    r = conv.rule(res)["full"]
    assert r["chosen_epochs"] == 8
    assert [round(s["change"], 2) for s in r["doublings"][:3]] == [1.0, 0.15, 0.05]
    assert r["doublings"][3]["change"] is None   # 32 -> 64 not run: no effect on the choice
    assert r["boundaries_epochs"] == [2.4, 4.8, 7.2]
    assert conv.rule(res)["low"]["chosen_epochs"] is None   # not run: no decision
    assert conv.rule(res)["low"]["status"] == "pending"
    flat = _res({"full_e4": 90.0, "full_e8": 91.0, "full_e16": 92.0, "full_e32": 93.0,
                 "full_e64": 94.0})
    assert conv.rule(flat)["full"]["status"] == "not reached"
    assert "extend it" in conv.rule_section(flat) and "still to finish" in conv.rule_section(flat)


def test_a_drop_counts_as_a_change_and_missing_seeds_decide_nothing():
    assert conv.rule(_res({"full_e4": 91.0, "full_e8": 90.7, "full_e16": 90.6}))[
        "full"]["chosen_epochs"] == 8
    assert conv.rule(_res({"full_e4": 91.0, "full_e8": 91.0}, n=1))[
        "full"]["chosen_epochs"] is None


def test_chosen_reads_a_published_file_and_refuses_an_undecided_rule(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(_res({"low_e20": 80.0, "low_e40": 80.1})))
    got = conv.chosen(str(path), "low")
    assert got["epochs"] == 20 and got["boundaries_epochs"] == [6.0, 12.0, 18.0]
    with pytest.raises(ValueError, match="has not chosen"):
        conv.chosen(str(path), "full")


def test_recorded_commands_name_no_absolute_path(tmp_path, monkeypatch):
    import _runner

    monkeypatch.chdir(tmp_path)
    outside = tmp_path.parent / "runs" / "study"
    assert _runner._portable(str(outside)) == "../runs/study"
    assert _runner._portable(f"cifar10={outside}") == "cifar10=../runs/study"
    assert _runner._portable("seed=3") == "seed=3"
