"""The ``mfdjax`` command line.

::

    mfdjax train --config default [--workdir runs/default] [key=value ...]
    mfdjax compare --configs a,b[,c] --workdir DIR [key=value ...]
    mfdjax eval --workdir DIR [--best] [--classifier head|gda]
    mfdjax correlations --workdir DIR [--features stages] [--batch-size 500] [--best]
    mfdjax info [--config NAME] [key=value ...]
    mfdjax report --workdir DIR

``train`` resumes automatically when ``--workdir`` holds a checkpoint (run the
same command again after an interruption). A config with a non-empty
``comparison`` field (the default one) trains every variant into
``workdir/<variant>`` and writes one side-by-side ``workdir/report.md``; on a
CPU-only machine its runs train at once, one per core (``--jobs auto``, the default;
``--jobs 1`` trains them one after another; see :mod:`mfdjax.train.parallel`).

Multi-host: ``--coordinator HOST:PORT --num-processes N --process-id I`` (or
the environment variables ``MFDJAX_COORDINATOR_ADDRESS``,
``MFDJAX_NUM_PROCESSES``, ``MFDJAX_PROCESS_ID``) on every process.

Exit status (the same for every command):

===  ==================================================================
0    done (also: the run in --workdir is already finished, nothing to do)
1    a worker process of ``--jobs`` died (killed, out of memory): finished
     runs are kept; run the same command again to resume the others
2    bad arguments, config or data; or --workdir holds a run that this
     config cannot continue (the differing fields are named)
3    non-finite loss, gradient or state: nothing non-finite is saved;
     rerun with a lower learning rate to resume from the newest checkpoint
4    I/O failure: the run directory cannot be written (full disk,
     read-only, a file), a checkpoint write failed, or no checkpoint is
     readable
5    --workdir is in use by another running trainer (nothing was written)
130  SIGINT / Ctrl-C (state saved; run the same command again to resume)
143  SIGTERM (state saved; run the same command again to resume)
===  ==================================================================
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import sys

__all__ = ["main"]


def _add_jobs(p: argparse.ArgumentParser) -> None:
    from mfdjax.train.parallel import jobs_option

    p.add_argument("--jobs", type=jobs_option, default="auto",
                   help="comparison runs trained at once, each pinned to its own core "
                        "(default auto: one per core on a CPU-only machine, else 1; "
                        "1: one after another)")


def _add_distributed(p: argparse.ArgumentParser) -> None:
    p.add_argument("--coordinator", default=None,
                   help="HOST:PORT of process 0 for multi-host runs")
    p.add_argument("--num-processes", type=int, default=None)
    p.add_argument("--process-id", type=int, default=None)


def _version() -> str:
    from mfdjax import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    """The `mfdjax` command line (docs and tests parse commands with it)."""
    p = argparse.ArgumentParser(prog="mfdjax", description="MFD / POD / W-Softmax training "
                                "in JAX (see README.md).")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    from mfdjax.configs import list_configs

    names = ", ".join(list_configs())
    t = sub.add_parser("train", help="train a config (resumes from --workdir)")
    t.add_argument("--config", default="default",
                   help=f"config name[:arg] (one of: {names}) or a .py file with get_config()")
    t.add_argument("--workdir", default=None, help="run directory (default runs/<config>)")
    t.add_argument("--only", default="",
                   help="comparison configs: train only these comma-separated variants "
                        "(the report covers every variant already finished in --workdir)")
    _add_jobs(t)
    _add_distributed(t)
    t.add_argument("overrides", nargs="*", help="key.sub=value config overrides")

    c = sub.add_parser("compare", help="train several configs and write one report")
    c.add_argument("--configs", required=True,
                   help=f"comma-separated config specs (names: {names})")
    c.add_argument("--workdir", required=True)
    _add_jobs(c)
    _add_distributed(c)
    c.add_argument("overrides", nargs="*")

    e = sub.add_parser("eval", help="test accuracy of a run's checkpoint (of every run of "
                       "a comparison directory)")
    e.add_argument("--workdir", required=True)
    e.add_argument("--best", action="store_true", help="use the best checkpoint")
    e.add_argument("--classifier", default="head", choices=("head", "gda"),
                   help="gda: also fit Gaussian discriminant analysis on the training "
                        "features and report its test accuracy (the POD paper, Table IX)")

    r = sub.add_parser("correlations",
                       help="per-map mean |correlation| of a checkpoint (Tables I/III)")
    r.add_argument("--workdir", required=True)
    r.add_argument("--features", default="stages", choices=("stages", "blocks", "layers"))
    r.add_argument("--batch-size", type=int, default=500)
    r.add_argument("--best", action="store_true")

    i = sub.add_parser("info", help="devices, and a config's model and parameter count")
    i.add_argument("--config", default=None, help=f"config name[:arg] (one of: {names})")
    i.add_argument("overrides", nargs="*")

    rp = sub.add_parser("report", help="(re)write the report of a finished run or comparison")
    rp.add_argument("--workdir", required=True)
    return p


def _config(spec: str, overrides):
    from mfdjax.configs import apply_overrides, load_config

    config = load_config(spec)
    apply_overrides(config, list(overrides))
    return config


def _variants(config, overrides) -> list[tuple[str, object]]:
    """(name, config) per comparison entry; CLI overrides are applied last (they win)."""
    from mfdjax.configs import apply_overrides

    out = []
    for name in config.comparison:
        cfg = copy.deepcopy(config)
        apply_overrides(cfg, cfg.comparison[name])
        with cfg.unlocked():
            cfg.comparison = {}
        apply_overrides(cfg, list(overrides))
        out.append((name, cfg))
    return out


def _train_task(task) -> None:
    """One run of a comparison, in this process or in a worker of mfdjax.train.parallel."""
    from mfdjax.configs import load_config
    from mfdjax.train.loop import train_and_evaluate
    from mfdjax.train.parallel import worker_core

    spec, cfg, run_dir = task
    if worker_core() is not None and spec.split(":")[0].endswith(".py"):
        load_config(spec)   # a config file may register its own model: do it here too
    train_and_evaluate(cfg, run_dir)


def _train_many(runs, workdir: str, title: str, all_names=None, jobs: str = "1",
                specs=None) -> str:
    import jax

    from mfdjax.train import parallel
    from mfdjax.train.report import results_table, write_comparison_report

    from mfdjax.configs.base import validate_config
    from mfdjax.train.objective import check_loss_config

    for name, cfg in runs:  # every variant's mistakes before any variant trains
        try:
            validate_config(cfg)
            check_loss_config(cfg)
        except ValueError as e:
            raise ValueError(f"variant {name!r}: {e}") from None
    n_jobs = parallel.parse_jobs(jobs, len(runs))
    dirs = [os.path.join(workdir, name) for name, _ in runs]
    if n_jobs > 1:
        _say(f"training {len(runs)} runs, {n_jobs} at a time (one per core; --jobs 1 "
             "trains them one after another)")
        runs = [(name, _quiet(cfg)) for name, cfg in runs]
    tasks = []
    for i, ((name, cfg), run_dir) in enumerate(zip(runs, dirs)):
        if n_jobs == 1:
            _say(f"=== {name} -> {run_dir}")
        tasks.append((specs[i] if specs else "", cfg, run_dir))
    parallel.run_all(_train_task, tasks, jobs=n_jobs, on_done=(
        (lambda i, _: _say(f"=== {runs[i][0]} done -> {dirs[i]}")) if n_jobs > 1 else None))
    for name in all_names or []:  # variants finished earlier (e.g. with --only)
        d = os.path.join(workdir, name)
        if d not in dirs and os.path.exists(os.path.join(d, "summary.json")):
            dirs.append(d)
    if jax.process_index() == 0:
        path = write_comparison_report(dirs, workdir, title=title)
        _say(results_table(dirs))
        return path
    return os.path.join(workdir, "report.md")


def _quiet(cfg):
    """``cfg`` without a progress bar (bars of parallel runs would overwrite each other)."""
    cfg = copy.deepcopy(cfg)
    with cfg.unlocked():
        cfg.progress_bar = False
    return cfg


def _say(msg: str) -> None:
    try:
        import jax

        if jax.process_index() != 0:
            return
    except Exception:  # noqa: BLE001
        pass
    print(msg, flush=True)


def cmd_train(args) -> int:
    from mfdjax.train import mesh as mesh_lib

    mesh_lib.initialize_distributed(args.coordinator, args.num_processes, args.process_id)
    from mfdjax.train.loop import train_and_evaluate

    name = args.config.split(":")[0]
    name = os.path.splitext(os.path.basename(name))[0]
    workdir = args.workdir or os.path.join("runs", name)
    base = _config(args.config, [])
    if len(base.comparison):
        variants = _variants(base, args.overrides)
        only = [s for s in args.only.split(",") if s]
        unknown = set(only) - {n for n, _ in variants}
        if unknown:
            raise ValueError(f"--only: unknown variants {sorted(unknown)}; the config has "
                             f"{[n for n, _ in variants]}.")
        if only:
            variants = [(n, c) for n, c in variants if n in only]
        path = _train_many(variants, workdir,
                           title=f"{name}: " + ", ".join(base.comparison.keys()),
                           all_names=list(base.comparison.keys()),
                           jobs="1" if args.coordinator else args.jobs,
                           specs=[args.config] * len(variants))
        _say(f"comparison report: {os.path.abspath(path)}")
        return 0
    config = _config(args.config, args.overrides)
    train_and_evaluate(config, workdir)
    import jax

    if jax.process_index() == 0:
        from mfdjax.train.report import results_table

        _say(results_table([workdir]))
    _say(f"report: {os.path.abspath(os.path.join(workdir, 'report.md'))}")
    return 0


def cmd_compare(args) -> int:
    from mfdjax.train import mesh as mesh_lib

    mesh_lib.initialize_distributed(args.coordinator, args.num_processes, args.process_id)
    specs = [s for s in args.configs.split(",") if s]
    if len(specs) < 2:
        raise ValueError("`--configs` needs at least two comma-separated configs.")
    runs, run_specs = [], []
    for spec in specs:
        cfg = _config(spec, args.overrides)
        label = spec.replace(":", "_").replace("/", "_").replace(".py", "")
        if len(cfg.comparison):
            more = [(f"{label}_{n}", c) for n, c in _variants(_config(spec, []), args.overrides)]
        else:
            more = [(label, cfg)]
        runs += more
        run_specs += [spec] * len(more)
    path = _train_many(runs, args.workdir, title="Comparison: " + ", ".join(specs),
                       jobs="1" if args.coordinator else args.jobs, specs=run_specs)
    _say(f"comparison report: {os.path.abspath(path)}")
    return 0


def _sub_runs(workdir: str) -> list[str]:
    """The run directories of a comparison directory (those holding config.json)."""
    if os.path.exists(os.path.join(workdir, "config.json")) or not os.path.isdir(workdir):
        return []
    return sorted(d for d in os.listdir(workdir)
                  if os.path.exists(os.path.join(workdir, d, "config.json")))


def _eval_one(workdir: str, args) -> dict:
    from mfdjax.train.loop import evaluate, restore_run

    run = restore_run(workdir, best=args.best)
    res = evaluate(run["state"], run["eval_step"], run["feed"], run["mesh"],
                   int(run["config"].eval_batch_size))
    res["step"] = int(run["step"])
    if getattr(args, "classifier", "head") == "gda":
        from mfdjax.train.analysis import gda_evaluate

        res.update(gda_evaluate(run))
    return res


def cmd_eval(args) -> int:
    subs = _sub_runs(args.workdir)
    if subs:  # a comparison directory: every run, by name
        res = {d: _eval_one(os.path.join(args.workdir, d), args) for d in subs}
    else:
        res = _eval_one(args.workdir, args)
    print(json.dumps(res, indent=2))
    return 0


def cmd_correlations(args) -> int:
    import jax
    import numpy as np

    from mfdjax.train import mesh as mesh_lib
    from mfdjax.train.loop import restore_run
    from mfdjax.train.step import make_correlation_fn

    run = restore_run(args.workdir, best=args.best)
    mesh, feed = run["mesh"], run["feed"]
    n = (min(args.batch_size, feed.num_test) // mesh.size) * mesh.size
    fn = jax.jit(make_correlation_fn(run["config"], mean=run["mean"], std=run["std"],
                                     level=args.features),
                 in_shardings=(mesh_lib.replicated_sharding(mesh), mesh_lib.data_sharding(mesh)),
                 out_shardings=mesh_lib.replicated_sharding(mesh))
    images = mesh_lib.global_batch({"image": feed.fixed_images(n)}, mesh)["image"]
    corr = np.asarray(jax.device_get(fn(run["state"], images)))
    print(f"mean |correlation| per {args.features[:-1]} map (first {n} test images, "
          f"step {run['step']}):")
    from mfdjax.train.loop import _sown_names

    names = _sown_names(run["model"], feed.image_shape, args.features)
    if len(names) != len(corr):
        names = [str(i) for i in range(len(corr))]
    print("| " + " | ".join(names) + " |")
    print("|" + "---|" * len(corr))
    print("| " + " | ".join(f"{c:.3f}" for c in corr) + " |")
    return 0


def cmd_info(args) -> int:
    import jax

    print(f"jax {jax.__version__}; backend {jax.default_backend()}; "
          f"processes {jax.process_count()}; devices {jax.device_count()} "
          f"(local {jax.local_device_count()})")
    for d in jax.local_devices():
        print(f"  {d.id}: {d.platform} {d.device_kind}")
    if args.config:
        import jax.numpy as jnp

        from mfdjax.train.loop import build_model
        from mfdjax.train.state import param_count

        config = _config(args.config, args.overrides)
        variants = (_variants(config, args.overrides) if len(config.comparison)
                    else [("", config)])
        for name, config in variants:
            shape = _input_shape(config)
            num_classes = _num_classes(config)
            model = build_model(config, num_classes)
            variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0),
                                                          jnp.zeros((1,) + shape),
                                                          train=False))
            n = param_count(variables["params"])
            label = f"config {args.config}" + (f", variant {name}" if name else "")
            print(f"{label}: model {config.model.name} (head {config.model.head}, "
                  f"stem {config.model.stem or 'default'}), input {shape}, "
                  f"{num_classes} classes")
            print(f"parameters: {n:,} trainable")
            print(f"loss {config.loss.name}; MFD weight {config.mfd.weight:g} "
                  f"({config.mfd.features}); dataset {config.dataset.name}; "
                  f"batch {config.batch_size}; epochs {config.num_epochs}")
    return 0


_SHAPES = {"fashion_mnist": (28, 28, 1), "mnist": (28, 28, 1), "digits": (8, 8, 1),
           "cifar10": (32, 32, 3), "cifar100": (32, 32, 3)}
_CLASSES = {"fashion_mnist": 10, "mnist": 10, "digits": 10, "cifar10": 10, "cifar100": 100}


def _input_shape(config) -> tuple:
    if "input_shape" in config.dataset:
        return tuple(config.dataset.input_shape)
    return _SHAPES.get(config.dataset.name, (32, 32, 3))


def _num_classes(config) -> int:
    if "num_classes" in config.dataset:
        return int(config.dataset.num_classes)
    return _CLASSES.get(config.dataset.name, 10)


def cmd_report(args) -> int:
    from mfdjax.train.report import write_comparison_report, write_run_report
    from mfdjax.train.rundir import check_no_outside_links

    workdir = args.workdir
    check_no_outside_links(workdir)   # the reports are written into it
    if os.path.exists(os.path.join(workdir, "summary.json")):
        print(write_run_report(workdir))
        return 0
    subs = sorted(d for d in os.listdir(workdir)
                  if os.path.exists(os.path.join(workdir, d, "summary.json")))
    if not subs:
        raise ValueError(f"no finished run (summary.json) in {workdir} or its sub-directories.")
    for d in subs:
        write_run_report(os.path.join(workdir, d))
    print(write_comparison_report([os.path.join(workdir, d) for d in subs], workdir))
    return 0


_COMMANDS = {"train": cmd_train, "compare": cmd_compare, "eval": cmd_eval,
             "correlations": cmd_correlations, "info": cmd_info, "report": cmd_report}


EXIT_OK, EXIT_CONFIG, EXIT_NONFINITE, EXIT_IO, EXIT_BUSY = 0, 2, 3, 4, 5
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from mfdjax.train.loop import NonFiniteLossError, Preempted
    from mfdjax.train.parallel import WorkerDied
    from mfdjax.train.rundir import WorkdirBusy

    try:
        return _COMMANDS[args.command](args)
    except WorkerDied as e:
        print(f"mfdjax: error: {e}", file=sys.stderr)
        return 1
    except Preempted as e:
        print(f"mfdjax: {e}", file=sys.stderr)
        return EXIT_SIGINT if e.signal_name == "SIGINT" else EXIT_SIGTERM
    except KeyboardInterrupt:
        print("mfdjax: interrupted (Ctrl-C); what was saved before stays saved: run the same "
              "command again to resume.", file=sys.stderr)
        return EXIT_SIGINT
    except (NonFiniteLossError, FloatingPointError) as e:
        print(f"mfdjax: error: {e}", file=sys.stderr)
        return EXIT_NONFINITE
    except WorkdirBusy as e:
        print(f"mfdjax: error: {e}", file=sys.stderr)
        return EXIT_BUSY
    except (ValueError, FileNotFoundError) as e:
        print(f"mfdjax: error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as e:
        print(f"mfdjax: error: I/O failure: {e}", file=sys.stderr)
        return EXIT_IO


if __name__ == "__main__":
    sys.exit(main())
