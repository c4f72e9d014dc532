"""Images/s of the default config's jitted train step (softmax vs softmax + MFD).

Usage (CPU or GPU, unchanged):

    .venv/bin/python benchmarks/bench_train_throughput.py [--config default]
        [--steps 20] [--reps 3] [--batch-size 128] [key=value overrides ...]

Builds the state and the step exactly as ``mfdjax train`` does (same mesh,
shardings, model, augmentation inside the step) on random uint8 images of the
config's dataset shape, compiles, then times ``--steps`` steps per repetition
for each variant, interleaving the variants, and prints the median images/s
and the MFD overhead ratio. Compile time is reported separately.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import jax
import numpy as np

from mfdjax.configs import apply_overrides, load_config
from mfdjax.train import mesh as mesh_lib
from mfdjax.train.loop import build_model
from mfdjax.train.optim import make_optimizer
from mfdjax.train.state import create_train_state, make_key
from mfdjax.train.step import make_train_step

_SHAPES = {"fashion_mnist": (28, 28, 1), "mnist": (28, 28, 1), "digits": (8, 8, 1),
           "cifar10": (32, 32, 3), "cifar100": (32, 32, 3)}
_CLASSES = {"cifar100": 100}


def build(config, image_shape, num_classes, steps_per_epoch=400):
    mesh = mesh_lib.make_mesh()
    model = build_model(config, num_classes)
    tx, schedule = make_optimizer(config.optimizer, steps_per_epoch=steps_per_epoch,
                                  num_epochs=config.num_epochs)
    state = create_train_state(config, model, rng=make_key(config.seed, config.prng_impl),
                               input_shape=image_shape, num_classes=num_classes, tx=tx)
    state = mesh_lib.replicate(state, mesh)
    repl, data = mesh_lib.replicated_sharding(mesh), mesh_lib.data_sharding(mesh)
    step = jax.jit(make_train_step(config, steps_per_epoch=steps_per_epoch,
                                   mean=np.full(image_shape[-1], 127.0, np.float32),
                                   std=np.full(image_shape[-1], 64.0, np.float32),
                                   schedule=schedule),
                   in_shardings=(repl, data), out_shardings=(repl, repl), donate_argnums=0)
    return mesh, state, step


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="default")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=0)
    p.add_argument("overrides", nargs="*")
    args = p.parse_args(argv)
    base = load_config(args.config)
    variants = {}
    if len(base.comparison):
        for name in base.comparison:
            cfg = copy.deepcopy(base)
            apply_overrides(cfg, base.comparison[name])
            variants[name] = cfg
    else:
        variants[args.config] = base
    for cfg in variants.values():
        with cfg.unlocked():
            cfg.comparison = {}
        apply_overrides(cfg, args.overrides)
        if args.batch_size:
            cfg.batch_size = args.batch_size
    first = next(iter(variants.values()))
    shape = _SHAPES.get(first.dataset.name, (32, 32, 3))
    k = _CLASSES.get(first.dataset.name, 10)
    rng = np.random.default_rng(0)
    print(f"devices: {jax.device_count()} x {jax.devices()[0].platform} "
          f"({jax.devices()[0].device_kind}); batch {first.batch_size}; image {shape}; "
          f"model {first.model.name}")
    built, compile_s = {}, {}
    for name, cfg in variants.items():
        mesh, state, step = build(cfg, shape, k)
        batch = mesh_lib.global_batch({
            "image": rng.integers(0, 256, (cfg.batch_size,) + shape, dtype=np.uint8),
            "label": rng.integers(0, k, (cfg.batch_size,), dtype=np.int32)}, mesh)
        t = time.perf_counter()
        state, m = step(state, batch)
        jax.block_until_ready(m)
        compile_s[name] = time.perf_counter() - t
        built[name] = [state, step, batch, cfg.batch_size]
    rates = {name: [] for name in variants}
    for _ in range(args.reps):
        for name in variants:
            state, step, batch, bs = built[name]
            t = time.perf_counter()
            for _ in range(args.steps):
                state, m = step(state, batch)
            jax.block_until_ready((state.params, m))
            rates[name].append(args.steps * bs / (time.perf_counter() - t))
            built[name][0] = state
    med = {name: statistics.median(r) for name, r in rates.items()}
    for name in variants:
        spread = f"{min(rates[name]):.0f}-{max(rates[name]):.0f}"
        print(f"{name:>14}: {med[name]:8.1f} images/s (median of {args.reps}; range {spread}); "
              f"first step incl. compile {compile_s[name]:.1f} s")
    names = list(variants)
    if len(names) == 2:
        print(f"time ratio {names[1]} / {names[0]}: {med[names[0]] / med[names[1]]:.3f}")


if __name__ == "__main__":
    main()
