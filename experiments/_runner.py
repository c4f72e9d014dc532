"""The shared runner of every ``experiments/`` script: rows x seeds, resumable, paper-shaped.

A script declares an :class:`Experiment` (its rows, the comparisons it tests, its
figures) and calls :func:`main`. Every script has the same command line::

    python experiments/<script>.py [--seeds N] [--smoke] [--workdir DIR]
        [--data-dir NAME=PATH ...] [--only LABEL ...] [--list] [key=value ...]

* ``--seeds`` (default 3, the papers' "average of three experiments") trains each row
  with ``seed = 0 .. N-1`` into ``DIR/<label>/seed<s>``;
* ``--data-dir cifar10=/data/c10 --data-dir facescrub=/data/fs`` gives each dataset
  of the table its own root, so one invocation runs a whole table;
* ``--only`` selects rows (an unknown label is an error listing the valid ones);
* ``--list`` prints every row with its paper number and its command;
* ``--smoke`` runs every row on a tiny real dataset (a Fashion-MNIST slice resized to
  the row's input size), the tiny width of the row's network family, a few dozen
  steps, one seed: the whole pipeline, from config to results.md and PNGs;
* trailing ``key=value`` overrides apply to every run;
* ``--jobs`` (default auto) trains that many runs at once, each in its own process
  pinned to one core: on a CPU-only machine auto means one per core, which gets more
  images/s out of the machine than one run on every core (mfdjax.train.parallel);
  each run's recorded command then starts with ``taskset -c CORE``, the condition
  under which it reproduces bit for bit.

After EVERY finished run the runner rewrites ``DIR/results.json`` and
``DIR/results.md``; a rerun skips finished runs and resumes unfinished ones from
their checkpoints; a failing run is recorded with its error and the next one
starts. ``results.json`` holds ``title, commit, machine, command, rows, comparisons,
figures``; each row ``table, row, column, metric, paper, seeds, values, mean, std,
n, runs: [{seed, workdir, command}]``; each comparison ``table, a, b, diff_mean,
p_value, verdict`` with the verdict "shown" / "not shown" / "contradicted" from a
Welch t-test (two-sided, alpha = 0.05; fewer than two values on a side: "not shown").
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
import traceback
from typing import Any, Callable, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

ALPHA = 0.05
SMOKE_STEPS = 16

# The tiny width of each network family, for --smoke.
MINI = {
    "resnet18": "resnet_mini", "resnet34": "resnet_mini", "resnet_cifar_small": "resnet_mini",
    "resnet50": "resnet_bottleneck_mini", "resnet101": "resnet_bottleneck_mini",
    "resnet152": "resnet_bottleneck_mini", "resnext50_32x4d": "resnext_mini",
    "densenet121": "densenet_mini", "mobilenet_v2": "mobilenet_v2_mini",
    "vit_b16": "vit_mini", "swin_b": "swin_mini", "lsoftmax_cnn": "lsoftmax_cnn_mini",
}


# --------------------------------------------------------------------------- declarations


@dataclasses.dataclass(frozen=True)
class Row:
    """One cell of a paper table: a config, the metric read from its runs, the paper's number.

    Attributes:
      label: unique name (``--only``, the run folder).
      spec: ``mfdjax.configs.load_config`` spec, e.g. ``"mfd_cifar:resnet50,cifar100,mfd"``.
      table, row, column: where the cell sits in the paper's table.
      paper: the paper's number for the cell (None: not reported).
      overrides: ``key=value`` strings applied after the spec.
      data: name of the data root the row reads (``--data-dir NAME=PATH``);
        "" = the config's default (Fashion-MNIST from Debian needs none).
      metric: key of a run's metrics (see :func:`run_metrics`): ``top1`` (final test
        top-1 in %), ``best_top1``, ``corr/<i>``, ``wall_seconds``, or a key an
        ``analysis`` adds.
      input_size: the row's image side (for --smoke's resize; 0 = keep 28).
      analysis: optional ``f(run_dir, smoke) -> dict`` of extra metrics computed from
        the finished run (cached in ``run_dir/analysis.json``).
      smoke_overrides: extra overrides only for --smoke.
      lower_is_better: the metric's direction (for comparisons).
      runs_of: label of another row whose runs this row reads (with its own
        ``metric`` and ``paper``) instead of training: e.g. the per-stage correlation
        cells of a table drawn from the runs of an accuracy cell. It trains nothing.
    """

    label: str
    spec: str
    table: str
    row: str
    column: str
    paper: float | None = None
    overrides: tuple[str, ...] = ()
    data: str = ""
    metric: str = "top1"
    input_size: int = 0
    analysis: Callable[[str, bool], dict] | None = None
    smoke_overrides: tuple[str, ...] = ()
    lower_is_better: bool = False
    extra_metrics: tuple[str, ...] = ()
    # Data roots the row's ``analysis`` reads (e.g. a verification set): named in
    # --data-dir like ``data``; the analysis is then called as
    # ``f(run_dir, smoke, {name: path})`` with the roots given.
    analysis_data: tuple[str, ...] = ()
    runs_of: str = ""


@dataclasses.dataclass(frozen=True)
class Comparison:
    """"b beats a" on ``metric`` (a Welch t-test over the seeds of the two rows)."""

    table: str
    a: str
    b: str
    metric: str = ""          # "" = the rows' own metric
    claim: str = ""           # what "shown" would mean, for results.md
    lower_is_better: bool | None = None   # None: the b row's direction
    # The a side's metric when it differs from b's ("" = ``metric``): e.g. two classifiers
    # read from the same runs (a GDA cell against a cosine cell).
    metric_a: str = ""


@dataclasses.dataclass(frozen=True)
class Figure:
    """A PNG drawn from the finished runs: ``draw(ctx, path)``; ctx has rows, runs, metrics."""

    name: str
    caption: str
    draw: Callable[[dict, str], None]
    differs: str = ""


@dataclasses.dataclass
class Experiment:
    title: str
    script: str
    rows: Sequence[Row]
    comparisons: Sequence[Comparison] = ()
    figures: Sequence[Figure] = ()
    default_workdir: str = ""
    notes: str = ""
    needs: str = ""           # what data the full-scale rows need, for --list
    # Extra results.md sections: f(results dict) -> markdown (e.g. a ratio beside the paper's).
    sections: Sequence[Callable[[dict], str]] = ()
    # The rows the CI smoke test trains (every figure, analysis and section kind of the
    # script at least once); () = every row. A manual `--smoke` always runs every row,
    # and so does the smoke test with MFDJAX_SMOKE_PROFILE=full.
    ci_rows: Sequence[str] = ()

    def __post_init__(self):
        labels = [r.label for r in self.rows]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ValueError(f"{self.script}: duplicate row labels {dup}.")
        trained = {r.label for r in self.rows if not r.runs_of}
        for r in self.rows:
            if r.runs_of and r.runs_of not in trained:
                raise ValueError(f"{self.script}: row {r.label!r} reads the runs of "
                                 f"{r.runs_of!r}, which is not a training row of this script.")
        for c in self.comparisons:
            for lab in (c.a, c.b):
                if lab not in labels:
                    raise ValueError(f"{self.script}: comparison names unknown row {lab!r}.")
        bad = [lab for lab in self.ci_rows if lab not in labels]
        if bad:
            raise ValueError(f"{self.script}: ci_rows names unknown rows {bad}.")


# --------------------------------------------------------------------------- statistics


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1; NaN for fewer than two values)."""
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    if not v:
        return float("nan"), float("nan")
    m = sum(v) / len(v)
    if len(v) < 2:
        return m, float("nan")
    return m, math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))


