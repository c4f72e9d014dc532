"""Benchmark: MFD loss value+gradient against its matrix-product floor.

The MFD loss of a (B, P, C) map needs one Gram product ``X^T X`` (C^2 * B*P
multiply-adds) forward and, with the custom_jvp in mfdjax.losses.mfd, one
product ``X @ (Gbar + Gbar^T)`` of the same size backward. This script times
``jax.jit(jax.value_and_grad(mfd_loss))`` on the five ResNet50 CIFAR-layout stage
activations against the FLOOR: those two products alone per stage (``X^T X`` and
``X @ G`` with X of shape (B*P, C)), jitted, with the same dtype and precision.
Repetitions are interleaved (loss, floor, loss, floor, ...) so that load from
other processes hits both alike; medians are reported with the spread.

Usage::

    python benchmarks/bench_mfd_loss.py --batch 16 --reps 15
    python benchmarks/bench_mfd_loss.py --batch 128 --dtype bfloat16 --device "H100"

Goal: ratio (loss / floor) <= 1.3. Measured figures: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
from jax import lax

from mfdjax.losses.mfd import mfd_loss

# ResNet50 stage outputs (stem, stages 1-4) with the CIFAR stem (3x3 conv, no max-pool).
STAGES = ((32, 32, 64), (32, 32, 256), (16, 16, 512), (8, 8, 1024), (4, 4, 2048))


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=16, help="batch size B (default 16)")
    p.add_argument("--reps", type=int, default=15, help="timed repetitions of each (default 15)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls after compiling")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    p.add_argument("--precision", default=None, choices=(None, "default", "high", "highest"),
                   help="lax precision of both the loss's and the floor's products")
    p.add_argument("--device", default="", help="free-text note on the machine, printed back")
    p.add_argument("--per-stage", action="store_true", help="also time each stage alone")
    return p.parse_args()


def _time(fn, args) -> float:
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t0


def _bench(pairs, reps, warmup):
    """pairs: list of (name, fn, args). Interleaved timings -> {name: [seconds]}."""
    for _, fn, args in pairs:
        for _ in range(1 + warmup):
            jax.block_until_ready(fn(*args))
    times = {name: [] for name, _, _ in pairs}
    for _ in range(reps):
        for name, fn, args in pairs:
            times[name].append(_time(fn, args))
    return times


def main() -> None:
    args = _parse()
    dtype = jnp.dtype(args.dtype)
    precision = None if args.precision is None else lax.Precision(args.precision)
    key = jax.random.key(0)
    maps = []
    for i, (h, w, c) in enumerate(STAGES):
        # Post-ReLU-like activations: non-negative, with some dead channels.
        z = jax.random.normal(jax.random.fold_in(key, i), (args.batch, h, w, c), jnp.float32)
        z = jax.nn.relu(z + 0.5).at[..., :: 17].set(0.0)
        maps.append(z.astype(dtype))

    loss_fn = jax.jit(jax.value_and_grad(
        lambda fs: mfd_loss(fs, precision=precision)))

    acc = jnp.float32

    def floor(fs):
        out = []
        for f in fs:
            x = f.reshape(-1, f.shape[-1])
            g = lax.dot_general(x, x, (((0,), (0,)), ((), ())), precision=precision,
                                preferred_element_type=acc)
            y = lax.dot_general(x, g.astype(x.dtype), (((1,), (0,)), ((), ())),
                                precision=precision, preferred_element_type=acc)
            out.append((g, y.astype(x.dtype)))
        return out

    floor_fn = jax.jit(floor)
    flops = sum(2 * 2 * c * c * args.batch * h * w for h, w, c in STAGES)
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, devices "
          f"{[d.device_kind for d in jax.local_devices()][:1]}, note: {args.device or '-'}")
    print(f"B={args.batch} dtype={args.dtype} precision={args.precision} reps={args.reps} "
          f"floor = {flops / 1e9:.2f} GFLOP")

    pairs = [("loss", loss_fn, (maps,)), ("floor", floor_fn, (maps,))]
    if args.per_stage:
        for i, m in enumerate(maps):
            pairs.append((f"loss[{i}]", loss_fn, ([m],)))
            pairs.append((f"floor[{i}]", floor_fn, ([m],)))
    times = _bench(pairs, args.reps, args.warmup)

    def line(name):
        t = times[name]
        med = statistics.median(t)
        return med, (f"{name:>10}: median {med * 1e3:8.2f} ms  "
                     f"(min {min(t) * 1e3:8.2f}, max {max(t) * 1e3:8.2f})")

    for i in range(0, len(pairs), 2):
        (ln, _, _), (fn, _, _) = pairs[i], pairs[i + 1]
        lm, ls = line(ln)
        fm, fs = line(fn)
        ratios = sorted(a / b for a, b in zip(times[ln], times[fn]))
        print(ls)
        print(fs)
        print(f"{'ratio':>10}: {lm / fm:.3f} (median of medians); per-rep ratios "
              f"median {statistics.median(ratios):.3f}, range [{ratios[0]:.3f}, {ratios[-1]:.3f}]")
    if not args.per_stage:
        print(f"throughput: floor {flops / statistics.median(times['floor']) / 1e9:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
