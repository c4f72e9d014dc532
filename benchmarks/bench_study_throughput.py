"""A study's throughput three ways: one run after another, packed seeds, runs side by side.

A study trains many independent runs of one network. This measures, for mfdjax's real
jitted train step of ``--net`` (augmentation on, as in training), the machine's total
training images/s when

* ``sequential``: one run uses every core (XLA's own threads), runs one after another;
* ``packed-N``:   N seeds in one program, ``jax.vmap`` of the train step over the seed
                  axis (parameters, optimizer state and batches stacked; one compile);
* ``side-by-side``: one process per core, each pinned to its core
                  (``mfdjax.train.parallel``, what ``--jobs auto`` does), all timing the
                  same number of steps at the same moment (a barrier).

Every figure is the median over ``--rounds`` of ``--steps`` steps; side-by-side is the
sum of the workers' images/s. The ratios are to ``sequential``.

    .venv/bin/python benchmarks/bench_study_throughput.py                 # default network
    .venv/bin/python benchmarks/bench_study_throughput.py --mfd --packed 2 4
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _build(net: str, mfd: bool, batch: int):
    """(model config, the replicated state, the un-jitted train step, image shape, classes)."""
    sys.path.insert(0, HERE)
    import numpy as np

    from bench_train_throughput import build
    from bench_vs_pytorch import _NETS
    from mfdjax.configs import apply_overrides, load_config

    mname, stem, shape, k = _NETS[net]
    cfg = load_config("default:softmax")
    apply_overrides(cfg, [f"model.name={mname}", f"model.stem={stem}", f"batch_size={batch}",
                          "dataset.augment=True", f"mfd.weight={1.0 if mfd else 0.0}",
                          "mfd.features=stages"])
    mesh, state, step = build(cfg, shape, k)
    rng = np.random.default_rng(0)
    return state, step.__wrapped__, shape, k, rng


def _batch(rng, shape, k, lead: tuple):
    """Random uint8 images and labels with leading axes ``lead`` (batch, or seeds x batch)."""
    import jax.numpy as jnp

    return {"image": jnp.asarray(rng.integers(0, 256, lead + shape, dtype="uint8")),
            "label": jnp.asarray(rng.integers(0, k, lead, dtype="int32"))}


def _time(step, state, batch, rounds: int, steps: int) -> tuple[float, object]:
    import jax

    state, m = step(state, batch)
    jax.block_until_ready(m)
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(steps):
            state, m = step(state, batch)
        jax.block_until_ready(m)
        times.append((time.perf_counter() - t) / steps)
    return statistics.median(times), state


def sequential(args) -> float:
    import jax

    state, raw, shape, k, rng = _build(args.net, args.mfd, args.batch)
    batch = _batch(rng, shape, k, (args.batch,))
    sec, _ = _time(jax.jit(raw, donate_argnums=0), state, batch, args.rounds, args.steps)
    return args.batch / sec


def packed(args, n: int) -> float:
    import jax
    import jax.numpy as jnp

    state, raw, shape, k, rng = _build(args.net, args.mfd, args.batch)
    # n different seeds' parameters (scaled copies are enough for timing).
    states = jax.tree.map(lambda x: jnp.stack([x] * n), state)
    states = states.replace(params=jax.tree.map(
        lambda x: x * (1.0 + 0.01 * jnp.arange(n).reshape((n,) + (1,) * (x.ndim - 1))),
        states.params))
    batch = _batch(rng, shape, k, (n, args.batch))
    sec, _ = _time(jax.jit(jax.vmap(raw), donate_argnums=0), states, batch, args.rounds,
                   args.steps)
    return n * args.batch / sec


def _side_worker(args, core: int, barrier, out) -> None:
    os.sched_setaffinity(0, {core})
    import jax

    state, raw, shape, k, rng = _build(args.net, args.mfd, args.batch)
    batch = _batch(rng, shape, k, (args.batch,))
    step = jax.jit(raw, donate_argnums=0)
    state, m = step(state, batch)
    jax.block_until_ready(m)
    barrier.wait()
    sec, _ = _time(step, state, batch, args.rounds, args.steps)
    out.put((core, args.batch / sec))


def side_by_side(args) -> tuple[float, list]:
    ctx = mp.get_context("spawn")
    cores = sorted(os.sched_getaffinity(0))
    barrier, out = ctx.Barrier(len(cores)), ctx.Queue()
    procs = [ctx.Process(target=_side_worker, args=(args, c, barrier, out)) for c in cores]
    for p in procs:
        p.start()
    per = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(r for _, r in per), sorted(per)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--net", default="default", choices=("default", "resnet50"))
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--mfd", action="store_true", help="softmax + MFD (stages, lambda 1)")
    p.add_argument("--packed", type=int, nargs="*", default=[2], help="seeds per program")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--no-side-by-side", dest="side", action="store_false",
                   help="skip the one-process-per-core way (e.g. on a GPU)")
    args = p.parse_args(argv)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    print(f"{args.net}, batch {args.batch}, {'softmax + MFD' if args.mfd else 'softmax'}, "
          f"{len(os.sched_getaffinity(0))} cores, {os.environ['JAX_PLATFORMS']}, "
          f"jax {jax.__version__}; total train "
          f"images/s (median of {args.rounds} x {args.steps} steps)", flush=True)
    # Each way in its own process, one after another, so none shares the cores.
    ctx = mp.get_context("spawn")
    results = {}
    with ctx.Pool(1) as pool:
        results["sequential"] = pool.apply(sequential, (args,))
    print(f"{'sequential':>14}: {results['sequential']:8.0f} img/s", flush=True)
    for n in args.packed:
        with ctx.Pool(1) as pool:
            results[f"packed-{n}"] = pool.apply(packed, (args, n))
        print(f"{'packed-' + str(n):>14}: {results[f'packed-{n}']:8.0f} img/s  ratio "
              f"{results[f'packed-{n}'] / results['sequential']:.2f}", flush=True)
    if not args.side:
        return 0
    total, per = side_by_side(args)
    results["side-by-side"] = total
    print(f"{'side-by-side':>14}: {total:8.0f} img/s  ratio {total / results['sequential']:.2f}"
          f"  (per core: {', '.join(f'{c}: {r:.0f}' for c, r in per)})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