def welch(a: Sequence[float], b: Sequence[float], *, lower_is_better: bool = False
          ) -> tuple[float, float, str]:
    """``(mean(b) - mean(a), two-sided Welch p-value, verdict)`` for the claim "b beats a".

    Verdict: "shown" if p < 0.05 and b is better, "contradicted" if p < 0.05 and b
    is worse, otherwise "not shown" (also with fewer than two values per side). Two
    samples without any spread and different means give p = 0.
    """
    a = [float(x) for x in a if x is not None and math.isfinite(float(x))]
    b = [float(x) for x in b if x is not None and math.isfinite(float(x))]
    if not a or not b:
        return float("nan"), float("nan"), "not shown"
    diff = sum(b) / len(b) - sum(a) / len(a)
    if len(a) < 2 or len(b) < 2:
        return diff, float("nan"), "not shown"
    from scipy import stats

    va, vb = mean_std(a)[1] ** 2, mean_std(b)[1] ** 2
    if va == 0.0 and vb == 0.0:
        p = 1.0 if diff == 0.0 else 0.0
    else:
        p = float(stats.ttest_ind(b, a, equal_var=False).pvalue)
    better = diff < 0 if lower_is_better else diff > 0
    if p < ALPHA and diff != 0.0:
        verdict = "shown" if better else "contradicted"
    else:
        verdict = "not shown"
    return diff, p, verdict


# --------------------------------------------------------------------------- run plumbing


def git_commit() -> str:
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no",
                                "--", "mfdjax", "experiments"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (rev or "unknown") + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> dict:
    import jax

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    devices = jax.devices()
    versions = {}
    for mod in ("jax", "jaxlib", "flax", "optax", "orbax.checkpoint", "numpy"):
        try:
            versions[mod] = __import__(mod, fromlist=["__version__"]).__version__
        except (ImportError, AttributeError):
            pass
    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpu": cpu, "cpu_count": os.cpu_count(),
            "backend": jax.default_backend(), "devices": len(devices),
            "device_kind": devices[0].device_kind, "versions": versions}


