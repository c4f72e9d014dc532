"""Run reports: report.md + PNG plots for one run, and one side-by-side report for several.

One job: turn ``summary.json`` and ``metrics.jsonl`` (written by the loop) into
something to read. matplotlib's Agg backend (no display needed).

* :func:`write_run_report` -> ``report.md``, ``curves.png`` (train loss per
  logging window, test accuracy and test loss per epoch), ``correlations.png``
  (per-map mean |correlation| of the last evaluation, Tables I/III of Zhu et al.,
  "Multi-stage feature decorrelation constraints for improving CNN
  classification performance").
* :func:`write_comparison_report` -> one ``report.md`` with the runs side by
  side (final / best accuracy, time, throughput, the correlation table) and
  ``comparison_curves.png`` / ``comparison_correlations.png``.
* :func:`results_table` -> the short table the CLI prints at the end of a run.

Both read only the run's records, so they describe the whole run however
often it was resumed.
"""

from __future__ import annotations

import json
import os
from typing import Sequence

import numpy as np

from mfdjax.train.metrics import read_jsonl
from mfdjax.train.rundir import atomic_write


def _save_png(fig, path: str) -> None:
    """Writes a figure through the run directory's one writer (never through a link)."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write(path, buf.getvalue())

__all__ = ["results_table", "write_comparison_report", "write_run_report"]

_CORR_TITLE = ("Mean |correlation| per map (Tables I/III of Zhu et al., \"Multi-stage feature "
               "decorrelation constraints for improving CNN classification performance\")")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _load(workdir: str) -> tuple[dict, list[dict]]:
    path = os.path.join(workdir, "summary.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing: the run in {workdir} has not finished "
                                "(train it, or resume it with the same command).")
    with open(path) as f:
        summary = json.load(f)
    return summary, read_jsonl(os.path.join(workdir, "metrics.jsonl"))


def _series(rows: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    # A resumed run re-logs the steps after its last checkpoint: keep the last value per step.
    by_step = {}
    for r in rows:
        if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool):
            by_step[r["step"]] = (r["epoch"] if "epoch" in r else r["step"], r[key])
    if not by_step:
        return np.zeros(0), np.zeros(0)
    x, y = zip(*(by_step[k] for k in sorted(by_step)))
    return np.asarray(x, float), np.asarray(y, float)


def _correlations(summary: dict) -> list[float]:
    final = summary.get("final", {})
    keys = sorted((k for k in final if k.startswith("correlation/")),
                  key=lambda k: int(k.split("/")[1]))
    return [float(final[k]) for k in keys]


def _map_names(summary: dict, n: int) -> list[str]:
    names = list(summary.get("map_names") or [])
    return names if len(names) == n else [f"map {i}" for i in range(n)]


def _fmt(v, pct=False) -> str:
    if not isinstance(v, (int, float)) or v != v:
        return "n/a"
    return f"{100 * v:.2f}" if pct else f"{v:.4g}"


def write_run_report(workdir: str) -> str:
    """Writes ``report.md``, ``curves.png``, ``correlations.png`` in ``workdir``; returns the md path."""
    plt = _plt()
    summary, rows = _load(workdir)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    x, y = _series(rows, "train/loss")
    axes[0].plot(x, y, lw=1, label="total")
    if summary.get("mfd_weight", 0) > 0:
        xc, yc = _series(rows, "train/cls_loss")
        axes[0].plot(xc, yc, lw=1, label="classification")
        axes[0].legend()
    axes[0].set(title="train loss", xlabel="epoch", yscale="log" if len(y) and
                (y > 0).all() else "linear")
    x, y = _series(rows, "test/accuracy")
    axes[1].plot(x, 100 * y, marker="o")
    axes[1].set(title="test top-1 accuracy (%)", xlabel="epoch")
    x, y = _series(rows, "test/loss")
    axes[2].plot(x, y, marker="o")
    axes[2].set(title="test cross entropy", xlabel="epoch")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(summary.get("name", ""))
    fig.tight_layout()
    _save_png(fig, os.path.join(workdir, "curves.png"))
    plt.close(fig)

    corr = _correlations(summary)
    if corr:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.bar(np.arange(len(corr)), corr)
        ax.set(title="mean |correlation| per sown map (fixed test batch)",
               xlabel="map (network order)", ylabel="mean |F_ij|, i != j")
        ax.set_xticks(np.arange(len(corr)))
        ax.set_xticklabels(_map_names(summary, len(corr)), rotation=30, ha="right")
        fig.tight_layout()
        _save_png(fig, os.path.join(workdir, "correlations.png"))
        plt.close(fig)

    final = summary.get("final", {})
    lines = [
        f"# Run `{summary.get('name')}`",
        "",
        summary.get("description") or "",
        "",
        "| field | value |",
        "|---|---|",
        f"| dataset | {summary['dataset']} ({summary['num_train']} train / "
        f"{summary['num_test']} test) |",
        f"| model | {summary['model']} ({summary['param_count']:,} parameters) |",
        f"| loss | {summary['loss']}"
        + (f" + {summary['mfd_weight']:g} x MFD({summary['mfd_features']})"
           if summary["mfd_weight"] > 0 else "") + " |",
        f"| steps / epochs | {summary['steps']} / {summary['epochs']:.2f} |",
        f"| final test top-1 (%) | {_fmt(final.get('test/accuracy'), True)} |",
        f"| best test top-1 (%) | {_fmt(summary.get('best_test_accuracy'), True)} |",
    ]
    if isinstance(summary.get("best_step"), int):
        lines.append(f"| best at epoch | "
                     f"{summary['best_step'] / (summary.get('steps_per_epoch') or 1):g} |")
    if "test/top5" in final:
        lines.append(f"| final test top-5 (%) | {_fmt(final['test/top5'], True)} |")
    if "val/accuracy" in final:
        lines.append(f"| final validation top-1 (%) ({summary.get('num_val')} held-out "
                     f"training images) | {_fmt(final['val/accuracy'], True)} |")
        lines.append(f"| best validation top-1 (%) (the best checkpoint) | "
                     f"{_fmt(summary.get('best_val_accuracy'), True)} |")
    lines += [
        f"| wall time (s) | {summary['wall_seconds']:.1f}"
        + (f" ({summary['segments']} segments: resumed {summary['segments'] - 1}x)"
           if summary.get("segments", 1) > 1 else "") + " |",
        f"| train images/s (last window) | {_fmt(summary.get('train_images_per_sec_last'))} |",
        f"| devices / processes | {summary['devices']} / {summary['processes']} |",
        f"| status | {summary['status']} |",
        "",
        "![curves](curves.png)",
        "",
    ]
    if corr:
        lines += [f"## {_CORR_TITLE}", "",
                  "| " + " | ".join(_map_names(summary, len(corr))) + " |",
                  "|" + "---|" * len(corr),
                  "| " + " | ".join(f"{c:.3f}" for c in corr) + " |", "",
                  "![correlations](correlations.png)", ""]
    path = os.path.join(workdir, "report.md")
    atomic_write(path, "\n".join(lines))
    return path


def write_comparison_report(run_dirs: Sequence[str], out_dir: str, *, title: str = "Comparison"
                            ) -> str:
    """One report with several runs side by side; returns the md path."""
    plt = _plt()
    runs = [(os.path.basename(os.path.normpath(d)),) + _load(d) for d in run_dirs]
    os.makedirs(out_dir, exist_ok=True)

    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    for name, _, rows in runs:
        x, y = _series(rows, "train/cls_loss")
        if not len(y):
            x, y = _series(rows, "train/loss")
        axes[0].plot(x, y, lw=1, label=name)
        x, y = _series(rows, "test/accuracy")
        axes[1].plot(x, 100 * y, marker="o", label=name)
    # The classification term only: the totals of runs with and without MFD differ by
    # lambda * L_MFD and are not comparable.
    axes[0].set(title="train classification loss", xlabel="epoch")
    axes[1].set(title="test top-1 accuracy (%)", xlabel="epoch")
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # runs without points add no artists
            ax.legend()
    fig.tight_layout()
    _save_png(fig, os.path.join(out_dir, "comparison_curves.png"))
    plt.close(fig)

    corrs = [(name, _correlations(s)) for name, s, _ in runs]
    n_maps = max((len(c) for _, c in corrs), default=0)
    if n_maps:
        fig, ax = plt.subplots(figsize=(7, 3.8))
        width = 0.8 / len(corrs)
        for i, (name, c) in enumerate(corrs):
            ax.bar(np.arange(len(c)) + i * width, c, width, label=name)
        ax.set(title="mean |correlation| per map", xlabel="map (network order)",
               ylabel="mean |F_ij|, i != j")
        ax.set_xticks(np.arange(n_maps) + 0.4 - width / 2)
        longest = max(corrs, key=lambda nc: len(nc[1]))[0]
        ax.set_xticklabels(_map_names(next(s for nm, s, _ in runs if nm == longest), n_maps),
                           rotation=30, ha="right")
        if ax.get_legend_handles_labels()[0]:  # runs without points add no artists
            ax.legend()
        fig.tight_layout()
        _save_png(fig, os.path.join(out_dir, "comparison_correlations.png"))
        plt.close(fig)

    lines = [f"# {title}", "",
             "| run | loss | MFD | final top-1 (%) | best top-1 (%) | epochs | wall (s) | img/s |",
             "|---|---|---|---|---|---|---|---|"]
    for name, s, _ in runs:
        mfd = f"{s['mfd_weight']:g} x {s['mfd_features']}" if s["mfd_weight"] > 0 else "off"
        lines.append(
            f"| [{name}]({os.path.relpath(os.path.join(s['workdir'], 'report.md'), out_dir)}) "
            f"| {s['loss']} | {mfd} | {_fmt(s['final'].get('test/accuracy'), True)} "
            f"| {_fmt(s.get('best_test_accuracy'), True)} | {s['epochs']:.2f} "
            f"| {s['wall_seconds']:.0f} | {_fmt(s.get('train_images_per_sec_last'))} |")
    lines += ["", "![curves](comparison_curves.png)", ""]
    if n_maps:
        longest = max(corrs, key=lambda nc: len(nc[1]))[0]
        names = _map_names(next(s for nm, s, _ in runs if nm == longest), n_maps)
        lines += [f"## {_CORR_TITLE}", "",
                  "| run | " + " | ".join(names) + " |",
                  "|---|" + "---|" * n_maps]
        for name, c in corrs:
            cells = [f"{v:.3f}" for v in c] + [""] * (n_maps - len(c))
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += ["", "![correlations](comparison_correlations.png)", ""]
    path = os.path.join(out_dir, "report.md")
    atomic_write(path, "\n".join(lines))
    return path


def results_table(run_dirs: Sequence[str]) -> str:
    """A short markdown table of finished runs: final and best top-1, epochs, wall time."""
    lines = ["| run | final top-1 (%) | best top-1 (%) | best at epoch | epochs | wall (s) |",
             "|---|---|---|---|---|---|"]
    for d in run_dirs:
        s, _ = _load(d)
        at = s.get("best_step")
        at = f"{at / (s.get('steps_per_epoch') or 1):g}" if isinstance(at, int) else "n/a"
        lines.append(f"| {s.get('name')} | {_fmt(s['final'].get('test/accuracy'), True)} "
                     f"| {_fmt(s.get('best_test_accuracy'), True)} | {at} "
                     f"| {s['epochs']:.2f} | {s['wall_seconds']:.0f} |")
    return "\n".join(lines)
