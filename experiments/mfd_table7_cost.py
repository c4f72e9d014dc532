"""The MFD paper (Zhu, Wang, Zu, Liu, "Multi-stage feature decorrelation constraints for
improving CNN classification performance"), Table VII: the cost of MFD, one epoch's
training time and the memory in use, softmax vs softmax + MFD.

* The paper's rows: ResNet50 on CIFAR-10, CIFAR-100, Tiny ImageNet and FaceScrub; the
  same measurement for ResNeXt50, DenseNet121 and MobileNetV2 on CIFAR-100 (not in the
  paper, no paper number).
* Each row trains 2 epochs of the paper's recipe (only the cost is read, not the accuracy).
  Time per epoch: the median seconds per step over the logged training windows after the
  first (which holds the compilation), times the steps per epoch; data feeding included,
  evaluation excluded. Peak memory: the row's train step run again in a fresh process
  (``python experiments/_mfd_tools.py probe RUN_DIR``), because a process's peak never
  goes down: on an accelerator ``jax.local_devices()[0].memory_stats()["peak_bytes_in_use"]``
  (what XLA allocated, not what nvidia-smi shows: PyTorch's caching allocator, which the
  paper's figures include, holds more), on CPU the process's peak RSS
  (``resource.getrusage``; it includes Python, JAX, the dataset in memory and XLA's
  compilation, which set the peak there). Beside them, on every backend, XLA's own
  account of the compiled train step (``memory_analysis()``: arguments + outputs +
  temporaries - donated buffers, ``xla_step_mib``; temporaries alone, ``xla_temp_mib``):
  the activations MFD keeps for its backward pass show up in the temporaries.
* Beside the tables: (softmax + MFD) / softmax - 1 for time and memory, ours and the
  paper's; and a Welch test of "MFD makes an epoch slower".

    python experiments/mfd_table7_cost.py --seeds 1 --data-dir cifar10=/data/c10 \\
        --data-dir cifar100=/data/c100 --data-dir tiny_imagenet=/data/tiny-imagenet-200 \\
        --data-dir facescrub=/data/facescrub

The paper does not name its GPU (PyTorch 1.0); its times are not comparable with ours in
absolute terms, only the ratio is.
"""

from _mfd_tools import cost_analysis, ratio_section
from _runner import Comparison, Experiment, Row, main

from mfdjax.configs._presets import MFD_TABLE_VII

DATASETS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100",
            "tiny_imagenet": "Tiny ImageNet", "facescrub": "FaceScrub"}
SPEC = {"cifar10": "mfd_cifar:{m},cifar10,{v}", "cifar100": "mfd_cifar:{m},cifar100,{v}",
        "tiny_imagenet": "mfd_tiny_imagenet:{m},{v}", "facescrub": "mfd_facescrub:{m},{v}"}
SIZE = {"cifar10": 32, "cifar100": 32, "tiny_imagenet": 64, "facescrub": 64}
# --smoke reads Fashion-MNIST, whose splits are train/test (Tiny ImageNet tests on "val").
SMOKE = {"tiny_imagenet": ("dataset.test_split=test",)}
CELLS = [("resnet50", "ResNet50", d) for d in DATASETS] + [
    (m, n, "cifar100") for m, n in (("resnext50_32x4d", "ResNeXt50"),
                                    ("densenet121", "DenseNet121"),
                                    ("mobilenet_v2", "MobileNetV2"))]
TT = "Table VII: one epoch's training time (s)"
TM = "Table VII: peak memory (MiB)"
COST = ("num_epochs=2", "log_every_steps=20", "checkpoint.every_steps=0")

ROWS, COMPARISONS, PAIRS, PAPER_RATIO = [], [], [], {}
for model, net, dataset in CELLS:
    name = f"{net} {DATASETS[dataset]}"
    paper = MFD_TABLE_VII.get(dataset) if model == "resnet50" else None
    labels = []
    for k, (variant, vname) in enumerate((("softmax", "softmax"), ("mfd", "softmax + MFD"))):
        label = f"{model}_{dataset}_{variant}"
        labels.append(label)
        spec = SPEC[dataset].format(m=model, v=variant)
        ROWS.append(Row(label, spec, TT, name, vname, paper=paper[k] if paper else None,
                        overrides=COST, data=dataset, metric="epoch_seconds",
                        input_size=SIZE[dataset], analysis=cost_analysis,
                        lower_is_better=True, smoke_overrides=SMOKE.get(dataset, ()),
                        extra_metrics=("step_ms", "probe_step_ms", "peak_mib",
                                       "xla_step_mib", "xla_temp_mib")))
        ROWS.append(Row(f"{label}_memory", spec, TM, name, vname,
                        paper=paper[2 + k] if paper else None, data=dataset,
                        metric="peak_mib", input_size=SIZE[dataset], lower_is_better=True,
                        runs_of=label))
    PAIRS.append((name, labels[0], labels[1]))
    if paper:
        PAPER_RATIO[(name, "epoch_seconds")] = 100.0 * (paper[1] / paper[0] - 1)
        PAPER_RATIO[(name, "peak_mib")] = 100.0 * (paper[3] / paper[2] - 1)
        claim = (f"{name}: MFD makes an epoch slower (paper: {paper[0]} s -> {paper[1]} s)")
    else:
        claim = f"{name}: MFD makes an epoch slower (not in the paper)"
    COMPARISONS.append(Comparison(TT, labels[0], labels[1], lower_is_better=False,
                                  claim=claim))

EXPERIMENT = Experiment(
    ci_rows=('resnet50_cifar100_softmax', 'resnet50_cifar100_softmax_memory', 'resnet50_cifar100_mfd', 'resnet50_cifar100_mfd_memory'),   # CI smoke: every figure/analysis/section once
    title="MFD paper, Table VII: time per epoch and peak memory, softmax vs softmax + MFD",
    script="mfd_table7_cost.py", rows=ROWS, comparisons=COMPARISONS,
    sections=[ratio_section("Table VII: the change with MFD, ours beside the paper's", PAIRS,
                            [("epoch_seconds", "time per epoch"), ("peak_mib", "peak memory"),
                             ("xla_step_mib", "XLA step memory")],
                            PAPER_RATIO)],
    default_workdir="mfd_table7_cost",
    needs="cifar10, cifar100 (python archives), tiny_imagenet (the official "
          "tiny-imagenet-200 folder), facescrub (image folder train/<person>, test/<person>)",
    notes="Only the cost is measured (2 epochs per row). The comparison 'MFD makes an epoch "
          "slower' is shown when the +MFD epoch is significantly longer. Memory is measured "
          "in a fresh process per run; see the script's docstring for what it includes.")

if __name__ == "__main__":
    raise SystemExit(main(EXPERIMENT))
