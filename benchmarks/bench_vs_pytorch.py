"""Side by side: mfdjax's training step against the same step in PyTorch, with and without MFD.

Four configurations, timed in interleaved rounds in one process so that machine-load
drift hits them alike:

* ``torch``        PyTorch: forward, cross-entropy, backward, SGD update;
* ``torch+mfd``    the same + the authors' MFD function (``torch_reference.authors_mfd``)
                   on the five stage maps, lambda = 1;
* ``mfdjax``       mfdjax's real jitted train step (``mfdjax.train.step``: the one
                   ``mfdjax train`` runs, with its non-finite guard), MFD weight 0;
* ``mfdjax+mfd``   the same with ``mfd.weight=1, mfd.features=stages``;
* with ``--torch-compile``, ``torch.compile`` versions of the two PyTorch steps.

Same network (``--net resnet50``: torchvision's ResNet50, CIFAR stem, 32x32x3, 100
classes; ``--net default``: the default Fashion-MNIST job's ``resnet_cifar_small``,
28x28x1, 10 classes), same batch, same optimizer (SGD, lr 0.1, momentum 0.9, coupled
weight decay 5e-4), same number of cores (``--threads``: the process is pinned to that
many cores before either library starts, and PyTorch gets as many threads). Inputs are
random, already normalised for PyTorch; mfdjax's step normalises uint8 images itself,
with its augmentation switched off (``dataset.augment=False``), so both time the model
step alone.

Each round times ``--steps`` steps per configuration; the printed figure is the median
over rounds of the per-step time, with the range, images/s and the ratios. Peak memory
(``--memory``, on by default) is measured afterwards, one fresh process per
configuration: CPU: peak resident set (VmHWM) above the resident set just before the
first step; GPU: the framework's own peak of allocated device memory. For mfdjax it also
prints XLA's own account of the compiled step (``memory_analysis``): the temporary buffer
(residuals and workspaces), the state passed in, and how much of it is donated in place.

Before timing, the script reports which BLAS PyTorch runs on and measures its matmul
speed on the MFD Gram's shape: Debian's python3-torch links the reference BLAS through
``libblas.so.3`` unless OpenBLAS is installed (``apt install libopenblas0-openmp``), and
the reference BLAS makes the MFD term look ~100x dearer than it is.

    .venv/bin/pip install torch==2.13.0            # or any importable torch
    .venv/bin/python benchmarks/bench_vs_pytorch.py --batch 8 32
    .venv/bin/python benchmarks/bench_vs_pytorch.py --net default --batch 128
    .venv/bin/python benchmarks/bench_vs_pytorch.py --device gpu --dtype bfloat16 --batch 128

Exits 0 with a one-line message when no torch is importable. Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

_NETS = {  # --net: (mfdjax model, stem, image shape HWC, classes)
    "resnet50": ("resnet50", "cifar", (32, 32, 3), 100),
    "default": ("resnet_cifar_small", "cifar_pool", (28, 28, 1), 10),
}
_TORCH_NET = {"resnet50": "resnet50", "default": "resnet_cifar_small"}
CONFIGS = ("torch", "torch+mfd", "mfdjax", "mfdjax+mfd")


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--net", choices=sorted(_NETS), default="resnet50")
    p.add_argument("--batch", type=int, nargs="+", default=[8, 32])
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds (median over them)")
    p.add_argument("--steps", type=int, default=3, help="steps per configuration per round")
    p.add_argument("--threads", type=int, default=0,
                   help="cores for both libraries (default: all this process may use)")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                   help="compute dtype (parameters stay float32 in both libraries)")
    p.add_argument("--torch-compile", action="store_true",
                   help="add torch.compile versions of the two PyTorch steps (inductor "
                        "compiles for many minutes on a 2-core CPU)")
    p.add_argument("--channels-last", action="store_true",
                   help="PyTorch in channels_last memory format (default: NCHW, as the "
                        "authors' code)")
    p.add_argument("--no-memory", dest="memory", action="store_false",
                   help="skip the peak-memory pass")
    p.add_argument("--json", default="", help="also write the figures to this JSON file")
    p.add_argument("--only", default="", help=argparse.SUPPRESS)  # memory child: one config
    args = p.parse_args(argv)
    if args.rounds < 1 or args.steps < 1:
        p.error("--rounds and --steps must be >= 1")
    if any(b < 2 for b in args.batch):
        p.error("--batch values must be >= 2 (MFD centres over the batch)")
    return args


def _pin(threads: int) -> int:
    """Pins this process to ``threads`` cores before jax/torch start; returns the count."""
    cores = sorted(os.sched_getaffinity(0))
    if threads:
        if threads > len(cores):
            raise SystemExit(f"--threads {threads} > the {len(cores)} cores this process may use")
        cores = cores[:threads]
        os.sched_setaffinity(0, cores)
    return len(cores)


# ---------------------------------------------------------------------------- PyTorch


def torch_blas(torch) -> dict:
    """Which BLAS torch reports and loads, and its measured float32 matmul GFLOP/s."""
    cfg = torch.__config__.show()
    info = next((w.split("=", 1)[1].rstrip(",") for w in cfg.split() if w.startswith("BLAS_INFO=")),
                "unknown")
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if "/" in line else ""
                name = os.path.basename(path).lower()
                if any(k in name for k in ("blas", "mkl", "lapack")):
                    libs.add(os.path.realpath(path))
    except OSError:
        pass
    a = torch.randn(512, 8192)
    torch.mm(a, a.T)
    t = time.perf_counter()
    for _ in range(5):
        torch.mm(a, a.T)
    gflops = 5 * 2 * 512 * 512 * 8192 / (time.perf_counter() - t) / 1e9
    return {"blas_info": info, "libraries": sorted(os.path.basename(x) for x in libs),
            "gram_gflops": round(gflops, 1)}


def make_torch(net: str, batch: int, mfd: bool, device: str, dtype: str, compile_: bool,
               channels_last: bool, seed: int = 0):
    """Returns ``(step, n_params)``; ``step()`` runs one training step and waits for it."""
    import torch
    import torch.nn.functional as F

    import torch_reference

    mname, _, (h, w, c), k = _NETS[net]
    dev = torch.device("cuda" if device == "gpu" else "cpu")
    torch.manual_seed(seed)
    model = torch_reference.build(_TORCH_NET[net], k, c).to(dev)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, c, h, w, device=dev).to(memory_format=fmt)
    y = torch.randint(0, k, (batch,), device=dev)
    amp = dtype == "bfloat16"

    def fwd_loss(x, y):
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=amp):
            logits, feats = model(x)
        loss = F.cross_entropy(logits.float(), y)
        if mfd:
            for f in feats:
                loss = loss + torch_reference.authors_mfd(f.float())
        return loss

    fn = torch.compile(fwd_loss) if compile_ else fwd_loss
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = fn(x, y)
        loss.backward()
        opt.step()
        sync()
        return float(loss.detach())

    return step, sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------- mfdjax


def make_mfdjax(net: str, batch: int, mfd: bool, dtype: str, seed: int = 0, *,
                conv: str = "auto", compiler_options: dict | None = None):
    """Returns ``(step, n_params, compiled)``: mfdjax's own train step, jitted as the trainer does.

    ``conv`` (:func:`mfdjax.models.layers.conv_impl`) and ``compiler_options`` (XLA debug
    options for this compile) exist for ``bench_cpu_step.py``."""
    import jax
    import numpy as np

    from bench_train_throughput import build  # the trainer's state, mesh and jitted step
    from mfdjax.configs import apply_overrides, load_config
    from mfdjax.models.layers import conv_impl
    from mfdjax.train import mesh as mesh_lib

    mname, stem, shape, k = _NETS[net]
    cfg = load_config("default:softmax")
    apply_overrides(cfg, [f"model.name={mname}", f"model.stem={stem}", f"model.dtype={dtype}",
                          f"batch_size={batch}", "dataset.augment=False",
                          f"mfd.weight={1.0 if mfd else 0.0}", "mfd.features=stages",
                          f"seed={seed}"])
    mesh, state, fn = build(cfg, shape, k)
    rng = np.random.default_rng(seed)
    batch_arr = mesh_lib.global_batch({
        "image": rng.integers(0, 256, (batch,) + shape, dtype=np.uint8),
        "label": rng.integers(0, k, (batch,), dtype=np.int32)}, mesh)
    with conv_impl(conv):
        compiled = fn.lower(state, batch_arr).compile(compiler_options=compiler_options or None)
    holder = [state]

    def step():
        new, metrics = compiled(holder[0], batch_arr)
        holder[0] = new
        return float(metrics["loss"])  # waits for the step

    n = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(state.params))
    return step, n, compiled


# ------------------------------------------------------------------------------ timing


def _build(name: str, args, batch: int):
    """``(step, n_params, compiled)``; ``compiled`` is None for the PyTorch configurations."""
    mfd = name.endswith("+mfd")
    if name.startswith("torch"):
        return (*make_torch(args.net, batch, mfd, args.device, args.dtype,
                            "compile" in name, args.channels_last)[:2], None)
    return make_mfdjax(args.net, batch, mfd, args.dtype)


def _configs(args):
    names = list(CONFIGS)
    if args.torch_compile:
        names[2:2] = ["torch.compile", "torch.compile+mfd"]
    return names


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def memory_child(args) -> None:
    """One configuration in a fresh process: prints its peak step memory as JSON."""
    name, batch = args.only.rsplit("@", 1)
    batch = int(batch)
    out = {"config": name, "batch": batch}
    step, _, compiled = _build(name, args, batch)
    if compiled is not None:  # also XLA's own account of the compiled step (no run needed)
        m = compiled.memory_analysis()
        if m is not None:
            for key, attr in (("xla_temp_mib", "temp_size_in_bytes"),
                              ("xla_args_mib", "argument_size_in_bytes"),
                              ("xla_alias_mib", "alias_size_in_bytes")):
                out[key] = getattr(m, attr) / 2**20
    if args.device == "gpu":
        if name.startswith("torch"):
            import torch
            step()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
            for _ in range(3):
                step()
            out["peak_mib"] = (torch.cuda.max_memory_allocated() - before) / 2**20
            out["peak_total_mib"] = torch.cuda.max_memory_allocated() / 2**20
        else:
            import jax
            for _ in range(3):
                step()
            stats = jax.devices()[0].memory_stats() or {}
            out["peak_total_mib"] = stats.get("peak_bytes_in_use", 0) / 2**20
            out["peak_mib"] = out["peak_total_mib"] - stats.get("bytes_in_use", 0) / 2**20
    else:
        if name.startswith("torch"):
            step()  # lazy allocations (optimizer state, oneDNN caches) land here
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset VmHWM to the current resident set
        except OSError:
            pass
        base = _rss_kb("VmRSS")
        for _ in range(3):
            step()
        out["peak_mib"] = (_rss_kb("VmHWM") - base) / 1024
        out["peak_total_mib"] = _rss_kb("VmHWM") / 1024
    print("MEMORY " + json.dumps(out), flush=True)


def _memory_pass(args, names, batch) -> dict:
    res = {}
    for name in names:
        cmd = [sys.executable, os.path.abspath(__file__), "--only", f"{name}@{batch}",
               "--net", args.net, "--device", args.device, "--dtype", args.dtype,
               "--threads", str(args.threads)] + (["--channels-last"] if args.channels_last else [])
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("MEMORY ")), None)
        if line is None:
            print(f"  memory of {name} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        res[name] = json.loads(line[len("MEMORY "):])
    return res


def run_batch(args, batch: int, names) -> dict:
    steps, params, first = {}, {}, {}
    for name in names:
        t = time.perf_counter()
        step, n, _ = _build(name, args, batch)
        step()  # compile / warm up (torch.compile compiles here)
        step()
        first[name] = time.perf_counter() - t
        steps[name], params[name] = step, n
    times = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            t = time.perf_counter()
            for _ in range(args.steps):
                steps[name]()
            times[name].append((time.perf_counter() - t) / args.steps)
    med = {n: statistics.median(ts) for n, ts in times.items()}
    out = {"batch": batch, "configs": {}}
    for name in names:
        ts = times[name]
        out["configs"][name] = {
            "median_ms": med[name] * 1e3, "min_ms": min(ts) * 1e3, "max_ms": max(ts) * 1e3,
            "images_per_s": batch / med[name], "params": params[name],
            "build_and_two_steps_s": first[name]}
    r = out["ratios"] = {}
    r["mfdjax / torch"] = med["mfdjax"] / med["torch"]
    r["mfdjax+mfd / torch+mfd"] = med["mfdjax+mfd"] / med["torch+mfd"]
    r["torch+mfd / torch"] = med["torch+mfd"] / med["torch"]
    r["mfdjax+mfd / mfdjax"] = med["mfdjax+mfd"] / med["mfdjax"]
    if "torch.compile" in med:
        r["mfdjax / torch.compile"] = med["mfdjax"] / med["torch.compile"]
        r["mfdjax+mfd / torch.compile+mfd"] = med["mfdjax+mfd"] / med["torch.compile+mfd"]
    return out


def _versions(torch_info) -> dict:
    import jax
    import jaxlib
    import torch

    dev = jax.devices()[0]
    return {"python": platform.python_version(), "jax": jax.__version__,
            "jaxlib": jaxlib.__version__, "torch": torch.__version__,
            "jax_device": f"{dev.platform}:{dev.device_kind}",
            "cpu": platform.processor() or platform.machine(),
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "torch_blas": torch_info}


def main(argv=None) -> int:
    args = _parse(argv)
    args.threads = _pin(args.threads)
    if args.device == "cpu":
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        import torch
    except ImportError:
        print("bench_vs_pytorch: no PyTorch importable here, nothing to compare "
              "(pip install torch, or Debian's python3-torch with libopenblas0-openmp).")
        return 0
    torch.set_num_threads(args.threads)
    if args.device == "gpu" and not torch.cuda.is_available():
        raise SystemExit("--device gpu: this torch has no CUDA device")
    if args.only:
        memory_child(args)
        return 0
    info = torch_blas(torch) if args.device == "cpu" else {"cuda": torch.version.cuda}
    versions = _versions(info)
    print(json.dumps(versions, indent=1))
    if args.device == "cpu" and info["gram_gflops"] < 20:
        print(f"WARNING: torch's BLAS runs the Gram at {info['gram_gflops']} GFLOP/s; the MFD "
              "column is dominated by it (install libopenblas0-openmp).")
    names = _configs(args)
    results = {"args": {k: v for k, v in vars(args).items() if k != "only"},
               "versions": versions, "batches": []}
    for batch in args.batch:
        res = run_batch(args, batch, names)
        if args.memory:
            for name, m in _memory_pass(args, names, batch).items():
                res["configs"][name].update(
                    {k: v for k, v in m.items() if k.endswith("_mib")})
        results["batches"].append(res)
        print(f"\n{args.net}, batch {batch}, {args.device}, {args.dtype}, {args.threads} cores, "
              f"{args.rounds} interleaved rounds x {args.steps} steps (median ms/step)")
        for name, c in res["configs"].items():
            mem = (f"  peak +{c['peak_mib']:7.0f} MiB" if "peak_mib" in c else "")
            if "xla_temp_mib" in c:  # XLA's buffers: temporaries, and state donated in place
                mem += (f" (XLA temp {c['xla_temp_mib']:.0f}, state {c['xla_args_mib']:.0f}, "
                        f"aliased {c['xla_alias_mib']:.0f})")
            print(f"{name:>18}: {c['median_ms']:9.1f} ms  ({c['min_ms']:.1f}-{c['max_ms']:.1f})"
                  f"  {c['images_per_s']:8.1f} img/s  params {c['params']:,}{mem}")
        for k, v in res["ratios"].items():
            print(f"{k:>32}: {v:6.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
