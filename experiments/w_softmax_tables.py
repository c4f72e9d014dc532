"""The W-Softmax paper, Tables 1 and 2 (and Figure 5): test accuracy of the L-Softmax CNN
trained with each loss on MNIST, CIFAR-10 and CIFAR-100.

Paper: Xiaobin Li and Weiqiang Wang, "Learning Discriminative Features Via Weights-biased
Softmax Loss". Rows are the paper's methods, columns its datasets (Table 1 is MNIST,
Table 2 CIFAR-10 / CIFAR-100); the paper's other rows (DropConnect, NiN, Maxout, ...) are
other networks quoted from their papers and are not rerun. Rows:

* ``original softmax``: CONVENTIONAL softmax, the FC layer with its bias and unnormalised
  weights (``w_softmax:<ds>,softmax``);
* ``W-Softmax (alpha=0)``: softmax on normalised, bias-free weights -- not in the paper,
  a row of its own: it separates the effect of normalising from that of alpha;
* ``L-Softmax`` (m = 4; the paper quotes the L-Softmax paper's numbers);
* ``W-Softmax (alpha=0.5 / 1 / 1.5)``: softmax for the first half of the steps, then
  W-Softmax (the paper's "train with softmax, then refine").

Figure 5 (mean angle between the features and their class weight, per class, training and
test images) is computed from the MNIST rows' runs (softmax, alpha 0.5 / 1 / 1.5), as the
paper draws it for MNIST. Every setting the paper does not give is a named config field:
see ``mfdjax/configs/w_softmax.py``.

    python experiments/w_softmax_tables.py --data-dir mnist=/data/mnist \\
        --data-dir cifar10=/data/cifar10 --data-dir cifar100=/data/cifar100
    python experiments/w_softmax_tables.py --only cifar10_softmax cifar10_a1.5 \\
        --data-dir cifar10=/data/cifar10
"""

from _runner import Comparison, Experiment, Figure, Row, main
from _wsoftmax import ANGLE_MEANS, angle_analysis, angle_figure

from mfdjax.configs.w_softmax import paper_number

T = "Tables 1/2: test accuracy (%)"
DATASETS = (("mnist", "MNIST", 0), ("cifar10", "CIFAR-10", 32), ("cifar100", "CIFAR-100", 32))
# (label suffix, config method, row name)
METHODS = (("softmax", "softmax", "original softmax"),
           ("a0.0", "0", "W-Softmax (alpha=0, normalised softmax)"),
           ("lsoftmax", "lsoftmax", "L-Softmax (m=4)"),
           ("a0.5", "0.5", "W-Softmax (alpha=0.5)"),
           ("a1.0", "1.0", "W-Softmax (alpha=1)"),
           ("a1.5", "1.5", "W-Softmax (alpha=1.5)"))
FIG5 = ("softmax", "a0.5", "a1.0", "a1.5")
ANGLES = angle_analysis()
# --smoke trains the three alpha > 0 rows of a dataset as one run (alpha = 1): the runner
# trains each distinct smoke config once, and the pipeline is the same for every alpha.
SMOKE_ALPHA = ("loss.kwargs.alpha=1.0",)


def _method_key(method: str):
    return method if method in ("softmax", "lsoftmax") else float(method)


ROWS = [
    Row(f"{ds}_{suffix}", f"w_softmax:{ds},{method}", T, name, col,
        paper=paper_number(ds, _method_key(method)), data=ds, input_size=size,
        analysis=ANGLES if ds == "mnist" and suffix in FIG5 else None,
        extra_metrics=ANGLE_MEANS if ds == "mnist" and suffix in FIG5 else (),
        smoke_overrides=SMOKE_ALPHA if suffix in ("a0.5", "a1.0", "a1.5") else ())
    for ds, col, size in DATASETS for suffix, method, name in METHODS
]

COMPARISONS = [
    Comparison(T, f"{ds}_softmax", f"{ds}_{suffix}",
               claim=f"{name} raises test top-1 over the original softmax ({col})")
    for ds, col, _ in DATASETS for suffix, _, name in METHODS if suffix != "softmax"
] + [
    Comparison(T, "mnist_softmax", f"mnist_{s}", metric="angle/test/mean", lower_is_better=True,
               claim=f"W-Softmax alpha={s[1:]} lowers the mean test angle to the class weight "
                     "(MNIST, Figure 5)")
    for s in FIG5[1:]
]

NAMES = {f"mnist_{s}": n for s, _, n in METHODS}

FIGURES = [
    Figure("figure5_mean_angles.png",
           "Mean angle between the learned features and the weight vector of their class, "
           "per class, MNIST training (left) and test (right) images (the paper's Figure 5, "
           "eq. 14); mean ± std over seeds.",
           angle_figure([f"mnist_{s}" for s in FIG5], names=NAMES),
           differs="training angles on the first 10,000 training images (the paper: all); "
                   "the original softmax's class weight is its FC kernel column (its bias "
                   "plays no part in an angle)."),
]

EXPERIMENT = Experiment(
    ci_rows=('mnist_softmax', 'mnist_a1.5', 'cifar10_lsoftmax'),   # CI smoke: every figure/analysis once
    title="W-Softmax paper, Tables 1/2 and Figure 5: losses on the L-Softmax CNN",
    script="w_softmax_tables.py", rows=ROWS, comparisons=COMPARISONS, figures=FIGURES,
    default_workdir="w_softmax/tables",
    needs="MNIST (the four IDX files), CIFAR-10 and CIFAR-100 (the python archives): "
          "--data-dir mnist=... cifar10=... cifar100=...",
    notes="The original softmax row is conventional softmax (FC with bias, unnormalised "
          "weights); W-Softmax alpha = 0 (normalised, bias-free softmax) is not in the paper. "
          "The paper's softmax, L-Softmax and hinge numbers are those the L-Softmax paper "
          "reports for the same CNN. Settings the paper does not give (run length, the "
          "softmax-then-W-Softmax switch at half the steps, CIFAR augmentation, L-Softmax "
          "m = 4 without annealing) are config fields of mfdjax/configs/w_softmax.py.")

if __name__ == "__main__":
    raise SystemExit(main(EXPERIMENT))
