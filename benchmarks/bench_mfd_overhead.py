"""Benchmark: the cost of adding MFD loss to softmax training of ResNet50 (the MFD paper, Table VII).

The paper reports +52% to +65% time per epoch for Softmax + MFD over Softmax alone
(PyTorch 1.0, GPU). This script measures the same ratio for our JAX ResNet50 in the
CIFAR layout (``stem="cifar"``, 32x32 inputs, 100 classes), one jitted gradient
computation (forward + backward, no optimizer update) per step:

* ``ce``:      mean softmax cross-entropy;
* ``ce+mfd``:  the same + ``lambda * mfd_loss`` over the five sown stage maps
  (``features="stages"``, lambda = 1, Table II);
* optionally ``ce+mfd[layers]``: MFD over the 49 layer-level maps (reference code).

Both variants are compiled first, then timed INTERLEAVED (ce, ce+mfd, ce, ce+mfd, ...)
so machine-load drift hits both alike; the medians and their ratio are printed.

    .venv/bin/python benchmarks/bench_mfd_overhead.py --batch 8 --reps 10
    .venv/bin/python benchmarks/bench_mfd_overhead.py --batch 128 --layers   # on a GPU
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import optax

from mfdjax import models
from mfdjax.losses import mfd_loss
from mfdjax.models import COLLECTION, collect_features


def make_grad_fn(model, level: str | None, lam: float = 1.0):
    """A jitted ``(params, batch_stats, x, y) -> (loss, grads, new_batch_stats)``."""

    def loss_fn(params, batch_stats, x, y):
        mutable = ["batch_stats"] + ([COLLECTION] if level else [])
        (logits, _), upd = model.apply({"params": params, "batch_stats": batch_stats}, x,
                                       train=True, features=level, mutable=mutable)
        loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))
        if level:
            loss = loss + lam * mfd_loss(collect_features(upd[COLLECTION]))
        return loss, upd["batch_stats"]

    @jax.jit
    def step(params, batch_stats, x, y):
        (loss, new_bs), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch_stats,
                                                                           x, y)
        return loss, grads, new_bs

    return step


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--layers", action="store_true",
                    help="also time MFD at the 49 layer-level maps (reference code placement)")
    ap.add_argument("--bf16", action="store_true", help="compute in bfloat16")
    args = ap.parse_args(argv)

    dtype = jnp.bfloat16 if args.bf16 else jnp.float32
    model = models.get(args.model, num_classes=args.classes, stem="cifar", dtype=dtype)
    kx, ky = jax.random.split(jax.random.key(0))
    x = jax.random.normal(kx, (args.batch, args.size, args.size, 3), jnp.float32)
    y = jax.random.randint(ky, (args.batch,), 0, args.classes)
    variables = jax.jit(lambda x: model.init(jax.random.key(1), x, train=False))(x)
    params, bs = variables["params"], variables["batch_stats"]

    variants = {"ce": make_grad_fn(model, None), "ce+mfd[stages]": make_grad_fn(model, "stages")}
    if args.layers:
        variants["ce+mfd[layers]"] = make_grad_fn(model, "layers")
    for name, fn in variants.items():
        t0 = time.perf_counter()
        jax.block_until_ready(fn(params, bs, x, y))
        print(f"compile+first run {name:>15}: {time.perf_counter() - t0:7.2f} s", flush=True)
        jax.block_until_ready(fn(params, bs, x, y))  # one warm run

    times = {name: [] for name in variants}
    for _ in range(args.reps):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(params, bs, x, y))
            times[name].append(time.perf_counter() - t0)

    dev = jax.devices()[0]
    print(f"\n{args.model}, stem=cifar, {args.size}x{args.size}, {args.classes} classes, "
          f"batch {args.batch}, dtype {jnp.dtype(dtype).name}, {args.reps} interleaved reps, "
          f"device {dev.platform}:{dev.device_kind}")
    base = statistics.median(times["ce"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:>15}: median {med * 1e3:9.1f} ms/step  (min {min(ts) * 1e3:9.1f})  "
              f"{args.batch / med:8.1f} img/s  ratio {med / base:5.3f}  "
              f"overhead {100 * (med / base - 1):+6.1f}%")
    print("paper (PyTorch, Table VII): +52% to +65% per epoch")


if __name__ == "__main__":
    main()