def smoke_overrides(config, row: Row, exp: "Experiment | None" = None) -> list[str]:
    """The --smoke edition of a row: Fashion-MNIST slice, tiny model, a few dozen steps."""
    size = int(row.input_size or 0)
    model = MINI.get(config.model.name, config.model.name)
    o = [f"dataset.name=fashion_mnist", "dataset.data_dir=None", "dataset.options={}",
         "dataset.streaming=False", "dataset.train_transform=''",
         "dataset.eval_transform=''", "dataset.train_subset=512", "dataset.test_subset=200",
         f"dataset.resize={size if size and size != 28 else 0}",
         f"model.name={model}", "batch_size=32", f"max_steps={SMOKE_STEPS}",
         "eval_batch_size=100", "log_every_steps=8", "correlation.batch_size=64",
         "checkpoint.every_steps=0", "checkpoint.async_save=False", "progress_bar=False",
         "prng_impl=rbg", "num_epochs=1", "optimizer.warmup_epochs=0.0"]
    readers = [row] + [r for r in (exp.rows if exp is not None else ()) if
                       getattr(r, "runs_of", "") == row.label]
    wants_corr = exp is None or any(
        m.startswith("corr") for r in readers for m in (r.metric,) + tuple(r.extra_metrics))
    if not wants_corr and row.analysis is None:
        o.append("correlation.enabled=False")   # one compile less per smoke row
    if config.dataset.get("classes"):
        # Fashion-MNIST has 10 classes: keep the first k of them.
        o.append(f"dataset.classes={tuple(range(min(len(config.dataset.classes), 10)))}")
    if "dim" in config.model.head_kwargs:
        o.append(f"model.head_kwargs.dim={min(int(config.model.head_kwargs.dim), 16)}")
    if config.model.get("kwargs") and "pretrained" in config.model.kwargs:
        o.append("model.kwargs.pretrained=''")
    if config.loss.get("switch_steps"):
        o.append(f"loss.switch_steps={SMOKE_STEPS // 2}")
    return o + list(row.smoke_overrides)


def _smoke_key(config) -> str:
    """A config's identity for --smoke de-duplication (data roots and texts left out)."""
    d = json.loads(config.to_json_best_effort())
    d.pop("description", None)
    d.get("dataset", {}).pop("data_dir", None)
    return json.dumps(d, sort_keys=True)


def study_compile_cache(workdir: str, cores: int) -> str:
    """The study's own compilation cache: every seed of a row compiles the same program.

    One folder per number of cores a run may use, since XLA:CPU compiles for them: a
    pinned worker's program is never reused by a run on every core, or the other way."""
    return os.path.join(workdir, ".compile_cache", f"{cores}cores")


def enable_compile_cache(path: str) -> None:
    """JAX's persistent compilation cache (rows and scripts with the same program share it)."""
    import jax

    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def _portable(arg: str) -> str:
    """A command-line argument with the checkout's absolute path made relative; any other
    absolute path (a workdir next to the checkout) relative to the working directory."""
    for base in {os.getcwd(), ROOT}:
        arg = arg.replace(base.rstrip(os.sep) + os.sep, "")
    head, sep, tail = arg.rpartition("=")
    path = tail if sep else arg
    if os.path.isabs(path):
        path = os.path.relpath(path, os.getcwd())
        arg = f"{head}={path}" if sep else path
    return arg


def _quote(s: str) -> str:
    return shlex.quote(s)


def run_metrics(summary: dict) -> dict:
    """The metrics every run has, from its summary.json."""
    final = summary.get("final", {})
    m = {"top1": 100.0 * final.get("test/accuracy", float("nan")),
         "best_top1": 100.0 * summary.get("best_test_accuracy", float("nan")),
         "wall_seconds": summary.get("wall_seconds", float("nan")),
         "images_per_sec": summary.get("train_images_per_sec_last", float("nan")),
         "test_loss": final.get("test/loss", float("nan"))}
    if "test/top5" in final:
        m["top5"] = 100.0 * final["test/top5"]
    if "val/accuracy" in final:   # runs with a held-out validation split
        m["val_top1"] = 100.0 * final["val/accuracy"]
        m["best_val_top1"] = 100.0 * summary.get("best_val_accuracy", float("nan"))
    for k, v in final.items():
        if k.startswith("correlation/"):
            m["corr/" + k.split("/", 1)[1]] = v
    return m


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(float(x))


# --------------------------------------------------------------------------- main


