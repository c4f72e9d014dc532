"""The README's "Results" block, generated from the committed Fashion-MNIST results.

    python experiments/_summary.py            # print the block
    python experiments/_summary.py --readme   # rewrite it in README.md (between the markers)

Reads every ``experiments/results/fashion_mnist/<study>/results.json`` (the runner's
schema) and prints, per study: the cells (mean ± std, n), the comparisons with their
p-values and verdicts, and how many runs of the planned ones are in. A test keeps the
README block equal to this output, so the README never shows numbers the files lack.
"""

from __future__ import annotations

import glob
import json
import math
import os
import sys

from _runner import mean_std

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "experiments", "results", "fashion_mnist")
START, END = "<!-- results:start -->", "<!-- results:end -->"

# Study folder -> (paper, script, planned seeds per arm).
STUDIES = {
    "mfd_softmax": ("MFD", "fmnist_mfd_softmax.py", 5),
    "mfd_placement": ("MFD", "fmnist_mfd_placement.py", 3),
    "mfd_margins": ("MFD", "fmnist_mfd_margins.py", 3),
    "pod_losses": ("POD", "fmnist_pod_losses.py", 3),
    "w_softmax": ("W-Softmax", "fmnist_w_softmax.py", 3),
}


def _f(x, d=2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.{d}f}"


def _cell(text: str) -> str:
    """Text for a markdown table cell (a bare | would split the cell)."""
    return str(text).replace("|", "\\|")


def _digits(metric: str) -> int:
    return 3 if metric.startswith(("corr", "angle", "var")) else 2


def _wall(row: dict) -> str:
    """Mean ± std of the runs' wall seconds ("–" for rows that reuse another row's runs)."""
    vals = [run["metrics"]["wall_seconds"] for run in row.get("runs", [])
            if run.get("status") == "done" and "wall_seconds" in run.get("metrics", {})]
    if row.get("runs_of") or not vals:
        return "–"
    mean, std = mean_std(vals)
    return f"{_f(mean, 0)} ± {_f(std, 0)}"


def study_block(name: str, res: dict, planned: int) -> list[str]:
    rows = res["rows"]
    trained = [r for r in rows if not r.get("runs_of")]  # derived rows reuse these runs
    done = sum(r["n"] for r in trained)
    total = planned * len(trained)
    lines = [f"**{res['title']}** — `{os.path.relpath(RESULTS, ROOT)}/{name}/` "
             f"({done} of {total} planned runs finished; commit `{res.get('commit')}`)", "",
             "| arm | metric | mean ± std | n | run wall time (s) |",
             "|---|---|---|---|---|"]
    for r in rows:
        d = _digits(r["metric"])
        wall = _wall(r)
        lines.append(f"| {_cell(r['column'])}, {_cell(r['row'])} | {r['metric']} | "
                     f"{_f(r['mean'], d)} ± {_f(r['std'], d)} | {r['n']} | {wall} |")
    lines.append("")
    if res.get("comparisons"):
        lines += ["| claim | diff (b − a) | p (Welch) | verdict |", "|---|---|---|---|"]
        for c in res["comparisons"]:
            claim = c.get("claim") or f"{c['b']} vs {c['a']} ({c['metric']})"
            lines.append(f"| {_cell(claim)} (n = {c['n_a']}/{c['n_b']}) | "
                         f"{_f(c['diff_mean'], _digits(c['metric']))} | "
                         f"{_f(c['p_value'], 4)} | **{c['verdict']}** |")
        lines.append("")
    return lines


def block() -> str:
    lines = [START, ""]
    by_paper: dict[str, list[str]] = {}
    for name, (paper, script, planned) in STUDIES.items():
        path = os.path.join(RESULTS, name, "results.json")
        if not os.path.exists(path):
            by_paper.setdefault(paper, []).extend(
                [f"*{script}*: not run yet (no `{name}/results.json`).", ""])
            continue
        with open(path) as f:
            res = json.load(f)
        by_paper.setdefault(paper, []).extend(study_block(name, res, planned))
    for paper, body in by_paper.items():
        lines += [f"#### {paper} paper", ""] + body
    lines.append(END)
    return "\n".join(lines)


def rewrite_readme(path: str = os.path.join(ROOT, "README.md")) -> None:
    with open(path) as f:
        text = f.read()
    if START not in text or END not in text:
        raise SystemExit(f"{path} has no {START} ... {END} block")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w") as f:
        f.write(head + block() + tail)


if __name__ == "__main__":
    if "--readme" in sys.argv[1:]:
        rewrite_readme()
    else:
        print(block())
