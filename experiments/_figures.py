"""Figure helpers shared by the experiments/ scripts (matplotlib, Agg; one PNG each).

Each helper returns a ``draw(ctx, path)`` function for :class:`_runner.Figure`; ``ctx``
holds the runner (its run folders and records) and the aggregated rows.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np


def plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def save(pyplot, fig, path: str) -> None:
    """Lays out, writes (110 dpi, through the run directory's one writer, which never
    follows a link) and closes a figure: the last step of every draw()."""
    import io

    from mfdjax.train.rundir import atomic_write

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    pyplot.close(fig)
    atomic_write(path, buf.getvalue())


def run_dirs(ctx: dict, label: str) -> list[str]:
    """The finished run folders of a row (one per seed)."""
    runner = ctx["runner"]
    out = []
    for seed in runner.seeds:
        rec = runner.records.get((label, seed))
        if rec and rec.get("status") == "done":
            out.append(os.path.join(runner.workdir, rec["workdir"]))
    return out


def series(run_dir: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(epoch, value) of ``key`` in a run's metrics.jsonl, the last value per step."""
    from mfdjax.train.metrics import read_jsonl

    by_step = {}
    for r in read_jsonl(os.path.join(run_dir, "metrics.jsonl")):
        v = r.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            by_step[r["step"]] = (r.get("epoch", r["step"]), float(v))
    if not by_step:
        return np.zeros(0), np.zeros(0)
    x, y = zip(*(by_step[k] for k in sorted(by_step)))
    return np.asarray(x, float), np.asarray(y, float)


def curve_band(labels: Sequence[str], *, key: str = "test/accuracy", scale: float = 100.0,
               ylabel: str = "test top-1 (%)", names: dict | None = None):
    """Mean and min-max band over seeds of a per-epoch metric, one line per row."""

    def draw(ctx: dict, path: str) -> None:
        p = plt()
        fig, ax = p.subplots(figsize=(6, 4))
        drawn = False
        for label in labels:
            curves = [series(d, key) for d in run_dirs(ctx, label)]
            curves = [c for c in curves if c[0].size]
            if not curves:
                continue
            n = min(c[0].size for c in curves)
            x = curves[0][0][:n]
            ys = np.stack([c[1][:n] for c in curves]) * scale
            m = ys.mean(0)
            ax.plot(x, m, marker="o", ms=3,
                    label=f"{(names or {}).get(label, label)} (n={len(curves)})")
            if len(curves) > 1:
                ax.fill_between(x, ys.min(0), ys.max(0), alpha=0.2)
            drawn = True
        if not drawn:
            p.close(fig)
            return
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        save(p, fig, path)

    return draw


def stage_bars(labels: Sequence[str], *, map_names: Sequence[str] | None = None,
               names: dict | None = None, title: str = ""):
    """Per-map mean |correlation| (mean ± std over seeds) for each row, grouped bars."""

    def draw(ctx: dict, path: str) -> None:
        rows = ctx["rows"]
        data = []
        for label in labels:
            r = rows.get(label)
            if r is None or not r["n"]:
                continue
            keys = sorted((k for k in r.get("extra", {}) if k.startswith("corr/")),
                          key=lambda k: int(k.split("/")[1]))
            if not keys:
                continue
            data.append((label, [r["extra"][k]["mean"] for k in keys],
                         [r["extra"][k]["std"] for k in keys]))
        if not data:
            return
        p = plt()
        fig, ax = p.subplots(figsize=(6, 3.6))
        k = max(len(d[1]) for d in data)
        w = 0.8 / len(data)
        for i, (label, m, s) in enumerate(data):
            x = np.arange(len(m)) + i * w
            ax.bar(x, m, w, yerr=np.nan_to_num(s), capsize=2,
                   label=(names or {}).get(label, label))
        ticks = list(map_names or [])[:k] or [str(i) for i in range(k)]
        ax.set_xticks(np.arange(k) + 0.4 - w / 2, ticks + [""] * (k - len(ticks)))
        ax.set_ylabel("mean |correlation|")
        if title:
            ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
        save(p, fig, path)

    return draw


def metric_vs_x(points: Sequence[tuple[float, str]], *, metric: str = "top1",
                xlabel: str, ylabel: str = "test top-1 (%)", logx: bool = False,
                paper: Sequence[tuple[float, float]] = (), baseline: str | None = None):
    """A metric (mean ± std over seeds) against a swept setting, with the paper's points."""

    def draw(ctx: dict, path: str) -> None:
        rows = ctx["rows"]
        xs, ms, ss = [], [], []
        for x, label in points:
            r = rows.get(label)
            if r is None or not r["n"]:
                continue
            vals = (r["values"] if r["metric"] == metric
                    else r.get("extra", {}).get(metric, {}).get("values", []))
            if not vals:
                continue
            xs.append(x)
            ms.append(float(np.mean(vals)))
            ss.append(float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0)
        if not xs:
            return
        p = plt()
        fig, ax = p.subplots(figsize=(5.5, 3.8))
        ax.errorbar(xs, ms, yerr=ss, marker="o", capsize=3, label="ours (mean ± std)")
        if paper:
            px, py = zip(*paper)
            ax.plot(px, py, "s--", color="gray", label="paper")
        if baseline and baseline in rows and rows[baseline]["n"]:
            ax.axhline(rows[baseline]["mean"], color="k", lw=0.8, ls=":",
                       label=f"{baseline} (mean)")
        if logx:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        save(p, fig, path)

    return draw