def parse_args(exp: Experiment, argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=f"python experiments/{exp.script}", description=exp.title,
        epilog="Rows: --list. Results: DIR/results.json and DIR/results.md.")
    p.add_argument("--seeds", type=int, default=3, help="seeds per row (default 3)")
    p.add_argument("--smoke", action="store_true",
                   help="every row on a tiny Fashion-MNIST slice, tiny model, one seed")
    p.add_argument("--workdir", default="", help=f"default runs/{exp.default_workdir}"
                   " (runs/smoke/... with --smoke)")
    p.add_argument("--data-dir", action="append", default=[], metavar="NAME=PATH",
                   help="data root of one dataset of the table, e.g. cifar100=/data/c100")
    p.add_argument("--only", nargs="+", default=[], metavar="LABEL",
                   help="run only these rows (labels from --list; commas also work)")
    p.add_argument("--list", action="store_true", help="print every row and exit")
    from mfdjax.train.parallel import jobs_option

    p.add_argument("--jobs", type=jobs_option, default="auto", metavar="N",
                   help="runs trained at once, each in its own process pinned to one core "
                        "(default auto: one per core on a CPU-only machine, 1 elsewhere "
                        "and with --smoke; 1: one after another in this process)")
    p.add_argument("--publish", default="", metavar="DIR",
                   help="also copy results.json, results.md and the PNGs to DIR after "
                        "every run (e.g. experiments/results/...; no checkpoints)")
    p.add_argument("overrides", nargs="*", help="key=value overrides of every run")
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.seeds < 1:
        p.error(f"--seeds must be >= 1, got {args.seeds}")
    labels = [r.label for r in exp.rows]
    only = [s for item in args.only for s in item.split(",") if s]
    unknown = [s for s in only if s not in labels]
    if unknown:
        p.error(f"unknown --only label(s) {unknown}; valid labels: {', '.join(labels)}")
    args.only = only
    roots = {}
    for item in args.data_dir:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            p.error(f"--data-dir takes NAME=PATH, got {item!r}")
        roots[name] = path
    needed = {r.data for r in exp.rows if r.data} | {
        n for r in exp.rows for n in r.analysis_data}
    bad = sorted(set(roots) - needed)
    if bad and not args.smoke:
        p.error(f"--data-dir names {bad} are not read by this table; it reads "
                f"{sorted(needed) or 'no named data root'}")
    args.roots = roots
    for o in args.overrides:
        if "=" not in o:
            p.error(f"override {o!r} must look like key.sub=value")
    if args.smoke:
        args.seeds = 1
    if not args.workdir:
        args.workdir = os.path.join("runs", "smoke" if args.smoke else "",
                                    exp.default_workdir or exp.script.removesuffix(".py"))
    return args


def _row_config(exp: Experiment, row: Row, seed: int, args) -> tuple[Any, list[str]]:
    from mfdjax.configs import apply_overrides, load_config

    config = load_config(row.spec)
    if len(config.comparison):
        raise ValueError(f"{row.label}: {row.spec!r} is a comparison config; rows must name "
                         "single runs.")
    overrides = list(row.overrides)
    if row.data and row.data in args.roots:
        overrides.append(f"dataset.data_dir={args.roots[row.data]}")
    overrides.append(f"seed={seed}")
    overrides += list(args.overrides)
    apply_overrides(config, overrides)
    if args.smoke:
        extra = smoke_overrides(config, row, exp)
        apply_overrides(config, extra)
        overrides += extra
    return config, overrides


def _command(row: Row, run_dir: str, overrides: Sequence[str]) -> str:
    return " ".join(["mfdjax", "train", "--config", _quote(row.spec), "--workdir",
                     _quote(run_dir)] + [_quote(o) for o in overrides])


def list_rows(exp: Experiment, args) -> None:
    print(f"{exp.title}\n")
    if exp.needs:
        print(f"data: {exp.needs}\n")
    for r in exp.rows:
        paper = "n/a" if r.paper is None else f"{r.paper:g}"
        where = " | ".join(x for x in (r.table, r.row, r.column) if x)
        data = f" --data-dir {r.data}=PATH" if r.data else ""
        data += "".join(f" --data-dir {n}=PATH" for n in r.analysis_data)
        if r.runs_of:
            print(f"{r.label}\n    {where}; {r.metric}; paper: {paper}\n"
                  f"    read from the runs of {r.runs_of} (no training of its own)")
            continue
        print(f"{r.label}\n    {where}; {r.metric}; paper: {paper}\n"
              f"    python experiments/{exp.script} --only {r.label}{data}\n"
              f"    = mfdjax train --config {_quote(r.spec)} "
              + " ".join(_quote(o) for o in r.overrides) + " seed=S")


