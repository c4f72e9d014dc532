"""Shared driver of the experiments/ scripts: train a list of configs, write a results table.

Each script lists (label, config spec, paper number) rows; this trains every row
into ``--workdir/<label>`` (a finished or interrupted run resumes from its
checkpoint, so re-running a script only does what is missing), then writes
``--workdir/RESULTS.md`` with the paper's number next to ours, and the combined
side-by-side report (``report.md``). Extra ``key=value`` arguments override every
config (e.g. ``dataset.data_dir=/data/cifar``, ``num_epochs=1`` for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_table(title: str, rows: Sequence[tuple[str, str, object]], *, default_workdir: str,
              argv=None) -> str:
    p = argparse.ArgumentParser(description=title)
    p.add_argument("--workdir", default=default_workdir)
    p.add_argument("--only", default="", help="comma-separated labels to run (default all)")
    p.add_argument("--list", action="store_true", help="print the rows and exit")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args(argv)
    if args.list:
        for label, spec, paper in rows:
            print(f"{label:40s} {spec:45s} paper: {paper}")
        return ""

    import jax

    from mfdjax.configs import apply_overrides, load_config
    from mfdjax.train.loop import train_and_evaluate
    from mfdjax.train.report import write_comparison_report

    only = {s for s in args.only.split(",") if s}
    done = []
    for label, spec, paper in rows:
        if only and label not in only:
            continue
        config = load_config(spec)
        if len(config.comparison):
            raise ValueError(f"{spec}: experiments rows must name single runs "
                             "(give the loss/variant field of the config argument).")
        apply_overrides(config, args.overrides)
        run_dir = os.path.join(args.workdir, label)
        print(f"=== {label}: {spec} -> {run_dir}", flush=True)
        train_and_evaluate(config, run_dir)
        done.append((label, spec, paper, run_dir))
    if jax.process_index() != 0 or not done:
        return ""
    lines = [f"# {title}", "", "| row | config | paper top-1 (%) | ours top-1 (%) | best (%) | "
             "epochs |", "|---|---|---|---|---|---|"]
    for label, spec, paper, run_dir in done:
        with open(os.path.join(run_dir, "summary.json")) as f:
            s = json.load(f)
        acc = s["final"].get("test/accuracy")
        lines.append(f"| {label} | `{spec}` | {paper if paper is not None else 'n/a'} | "
                     f"{100 * acc:.2f} | {100 * s['best_test_accuracy']:.2f} | "
                     f"{s['epochs']:.1f} |")
    lines += ["", "Overrides: " + (" ".join(args.overrides) or "none"), "",
              "Side-by-side curves and per-stage correlations: [report.md](report.md)", ""]
    path = os.path.join(args.workdir, "RESULTS.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    write_comparison_report([d for *_, d in done], args.workdir, title=title)
    print(f"results: {os.path.abspath(path)}")
    return path
