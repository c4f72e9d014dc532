"""The W-Softmax paper, Figure 4: test accuracy against the number of FC units d, softmax vs
W-Softmax, on MNIST, CIFAR-10 and CIFAR-100, and the FC layer's parameter memory.

Paper: Xiaobin Li and Weiqiang Wang, "Learning Discriminative Features Via Weights-biased
Softmax Loss", sections 3 and 5.2: with K classes, accuracy rises with d up to d = K - 1
(9 for MNIST / CIFAR-10, 99 for CIFAR-100) and then stays about flat, while the memory of
the FC layer keeps growing; with very many units the original softmax overfits on MNIST
and W-Softmax does not. d is the width of the L-Softmax CNN's FC layer, the feature handed
to the classifier (``model.kwargs.fc_dim``, 256 in Tables 1/2).

Decisions where the paper is silent (its figure has an uneven axis whose values did not
survive the text): d = round(f * (K - 1)) for f in 1/4, 1/2, 8/9, 1, 2, 10, 30 (the paper
mentions overfitting "when d gets to ... 30 x (K - 1)" on MNIST); W-Softmax with
alpha = 1.5 (the paper does not say which alpha it drew); the rest as Tables 1/2.
The memory panel is computed from the layer shapes (float32 parameters of the FC layer
and the classifier), not measured.

    python experiments/w_softmax_fig4_fc_units.py --data-dir mnist=/data/mnist \\
        --data-dir cifar10=/data/cifar10 --data-dir cifar100=/data/cifar100
"""

import numpy as np

from _figures import plt, save
from _runner import Experiment, Figure, Row, main

T = "Figure 4: test accuracy (%) against the FC units d"
W_ALPHA = "1.5"
FRACTIONS = (0.25, 0.5, 8 / 9, 1, 2, 10, 30)
# (config dataset, column, classes K, flattened conv output feeding the FC layer, input size)
DATASETS = (("mnist", "MNIST", 10, 3 * 3 * 64, 0), ("cifar10", "CIFAR-10", 10, 3 * 3 * 128, 32),
            ("cifar100", "CIFAR-100", 100, 3 * 3 * 128, 32))
METHODS = (("softmax", "softmax", "softmax"), ("w", W_ALPHA, f"W-Softmax (alpha={W_ALPHA})"))


def units(k: int) -> list[int]:
    return sorted({max(2, round(f * (k - 1))) for f in FRACTIONS})


# --smoke trains one width per (dataset, method): the sweep is one config field.
SMOKE = ("model.kwargs.fc_dim=9",)

ROWS = [
    Row(f"{ds}_d{d}_{m}", f"w_softmax:{ds},{method}", T, f"d={d}", f"{col} {name}",
        data=ds, input_size=size, overrides=(f"model.kwargs.fc_dim={d}",),
        smoke_overrides=SMOKE)
    for ds, col, k, _, size in DATASETS for d in units(k) for m, method, name in METHODS
]


def fc_params(d: int, *, flat: int, k: int, bias: bool) -> int:
    """Parameters of FC (flat -> d, bias, PReLU slopes) and the classifier (d -> k)."""
    return flat * d + d + d + d * k + (k if bias else 0)


def draw(ctx: dict, path: str) -> None:
    rows = ctx["rows"]
    p = plt()
    fig, axes = p.subplots(1, 4, figsize=(15, 3.6))
    drawn = False
    for ax, (ds, col, k, flat, _) in zip(axes, DATASETS):
        for m, _, name in METHODS:
            xs, ms, ss = [], [], []
            for d in units(k):
                r = rows.get(f"{ds}_d{d}_{m}")
                if r is None or not r["n"]:
                    continue
                xs.append(d)
                ms.append(r["mean"])
                ss.append(r["std"] if r["n"] > 1 else 0.0)
            if xs:
                ax.errorbar(xs, ms, yerr=ss, marker="o", ms=3, capsize=2, label=name)
                drawn = True
        ax.axvline(k - 1, color="gray", ls=":", lw=1, label=f"d = K - 1 = {k - 1}")
        ax.set_xscale("log")
        ax.set_xlabel("FC units d")
        ax.set_title(col, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test top-1 (%)")
    axes[0].legend(fontsize=7)
    ax = axes[3]
    for ds, col, k, flat, _ in DATASETS:
        ds_units = units(k)
        ax.plot(ds_units, [4 * fc_params(d, flat=flat, k=k, bias=True) / 1024 for d in ds_units],
                marker="o", ms=3, label=col)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("FC units d")
    ax.set_ylabel("FC + classifier parameters (KiB, float32)")
    ax.set_title("parameter memory (computed)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if not drawn:
        p.close(fig)
        return
    save(p, fig, path)


FIGURES = [
    Figure("figure4_fc_units.png",
           "Test accuracy against the number of FC units d (mean ± std over seeds), softmax "
           "and W-Softmax, the dotted line at d = K - 1; right: the FC layer's parameter "
           "memory (the paper's Figure 4).", draw,
           differs=f"the d values are ours (the paper's axis did not survive the text); "
                   f"W-Softmax alpha = {W_ALPHA}; memory computed from the shapes."),
]

EXPERIMENT = Experiment(
    ci_rows=('mnist_d9_softmax', 'mnist_d9_w'),   # CI smoke: every figure/analysis once
    title="W-Softmax paper, Figure 4: accuracy against the number of FC units",
    script="w_softmax_fig4_fc_units.py", rows=ROWS, figures=FIGURES,
    default_workdir="w_softmax/figure4",
    needs="MNIST (the four IDX files), CIFAR-10 and CIFAR-100 (python archives): "
          "--data-dir mnist=... cifar10=... cifar100=...",
    notes="The paper gives Figure 4 as curves only: no paper numbers per cell. The claim it "
          "illustrates (accuracy saturates at d = K - 1) is read from the figure.")

if __name__ == "__main__":
    raise SystemExit(main(EXPERIMENT))
