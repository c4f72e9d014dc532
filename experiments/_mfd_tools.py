"""Analyses and figures of the MFD paper's scripts (Zhu, Wang, Zu, Liu, "Multi-stage feature
decorrelation constraints for improving CNN classification performance").

* :func:`stage_maps`: a finished run's sown feature maps on its first test images;
* :func:`feature_grid` (Figures 1/4/5: the first 64 channel maps of one stage for one test
  image, softmax beside softmax + MFD) and :func:`correlation_heatmaps` (per-stage
  channel x channel |Pearson| matrices);
* :func:`cost_analysis` (Table VII): time per epoch from a run's own training log, and the
  peak memory of its train step measured in a fresh process (this file run as a script:
  ``python experiments/_mfd_tools.py probe RUN_DIR``), because a process's peak (device
  ``memory_stats()["peak_bytes_in_use"]`` on an accelerator, ``ru_maxrss`` on CPU) never
  goes down, so rows trained one after another in the runner's process would share it;
* :func:`ratio_section`: Table VII's "+MFD / softmax" ratios beside the paper's.
"""

from __future__ import annotations

import functools
import json
import math
import os
import subprocess
import sys
from typing import Sequence

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


# --------------------------------------------------------------------------- feature maps


@functools.lru_cache(maxsize=4)

def _write_png(pyplot, fig, path: str, *, dpi: int) -> None:
    """A tight PNG through the run directory's one writer (never through a link)."""
    import io

    from mfdjax.train.rundir import atomic_write

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    pyplot.close(fig)
    atomic_write(path, buf.getvalue())

def stage_maps(run_dir: str, n_images: int, *, level: str = "stages") -> tuple[list, list]:
    """``(names, maps)``: the maps a finished run sows at ``level`` on its first test images.

    The newest checkpoint is restored (:func:`mfdjax.train.loop.restore_run`); the model
    runs in inference mode (BatchNorm running averages) on the first ``n_images`` test
    images. ``maps`` are float32 NumPy arrays (n, ..., C) in network order. Cached per
    ``(run_dir, n_images, level)``: the figures of one script share one restore.
    """
    import jax

    from mfdjax.models.common import COLLECTION, collect_features, feature_names
    from mfdjax.train.loop import restore_run
    from mfdjax.train.step import _prepare, _variables

    run = restore_run(run_dir)
    config, state, feed = run["config"], run["state"], run["feed"]
    n = max(2, min(int(n_images), feed.num_test))
    images = feed.fixed_images(n)
    state = jax.device_get(state)

    @jax.jit
    def apply(params, batch_stats, imgs):
        x = _prepare(config, imgs, None, run["mean"], run["std"], train=False)
        _, upd = state.apply_fn(_variables(params, batch_stats), x, train=False,
                                features=level, mutable=[COLLECTION])
        return upd.get(COLLECTION, {})

    sown = apply(state.params, state.batch_stats, images)
    names = feature_names(sown)
    maps = [np.asarray(m, np.float32) for m in collect_features(sown)]
    return names, maps


def _first_run(ctx: dict, label: str) -> str | None:
    from _figures import run_dirs

    dirs = run_dirs(ctx, label)
    return dirs[0] if dirs else None


def _n_images(run_dir: str, smoke: bool) -> int:
    """The run's correlation batch (``correlation.batch_size`` first test images; 64 smoke)."""
    if smoke:
        return 64
    with open(os.path.join(run_dir, "config.json")) as f:
        return int(json.load(f).get("correlation", {}).get("batch_size", 256))