class Runner:
    def __init__(self, exp: Experiment, args):
        self.exp, self.args = exp, args
        self.workdir = os.path.abspath(args.workdir)
        self.rows = [r for r in exp.rows if not args.only or r.label in args.only]
        # A row that reads another row's runs brings that row along.
        sources = {r.runs_of for r in self.rows if r.runs_of}
        self.rows = [r for r in exp.rows if r in self.rows or r.label in sources]
        self._source = {r.label: (r.runs_of or r.label) for r in exp.rows}
        self.seeds = list(range(args.seeds))
        self.records: dict[tuple[str, int], dict] = {}
        self._smoke_trained: dict[str, dict] = {}
        self.meta = {}
        self.command = " ".join(["python", f"experiments/{exp.script}"]
                                + [_quote(_portable(a)) for a in (sys.argv[1:])])

    # -- persistence ---------------------------------------------------------------

    def _run_dir(self, row: Row, seed: int) -> str:
        return os.path.join(self.workdir, row.label, f"seed{seed}")

    def _load_previous(self) -> None:
        path = os.path.join(self.workdir, "results.json")
        if not os.path.exists(path):
            return
        try:
            with open(path) as f:
                old = json.load(f)
        except (OSError, ValueError):
            return
        for r in old.get("rows", []):
            for run in r.get("runs", []):
                # Runs recorded before per-run commits were kept ran at the file's commit.
                run.setdefault("commit", old.get("commit"))
                run.setdefault("machine", (old.get("machine") or {}).get("cpu"))
                if run.get("status") == "done":
                    self.records[(r["label"], run["seed"])] = run

    def _done(self, row: Row, seed: int) -> dict | None:
        rec = self.records.get((row.label, seed))
        if rec and rec.get("status") == "done":
            return rec
        marker = os.path.join(self._run_dir(row, seed), "runner.json")
        if os.path.exists(marker):
            try:
                with open(marker) as f:
                    rec = json.load(f)
                if rec.get("status") == "done":
                    return rec
            except (OSError, ValueError):
                pass
        return None

    def run_one(self, row: Row, seed: int) -> dict:
        from mfdjax.train.loop import train_and_evaluate

        run_dir = self._run_dir(row, seed)
        rec = {"seed": seed, "workdir": os.path.relpath(run_dir, self.workdir),
               "commit": self.meta.get("commit"),
               "machine": (self.meta.get("machine") or {}).get("cpu")}
        t0 = time.time()
        try:
            config, overrides = _row_config(self.exp, row, seed, self.args)
            rec["command"] = _command(row, os.path.relpath(run_dir), overrides)
            from mfdjax.train.parallel import worker_core

            core = worker_core()
            if core is not None:
                # XLA compiles for the cores it may use, so the run reproduces bit for
                # bit under the same pinning (any single core).
                rec["command"] = f"taskset -c {core} " + rec["command"]
                rec["cores"] = 1
            if self.args.smoke:
                # Smoke runs map many rows (e.g. the CIFAR-10 and CIFAR-100 cells of a
                # network) onto the same tiny config: train each distinct config once.
                key = _smoke_key(config)
                twin = self._smoke_trained.get(key)
                if twin is not None and (row.analysis is None
                                         or row.analysis is twin.get("analysis")):
                    rec.update({k: v for k, v in twin.items()
                                if k in ("status", "metrics", "workdir")},
                               reused_from=twin["label"], finished=_now())
                    return rec
            print(f"=== {row.label} seed {seed} -> {run_dir}", flush=True)
            summary = train_and_evaluate(config, run_dir)
            if summary.get("status", "completed") != "completed":
                raise RuntimeError(f"run ended with status {summary.get('status')!r}")
            metrics = run_metrics(summary)
            if row.analysis is not None:
                metrics.update(self._analysis(row, run_dir))
            rec.update(status="done", metrics=metrics,
                       run_seconds=time.time() - t0, finished=_now())
            if self.args.smoke:
                self._smoke_trained[_smoke_key(config)] = {**rec, "label": row.label,
                                                           "analysis": row.analysis}
        except KeyboardInterrupt:
            raise
        except Exception as e:  # noqa: BLE001 -- recorded, and the next run starts
            from mfdjax.train.loop import Preempted

            if isinstance(e, Preempted):
                raise
            rec.update(status="failed", error=f"{type(e).__name__}: {e}",
                       traceback=traceback.format_exc(limit=6), finished=_now())
            print(f"!!! {row.label} seed {seed} failed: {type(e).__name__}: {e}",
                  file=sys.stderr, flush=True)
        os.makedirs(run_dir, exist_ok=True)
        with open(os.path.join(run_dir, "runner.json"), "w") as f:
            json.dump(rec, f, indent=2, default=_jsonable)
        return rec

    def _analysis(self, row: Row, run_dir: str) -> dict:
        path = os.path.join(run_dir, "analysis.json")
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
        if row.analysis_data:
            out = row.analysis(run_dir, self.args.smoke, {
                n: self.args.roots[n] for n in row.analysis_data if n in self.args.roots})
        else:
            out = row.analysis(run_dir, self.args.smoke)
        with open(path, "w") as f:
            json.dump(out, f, indent=2, default=_jsonable)
        return out

    # -- aggregation ---------------------------------------------------------------

    def metric_values(self, label: str, metric: str) -> list[float]:
        vals = []
        label = self._source.get(label, label)
        for seed in self.seeds:
            rec = self.records.get((label, seed))
            if rec and rec.get("status") == "done":
                v = rec.get("metrics", {}).get(metric)
                if _finite(v):
                    vals.append(float(v))
        return vals

    def results(self) -> dict:
        rows_out = []
        by_label = {r.label: r for r in self.exp.rows}
        for r in self.rows:
            vals = self.metric_values(r.label, r.metric)
            m, s = mean_std(vals)
            src = self._source[r.label]
            runs = [self.records[(src, sd)] for sd in self.seeds
                    if (src, sd) in self.records]
            extra = {}
            for k in r.extra_metrics:
                em, es = mean_std(self.metric_values(r.label, k))
                extra[k] = {"mean": em, "std": es, "values": self.metric_values(r.label, k)}
            rows_out.append({
                "label": r.label, "table": r.table, "row": r.row, "column": r.column,
                "metric": r.metric, "paper": r.paper, "spec": r.spec,
                "seeds": [rec["seed"] for rec in runs if rec.get("status") == "done"],
                "values": vals, "mean": m, "std": s, "n": len(vals),
                "diff_paper": (m - r.paper) if (r.paper is not None and vals) else None,
                "extra": extra, "runs_of": r.runs_of,
                "failed": [rec["seed"] for rec in runs if rec.get("status") == "failed"],
                "runs": runs})
        comps = []
        selected = {r.label for r in self.rows}
        for c in self.exp.comparisons:
            if c.a not in selected or c.b not in selected:
                continue
            ra, rb = by_label[c.a], by_label[c.b]
            metric = c.metric or rb.metric
            va = self.metric_values(c.a, c.metric_a or metric)
            vb = self.metric_values(c.b, metric)
            lower = rb.lower_is_better if c.lower_is_better is None else c.lower_is_better
            diff, p, verdict = welch(va, vb, lower_is_better=lower)
            comps.append({"table": c.table, "a": c.a, "b": c.b, "metric": metric,
                          "metric_a": c.metric_a or metric,
                          "claim": c.claim, "n_a": len(va), "n_b": len(vb),
                          "mean_a": mean_std(va)[0], "mean_b": mean_std(vb)[0],
                          "diff_mean": diff, "p_value": p, "test": "Welch t-test, two-sided",
                          "verdict": verdict})
        res = {"title": self.exp.title, "script": self.exp.script,
               "commit": self.meta.get("commit"), "machine": self.meta.get("machine"),
               "command": self.command, "smoke": bool(self.args.smoke),
               "seeds": self.seeds, "overrides": list(self.args.overrides),
               "data_dirs": self.args.roots, "updated": _now(), "notes": self.exp.notes,
               "rows": rows_out, "comparisons": comps,
               "figures": self.meta.get("figures", [])}
        sections = []
        for f in self.exp.sections:
            try:
                sections.append(f(res))
            except Exception as e:  # noqa: BLE001 -- a section never kills the results
                sections.append(f"(section {getattr(f, '__name__', f)} failed: "
                                f"{type(e).__name__}: {e})")
        res["sections"] = [t for t in sections if t]
        return res

    def write(self, *, figures: bool = False) -> dict:
        import jax

        if jax.process_index() != 0:
            return {}
        res = self.results()
        if figures:
            res["figures"] = self.meta["figures"] = self.draw_figures(res)
        os.makedirs(self.workdir, exist_ok=True)
        from mfdjax.train.rundir import atomic_write

        atomic_write(os.path.join(self.workdir, "results.json"),
                     json.dumps(res, indent=2, default=_jsonable, allow_nan=True))
        atomic_write(os.path.join(self.workdir, "results.md"), render_markdown(res))
        if self.args.publish:
            import glob

            os.makedirs(self.args.publish, exist_ok=True)
            for path in ["results.json", "results.md"] + [
                    os.path.basename(p) for p in glob.glob(os.path.join(self.workdir, "*.png"))]:
                with open(os.path.join(self.workdir, path), "rb") as f:
                    atomic_write(os.path.join(self.args.publish, path), f.read())
        return res

    def draw_figures(self, res: dict) -> list[dict]:
        out = []
        ctx = {"rows": {r["label"]: r for r in res["rows"]}, "runner": self,
               "workdir": self.workdir, "smoke": bool(self.args.smoke)}
        for fig in self.exp.figures:
            path = os.path.join(self.workdir, fig.name)
            entry = {"name": fig.name, "caption": fig.caption, "differs": fig.differs}
            try:
                fig.draw(ctx, path)
                entry["status"] = "drawn" if os.path.exists(path) else "no data"
            except Exception as e:  # noqa: BLE001 -- a figure never kills the results
                entry.update(status="failed", error=f"{type(e).__name__}: {e}")
                print(f"!!! figure {fig.name} failed: {e}", file=sys.stderr)
            out.append(entry)
        return out

    def pending(self) -> list[tuple[Row, int]]:
        """The runs still to train, seeds outer and rows inner (a partial study has
        balanced arms); finished ones are taken into the records."""
        todo = []
        for seed in self.seeds:
            for row in self.rows:
                if row.runs_of:
                    continue
                prev = self._done(row, seed)
                if prev is not None:
                    self.records[(row.label, seed)] = prev
                else:
                    todo.append((row, seed))
        return todo

    def jobs(self, n_runs: int) -> int:
        """--jobs resolved: parallel workers need a script file they can import."""
        from mfdjax.train import parallel

        if self.args.smoke or self.script_path() is None:
            return 1
        return parallel.parse_jobs(self.args.jobs, n_runs)

    def script_path(self) -> str | None:
        """The script run as ``__main__`` when it declares this experiment (workers
        import it); None otherwise (e.g. an Experiment built in a test: one process)."""
        main_mod = sys.modules.get("__main__")
        if main_mod is not None and getattr(main_mod, "__file__", None) and any(
                v is self.exp for v in vars(main_mod).values()):
            return os.path.abspath(main_mod.__file__)
        return None

    def run(self) -> int:
        from mfdjax.train import parallel

        self._load_previous()
        self.meta["commit"] = git_commit()
        self.meta["machine"] = machine()
        todo = self.pending()
        jobs = self.jobs(len(todo))
        failed = 0

        def done(i: int, rec: dict) -> None:
            nonlocal failed
            row, seed = todo[i]
            self.records[(row.label, seed)] = rec
            failed += rec["status"] != "done"
            self.write()

        if jobs > 1:
            print(f"{len(todo)} runs, {jobs} at a time (one process per core; --jobs 1 "
                  "trains them one after another)", flush=True)
            path, argv = self.script_path(), list(self.args.argv)
            parallel.run_all(_run_task, [(path, argv, row.label, seed, self.meta)
                                         for row, seed in todo], jobs=jobs, on_done=done)
        else:
            for i, (row, seed) in enumerate(todo):
                done(i, self.run_one(row, seed))
        self.write(figures=True)
        print(f"results: {os.path.join(self.workdir, 'results.md')}"
              + (f" ({failed} failed run(s), see results.json)" if failed else ""))
        return 1 if failed else 0


