"""The POD paper, Table IV (and Figure 4): ten loss functions on the small datasets, ResNet50.

Paper: Qiuyu Zhu and Xuewen Zu, "A Softmax-free Loss Function Based on Predefined
Optimal-distribution of Latent Features for CNN Classifier", section 4.2.2. Rows are the
paper's losses, columns its datasets (CIFAR10, CIFAR100, Tiny ImageNet, FaceScrub); every
cell is ``pod_losses:<loss>,<dataset>`` (ResNet50 with the small-image stem, SGD 0.9, lr
0.1 x0.1 at epochs 30/60/90 of 100, batch 128, pad-4 crop + flip; POD-head losses map the
2048-d feature by FC1 to n = 256 (CIFAR10) / 512 (others) dimensions and classify by the
cosine to the fixed PEDCC points, Table III).

Claims tested per dataset: POD beats softmax; NaC beats the cosine loss (the adaptive
delta(e, M)); POD beats NaC (the SC term). Figure 4 (test accuracy per epoch of softmax,
CM, COT, PEDCC-Loss, NaC and POD) is drawn from the CIFAR100 runs (the paper does not name
the dataset of its Figure 4).

    python experiments/pod_table4_losses.py --data-dir cifar10=/data/cifar10 \\
        --data-dir cifar100=/data/cifar100 --data-dir tiny_imagenet=/data/tiny \\
        --data-dir facescrub=/data/facescrub
    python experiments/pod_table4_losses.py --only pod_cifar10 softmax_cifar10 \\
        --data-dir cifar10=/data/cifar10

--smoke trains the 64-px rows (Tiny ImageNet, FaceScrub) at 32 px with the CIFAR stem, so
that they share the CIFAR rows' tiny run (the runner trains each distinct smoke config
once): the smoke run checks the table's pipeline, not the max-pool stem.
"""

from _figures import curve_band
from _pod import DATASET_NAMES, INPUT_SIZE, LOSS_NAMES, NEEDS_SMALL
from _runner import Comparison, Experiment, Figure, Row, main

from mfdjax.configs.pod_losses import LOSSES, PAPER, _COL

T = "Table IV: test top-1 (%) of ten losses, ResNet50"
SMOKE_AS_CIFAR = ("dataset.resize=32", "model.stem=cifar")

ROWS = [
    Row(f"{loss}_{ds}", f"pod_losses:{loss},{ds}", T, LOSS_NAMES[loss], DATASET_NAMES[ds],
        paper=PAPER[loss][col], data=ds, input_size=INPUT_SIZE[ds],
        smoke_overrides=SMOKE_AS_CIFAR if INPUT_SIZE[ds] == 64 else ())
    for loss in LOSSES for ds, col in _COL.items()
]

COMPARISONS = []
for ds in _COL:
    col = DATASET_NAMES[ds]
    COMPARISONS += [
        Comparison(T, f"softmax_{ds}", f"pod_{ds}", claim=f"POD beats softmax ({col})"),
        Comparison(T, f"cosine_{ds}", f"nac_{ds}",
                   claim=f"NaC beats the cosine loss: the adaptive delta(e, M) helps ({col})"),
        Comparison(T, f"nac_{ds}", f"pod_{ds}", claim=f"POD beats NaC: the SC term helps ({col})"),
    ]

FIG4 = ("softmax", "combined_margin", "cot", "pedcc", "nac", "pod")
FIGURES = [
    Figure("figure4_convergence.png",
           "Test top-1 per epoch of several losses (the paper's Figure 4), CIFAR100, mean and "
           "min-max band over seeds.",
           curve_band([f"{loss}_cifar100" for loss in FIG4],
                      names={f"{loss}_cifar100": LOSS_NAMES[loss] for loss in FIG4}),
           differs="the paper does not name the dataset of Figure 4; CIFAR100 is used here."),
]

EXPERIMENT = Experiment(
    title="POD paper, Table IV and Figure 4: loss functions on small datasets (ResNet50)",
    script="pod_table4_losses.py", rows=ROWS, comparisons=COMPARISONS, figures=FIGURES,
    default_workdir="pod/table4_losses", needs=NEEDS_SMALL,
    ci_rows=("softmax_cifar100", "pod_cifar100"),
    notes="Every cell is the mean of the seeds run (the paper: the average of three "
          "experiments). alpha = 0.01 and lambda = 1 for NaC/POD, m as in the row names; "
          "other settings the paper does not give (Center-loss weight 0.003, the "
          "PEDCC-Loss scale and MSE root, COT's alternating step) are config fields of "
          "mfdjax/configs/base.py and mfdjax/configs/pod_losses.py.")

if __name__ == "__main__":
    raise SystemExit(main(EXPERIMENT))
