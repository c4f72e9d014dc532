"""What each CPU-side change does to mfdjax's training step, measured side by side.

Builds mfdjax's real jitted train step (``bench_vs_pytorch.make_mfdjax``: the step
``mfdjax train`` runs) once per variant, then times all variants in interleaved rounds
and prints the median ms/step of each and its ratio to the first. A variant is a 1x1
convolution path (:func:`mfdjax.models.layers.conv_impl`) plus XLA compiler options for
that one compile, so flags are compared inside one process, on one machine state.

    .venv/bin/python benchmarks/bench_cpu_step.py --batch 32                  # all variants
    .venv/bin/python benchmarks/bench_cpu_step.py --variants xla-conv,default --mfd

The figures, and which variant each change kept, are in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

_L = "LIBRARY_FUSION_TYPE_"
# name: (conv impl, XLA compiler options)
VARIANTS = {
    "xla-conv": ("xla", {}),                     # XLA's convolutions and max-pool throughout
    "dot": ("dot", {}),                          # 0.1.0's CPU default: 1x1 kernel tangent, slice-chain pool
    "default": ("auto", {}),                     # the package default (conv_impl "matmul" on the CPU)
    "fast-math": ("auto", {"xla_cpu_enable_fast_math": True}),
    "xnn-graph": ("auto", {"xla_cpu_experimental_xnn_graph_fusion_mode":
                           "XNN_GRAPH_FUSION_MODE_GREEDY"}),
    "xnn-dot": ("auto", {"xla_cpu_experimental_xnn_fusion_type": _L + "DOT"}),
    "onednn": ("auto", {"xla_cpu_use_onednn": True,
                        "xla_cpu_experimental_onednn_custom_call": True}),
    "onednn-fusion": ("auto", {"xla_cpu_experimental_onednn_fusion_type":
                               f"{_L}DOT,{_L}ELTWISE"}),
    "ynn-all": ("auto", {"xla_cpu_experimental_ynn_fusion_type": ",".join(
        _L + t for t in ("INDIVIDUAL_CONVOLUTION", "INDIVIDUAL_DOT", "ELTWISE", "REDUCE"))}),
    "no-ynn-conv": ("auto", {"xla_cpu_experimental_ynn_fusion_type":
                             f"-{_L}INDIVIDUAL_CONVOLUTION"}),
    "concurrency-sched": ("auto", {"xla_cpu_enable_concurrency_optimized_scheduler": True}),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--net", default="resnet50", choices=("resnet50", "default"))
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--mfd", action="store_true", help="softmax + MFD (stages, lambda 1)")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help=f"comma-separated, first is the reference; from {list(VARIANTS)}")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=2)
    args = p.parse_args(argv)
    names = args.variants.split(",")
    bad = [n for n in names if n not in VARIANTS]
    if bad:
        p.error(f"unknown variants {bad}; choose from {list(VARIANTS)}")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench_vs_pytorch as bvp

    steps = {}
    for name in names:
        conv, opts = VARIANTS[name]
        t = time.perf_counter()
        try:
            step = bvp.make_mfdjax(args.net, args.batch, args.mfd, "float32", conv=conv,
                                   compiler_options=opts)[0]
            step()
        except Exception as e:  # an option this jaxlib does not know or cannot compile
            print(f"{name:>18}: skipped ({type(e).__name__}: {str(e).splitlines()[0][:120]})")
            continue
        steps[name] = step
        print(f"{name:>18}: built and compiled in {time.perf_counter() - t:.1f} s", flush=True)
    times = {n: [] for n in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            t = time.perf_counter()
            for _ in range(args.steps):
                step()
            times[name].append((time.perf_counter() - t) / args.steps)
    ref = statistics.median(times[next(iter(times))])
    print(f"\n{args.net}, batch {args.batch}, {'softmax + MFD' if args.mfd else 'softmax'}, "
          f"{os.cpu_count()} cores, {args.rounds} interleaved rounds x {args.steps} steps")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:>18}: {med * 1e3:8.1f} ms/step  ({min(ts) * 1e3:.0f}-{max(ts) * 1e3:.0f})"
              f"  ratio {med / ref:6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