def feature_grid(labels: Sequence[str], *, stage: int, channels: int = 64,
                 names: dict | None = None, image_index: int = 0):
    """Figures 1/4/5: the first ``channels`` maps of stage ``stage`` for one test image.

    One panel per row label (the seed-0 run), channels on an 8-column grid, each map
    scaled to its own [min, max]; a map that is zero everywhere is drawn black and
    counted in the panel title (the paper notes that MFD training makes more of them).
    """

    def draw(ctx: dict, path: str) -> None:
        panels = []
        for label in labels:
            d = _first_run(ctx, label)
            if d is None:
                continue
            map_names, maps = stage_maps(d, max(image_index + 1,
                                                _n_images(d, ctx.get("smoke", False))))
            if stage >= len(maps):
                raise ValueError(f"{label}: the run sows {len(maps)} stage maps, no stage "
                                 f"{stage}.")
            m = maps[stage][image_index]
            if m.ndim != 3:
                raise ValueError(f"{label}: stage {stage} is not an (H, W, C) map "
                                 f"(shape {m.shape}); feature grids need a CNN.")
            panels.append((label, map_names[stage], m[..., :channels]))
        if not panels:
            return
        from _figures import plt

        p = plt()
        cols = 8
        rows = int(math.ceil(max(pm.shape[-1] for _, _, pm in panels) / cols))
        fig = p.figure(figsize=(4.2 * len(panels), 4.2 * rows / cols + 0.6))
        outer = fig.add_gridspec(1, len(panels), wspace=0.08)
        for k, (label, map_name, m) in enumerate(panels):
            inner = outer[k].subgridspec(rows, cols, wspace=0.04, hspace=0.04)
            zero = int(np.sum(np.all(m == 0, axis=(0, 1))))
            for c in range(m.shape[-1]):
                ax = fig.add_subplot(inner[c // cols, c % cols])
                x = m[..., c]
                lo, hi = float(x.min()), float(x.max())
                x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
                ax.imshow(x, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if c == 0:
                    ax.set_title(f"{(names or {}).get(label, label)}: {map_name} (stage "
                                 f"{stage}), {m.shape[-1]} channels, {zero} all-zero",
                                 fontsize=7, loc="left")
        _write_png(p, fig, path, dpi=110)

    return draw


def correlation_matrices(run_dir: str, n_images: int) -> tuple[list, list]:
    """``(names, [|F| (C, C)])``: per-stage absolute channel Pearson matrices (eq. 6)."""
    import jax.numpy as jnp

    from mfdjax.losses.mfd import feature_correlation

    names, maps = stage_maps(run_dir, n_images)
    return names, [np.abs(np.asarray(feature_correlation(jnp.asarray(m)))) for m in maps]


def correlation_heatmaps(labels: Sequence[str], *, names: dict | None = None,
                         max_channels: int = 256):
    """Per-stage |correlation| matrices (channels x channels), one row of panels per label.

    Computed on the run's correlation batch (``correlation.batch_size`` first test images;
    64 with --smoke), in inference mode; the diagonal is 1 for live channels and 0 for
    dead ones. Stages wider than ``max_channels`` show their first ``max_channels``.
    """

    def draw(ctx: dict, path: str) -> None:
        data = []
        for label in labels:
            d = _first_run(ctx, label)
            if d is None:
                continue
            n = _n_images(d, ctx.get("smoke", False))
            map_names, mats = correlation_matrices(d, n)
            data.append((label, map_names, mats, n))
        if not data:
            return
        from _figures import plt

        p = plt()
        k = max(len(m) for _, _, m, _ in data)
        fig, axes = p.subplots(len(data), k, figsize=(2.3 * k, 2.4 * len(data)),
                               squeeze=False)
        im = None
        for i, (label, map_names, mats, _) in enumerate(data):
            for j in range(k):
                ax = axes[i, j]
                ax.set_xticks([])
                ax.set_yticks([])
                if j >= len(mats):
                    ax.axis("off")
                    continue
                m = mats[j][:max_channels, :max_channels]
                off = mats[j][~np.eye(len(mats[j]), dtype=bool)]
                im = ax.imshow(m, cmap="magma", vmin=0, vmax=1, interpolation="nearest")
                ax.set_title(f"stage {j} ({len(mats[j])} ch)\nmean off-diag "
                             f"{off.mean():.3f}", fontsize=7)
                if j == 0:
                    ax.set_ylabel((names or {}).get(label, label), fontsize=8)
        if im is not None:
            fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, label="|correlation|")
        _write_png(p, fig, path, dpi=100)

    return draw


# --------------------------------------------------------------------------- Table VII


def epoch_seconds_from_log(run_dir: str) -> dict:
    """Training time per epoch from a run's metrics.jsonl.

    Every logged training window records its images/s; its seconds per step is
    ``batch / images_per_sec``. The first window of a run holds the compilation and a
    window that follows an evaluation holds it too, so the estimate is the MEDIAN
    seconds per step over the windows after the first, times the steps per epoch
    (data feeding and the host loop included, evaluation excluded).
    """
    from mfdjax.train.metrics import read_jsonl

    with open(os.path.join(run_dir, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
    gbs = int(config["batch_size"])
    rows = [r for r in read_jsonl(os.path.join(run_dir, "metrics.jsonl"))
            if "train/loss" in r and r.get("train/images_per_sec")]
    per_step = [gbs / float(r["train/images_per_sec"]) for r in rows]
    steady = per_step[1:] or per_step
    if not steady:
        return {}
    s = float(np.median(steady))
    return {"step_ms": 1000.0 * s, "epoch_seconds": s * int(summary["steps_per_epoch"]),
            "timing_windows": len(steady)}


def probe(run_dir: str, steps: int) -> dict:
    """Peak memory and step time of a run's train step, in THIS (fresh) process."""
    import resource
    import time

    import jax
    import ml_collections

    from mfdjax.train import mesh as mesh_lib
    from mfdjax.train.loop import _setup

    with open(os.path.join(run_dir, "config.json")) as f:
        config = ml_collections.ConfigDict(json.load(f))
    env = _setup(config)
    state, step_fn, feed, mesh = env["state"], env["train_step"], env["feed"], env["mesh"]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    batches = feed.train_batches(0, 0, env["batch_size"])
    times = []
    for i in range(steps + 2):          # two untimed: compilation, then one warm step
        local = next(batches)
        batch = mesh_lib.global_batch(local, mesh)
        t0 = time.perf_counter()
        state, metrics = step_fn(state, batch)
        jax.block_until_ready((state, metrics))
        if i >= 2:
            times.append(time.perf_counter() - t0)
    out = {"probe_steps": len(times), "probe_step_ms": 1000.0 * float(np.median(times)),
           "backend": jax.default_backend()}
    # XLA's own account of the compiled step (the same on every backend): arguments +
    # outputs + temporaries - donated (aliased) buffers. On CPU the process's peak RSS is
    # set by data loading and compilation, so this is the informative per-step figure there.
    try:
        mem = step_fn.lower(state, batch).compile().memory_analysis()
        out["xla_step_mib"] = (mem.argument_size_in_bytes + mem.output_size_in_bytes
                               + mem.temp_size_in_bytes - mem.alias_size_in_bytes) / 2**20
        out["xla_temp_mib"] = mem.temp_size_in_bytes / 2**20
    except Exception:  # noqa: BLE001 -- not every backend reports it
        pass
    stats = None
    try:
        stats = jax.local_devices()[0].memory_stats()
    except Exception:  # noqa: BLE001 -- CPU devices have no memory stats
        stats = None
    if stats and "peak_bytes_in_use" in stats:
        out.update(peak_mib=stats["peak_bytes_in_use"] / 2**20, memory_kind="device peak "
                   "bytes in use (jax memory_stats)")
    else:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        out.update(peak_mib=rss / 2**20, rss_before_steps_mib=rss_before / 2**20,
                   memory_kind="peak RSS of the process (resource.getrusage)")
    return out


def cost_analysis(run_dir: str, smoke: bool) -> dict:
    """Table VII's measurements of a finished run: epoch time (log) + peak memory (probe)."""
    out = epoch_seconds_from_log(run_dir)
    env = dict(os.environ)
    # The runner's process may hold most of the accelerator's memory: let the probe
    # allocate on demand instead of pre-allocating a fraction of the device.
    env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    cmd = [sys.executable, os.path.abspath(__file__), "probe", run_dir,
           "--steps", "3" if smoke else "20"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if res.returncode != 0:
        raise RuntimeError(f"memory probe failed ({' '.join(cmd)}):\n{res.stderr[-2000:]}")
    out.update(json.loads(res.stdout.strip().splitlines()[-1]))
    return out


def ratio_section(title: str, pairs: Sequence[tuple[str, str, str]],
                  metrics: Sequence[tuple[str, str]], paper: dict) -> callable:
    """A results.md section: ours (+MFD / softmax) - 1 per pair and metric, beside the paper's.

    ``pairs``: (name, softmax label, +MFD label); ``metrics``: (metric key, heading);
    ``paper``: {(name, metric key): paper ratio - 1 in %} (missing: "n/a").
    """

    def section(res: dict) -> str:
        rows = {r["label"]: r for r in res["rows"]}

        def mean(label, key):
            r = rows.get(label)
            if r is None:
                return float("nan")
            vals = r["values"] if r["metric"] == key else (
                r.get("extra", {}).get(key, {}).get("values", []))
            return float(np.mean(vals)) if vals else float("nan")

        head = "| | " + " | ".join(f"{h}: ours | {h}: paper" for _, h in metrics) + " |"
        lines = [f"## {title}", "", "Change with MFD, (softmax + MFD) / softmax - 1, from "
                 "the seed means.", "", head, "|---" * (1 + 2 * len(metrics)) + "|"]
        for name, a, b in pairs:
            cells = []
            for key, _ in metrics:
                ma, mb = mean(a, key), mean(b, key)
                ok = math.isfinite(ma) and math.isfinite(mb) and ma != 0
                ours = f"{100 * (mb / ma - 1):+.1f} %" if ok else "–"
                p = paper.get((name, key))
                cells += [ours, "n/a" if p is None else f"{p:+.2f} %"]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    return section


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Memory / step-time probe of a run's train step "
                                 "(Table VII of the MFD paper), in a fresh process.")
    ap.add_argument("cmd", choices=["probe"])
    ap.add_argument("run_dir")
    ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args()
    if a.steps < 1:
        ap.error("--steps must be >= 1")
    cache = os.environ.get("MFDJAX_COMPILE_CACHE", "")
    if cache:   # the runner's persistent compilation cache: the train step is compiled already
        import jax

        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    print(json.dumps(probe(a.run_dir, a.steps)))