def _load_experiment(path: str) -> "Experiment":
    """The :class:`Experiment` declared by the script at ``path`` (imported, not run)."""
    import importlib.util

    here = os.path.dirname(os.path.abspath(path))
    if here not in sys.path:
        sys.path.insert(0, here)
    name = "_mfdjax_experiment_" + os.path.splitext(os.path.basename(path))[0]
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    found = [v for v in vars(sys.modules[name]).values() if isinstance(v, Experiment)]
    if len(found) != 1:
        raise ValueError(f"{path} declares {len(found)} Experiment objects; a worker needs "
                         "exactly one.")
    return found[0]


def _run_task(task) -> dict:
    """One run of a study in a worker of mfdjax.train.parallel (see Runner.run)."""
    path, argv, label, seed, meta = task
    exp = _load_experiment(path)
    runner = Runner(exp, parse_args(exp, argv))
    enable_compile_cache(os.environ.get("MFDJAX_COMPILE_CACHE", "") or study_compile_cache(
        runner.workdir, 1))
    runner.meta.update(meta)
    row = next(r for r in exp.rows if r.label == label)
    return runner.run_one(row, seed)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _jsonable(x):
    try:
        import numpy as np

        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, np.ndarray):
            return x.tolist()
    except ImportError:
        pass
    return str(x)


# --------------------------------------------------------------------------- markdown


def _fmt(x, digits=2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.{digits}f}"


def _digits(metric: str) -> int:
    return 3 if metric.startswith(("corr", "angle", "var")) else 2


def render_markdown(res: dict) -> str:
    lines = [f"# {res['title']}", ""]
    mach = res.get("machine") or {}
    lines += [f"- command: `{res['command']}`", f"- commit: `{res.get('commit')}`",
              f"- machine: {mach.get('cpu', '?')} ({mach.get('cpu_count', '?')} cores), "
              f"{mach.get('backend', '?')} x{mach.get('devices', '?')} "
              f"({mach.get('device_kind', '?')}); "
              + ", ".join(f"{k} {v}" for k, v in (mach.get("versions") or {}).items()),
              f"- seeds: {len(res['seeds'])} per row"
              + (" (SMOKE RUN: tiny data and model, numbers meaningless)" if res["smoke"]
                 else ""),
              f"- updated: {res['updated']}", ""]
    if res.get("notes"):
        lines += [res["notes"], ""]
    tables: dict[str, list[dict]] = {}
    for r in res["rows"]:
        tables.setdefault(r["table"], []).append(r)
    for table, rows in tables.items():
        cols = list(dict.fromkeys(r["column"] for r in rows))
        names = list(dict.fromkeys(r["row"] for r in rows))
        cell = {(r["row"], r["column"]): r for r in rows}
        metrics = sorted({r["metric"] for r in rows})
        lines += [f"## {table}", "",
                  f"Cells: ours mean ± std over seeds (n) (paper); metric: {', '.join(metrics)}.",
                  "", "| | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for name in names:
            out = []
            for col in cols:
                r = cell.get((name, col))
                if r is None:
                    out.append("")
                    continue
                d = _digits(r["metric"])
                paper = "n/a" if r["paper"] is None else f"{r['paper']:g}"
                s = (f"{_fmt(r['mean'], d)} ± {_fmt(r['std'], d)} (n={r['n']})" if r["n"]
                     else "not run")
                if r["failed"]:
                    s += f" [failed seeds {r['failed']}]"
                out.append(f"{s} ({paper})")
            lines.append(f"| {name} | " + " | ".join(out) + " |")
        lines.append("")
        extra_keys = sorted({k for r in rows for k in r.get("extra", {})})
        if extra_keys:
            lines += [f"Other measurements ({table}):", "",
                      "| row | column | " + " | ".join(extra_keys) + " |",
                      "|---|---|" + "---|" * len(extra_keys)]
            for r in rows:
                ex = r.get("extra", {})
                if not any(k in ex for k in extra_keys):
                    continue  # rows that measure none of them (e.g. GDA only on POD runs)
                lines.append(f"| {r['row']} | {r['column']} | " + " | ".join(
                    f"{_fmt(ex[k]['mean'], _digits(k))} ± {_fmt(ex[k]['std'], _digits(k))}"
                    if k in ex else "" for k in extra_keys) + " |")
            lines.append("")
    lines += ["## Per-seed values", "", "| row | column | metric | paper | diff (ours - paper) |"
              " values |", "|---|---|---|---|---|---|"]
    for r in res["rows"]:
        d = _digits(r["metric"])
        lines.append(f"| {r['row']} | {r['column']} | {r['metric']} | "
                     f"{'n/a' if r['paper'] is None else r['paper']} | {_fmt(r['diff_paper'], d)} | "
                     + ", ".join(f"{v:.{d}f}" for v in r["values"]) + " |")
    lines.append("")
    if res["comparisons"]:
        lines += ["## Comparisons (b vs a, Welch t-test, two-sided, alpha 0.05)", "",
                  "| table | a | b | metric | mean a | mean b | diff (b - a) | p | verdict |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for c in res["comparisons"]:
            d = _digits(c["metric"])
            metric = c["metric"]
            if c.get("metric_a", metric) != metric:
                metric = f"{c['metric_a']} (a) vs {metric} (b)"
            lines.append(f"| {c['table']} | {c['a']} (n={c['n_a']}) | {c['b']} (n={c['n_b']}) | "
                         f"{metric} | {_fmt(c['mean_a'], d)} | {_fmt(c['mean_b'], d)} | "
                         f"{_fmt(c['diff_mean'], d)} | {_fmt(c['p_value'], 4)} | "
                         f"**{c['verdict']}** |")
        lines.append("")
        claims = [c for c in res["comparisons"] if c.get("claim")]
        if claims:
            lines += ["Claims tested:", ""]
            lines += [f"- {c['claim']}: **{c['verdict']}** (diff {_fmt(c['diff_mean'], 3)}, "
                      f"p = {_fmt(c['p_value'], 4)})" for c in claims]
            lines.append("")
    for text in res.get("sections", []):
        lines += [text.rstrip(), ""]
    failed = [(r["label"], run) for r in res["rows"] if not r.get("runs_of")
              for run in r["runs"] if run.get("status") == "failed"]
    if failed:
        lines += ["## Failed runs", ""]
        lines += [f"- {label} seed {run['seed']}: {run.get('error')}" for label, run in failed]
        lines.append("")
    if res.get("figures"):
        lines += ["## Figures", ""]
        for fig in res["figures"]:
            if fig.get("status") == "drawn":
                lines += [f"![{fig['name']}]({fig['name']})", "",
                          f"*{fig['caption']}*" + (f" Differs from the paper: {fig['differs']}"
                                                   if fig.get("differs") else ""), ""]
            else:
                lines += [f"- {fig['name']}: {fig.get('status')} {fig.get('error', '')}", ""]
    lines += ["## Runs", "", "Each run's command reproduces it (same seed, same machine kind):", ""]
    for r in res["rows"]:
        if r.get("runs_of"):
            continue
        for run in r["runs"]:
            if "command" in run:
                lines.append(f"- {r['label']} seed {run['seed']}: `{run['command']}`")
    lines.append("")
    return "\n".join(lines)


def main(exp: Experiment, argv=None) -> int:
    args = parse_args(exp, argv)
    if args.list:
        list_rows(exp, args)
        return 0
    runner = Runner(exp, args)
    from mfdjax.train.loop import Preempted

    from mfdjax.train.parallel import available_cores

    enable_compile_cache(os.environ.get("MFDJAX_COMPILE_CACHE", "") or study_compile_cache(
        runner.workdir, len(available_cores())))

    from mfdjax.train.parallel import WorkerDied

    try:
        return runner.run()
    except WorkerDied as e:
        runner.write()
        print(f"stopped: {e}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Preempted) as e:
        runner.write()
        print(f"stopped ({type(e).__name__}): finished runs are in results.json; run the "
              "same command again to continue.", file=sys.stderr)
        return 130 if isinstance(e, KeyboardInterrupt) else 143
