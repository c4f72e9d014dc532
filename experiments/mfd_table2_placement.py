"""The MFD paper (Zhu, Wang, Zu, Liu, "Multi-stage feature decorrelation constraints for
improving CNN classification performance"), Table II: the balance factor lambda, and
where MFD is placed.

* Table II: ResNet50 on CIFAR-100, softmax only and softmax + MFD over the five stages
  with lg(lambda) = -2, -1, 0, 1, 2; each MFD cell is compared with softmax.
* Placement (not a table of the paper): the paper's five stage outputs vs the 16
  bottleneck outputs ("blocks") vs the 49 post-activation maps of the authors' reference
  code ("layers": the stem and all three activations of every bottleneck), lambda = 1.
  No published number; each is compared with the stages placement.
* Figure: top-1 against lambda (log axis), ours (mean ± std over seeds) with the paper's
  points and the softmax mean as a line.

Recipe: the paper's (``mfdjax.configs._presets.paper_recipe``), 100 epochs, mean of 3 runs.

    python experiments/mfd_table2_placement.py --data-dir cifar100=/data/c100

Data: the CIFAR-100 python archive (cifar-100-python.tar.gz) in the cifar100 root.
"""

from _figures import metric_vs_x
from _runner import Comparison, Experiment, Figure, Row, main

from mfdjax.configs.mfd_placement import TABLE_II

T2 = "Table II: ResNet50 CIFAR-100, top-1 (%) against lg(lambda) (MFD at the five stages)"
TP = "Placement of MFD (lambda = 1), ResNet50 CIFAR-100, top-1 (%); not in the paper"
SOFTMAX_PAPER = 76.42
COMMON = dict(data="cifar100", input_size=32, extra_metrics=tuple(f"corr/{i}" for i in range(5)))

ROWS = [Row("softmax", "mfd_cifar:resnet50,cifar100,softmax", T2, "accuracy",
            "softmax only", paper=SOFTMAX_PAPER, **COMMON)]
ROWS += [Row(f"stages_lg{lg}", f"mfd_placement:stages,{lg}", T2, "accuracy",
             f"lg(lambda) = {lg}", paper=p, **COMMON) for lg, p in sorted(TABLE_II.items())]
ROWS += [Row(f"{level}_lg0", f"mfd_placement:{level},0", TP, "accuracy", name, **COMMON)
         for level, name in (("blocks", "16 block outputs"),
                             ("layers", "49 layers (reference code)"))]

COMPARISONS = [
    Comparison(T2, "softmax", f"stages_lg{lg}",
               claim=f"MFD with lambda = 1e{lg} beats softmax (paper: {SOFTMAX_PAPER} -> {p})")
    for lg, p in sorted(TABLE_II.items())
] + [
    Comparison(TP, "stages_lg0", f"{level}_lg0",
               claim=f"MFD at the {level} beats MFD at the five stages (no paper claim)")
    for level in ("blocks", "layers")
]

FIGURES = [
    Figure("table2_lambda.png",
           "Table II as a curve: ResNet50 CIFAR-100 top-1 against lambda (MFD at the five "
           "stages), ours mean ± std over seeds, the paper's points dashed, softmax dotted.",
           metric_vs_x([(10.0 ** lg, f"stages_lg{lg}") for lg in sorted(TABLE_II)],
                       xlabel="lambda", logx=True, baseline="softmax",
                       paper=[(10.0 ** lg, p) for lg, p in sorted(TABLE_II.items())]),
           differs="the paper gives the table only."),
]

EXPERIMENT = Experiment(
    ci_rows=('softmax', 'stages_lg0'),   # CI smoke: every figure/analysis/section once
    title="MFD paper, Table II (lambda) and the placement of MFD (ResNet50, CIFAR-100)",
    script="mfd_table2_placement.py", rows=ROWS, comparisons=COMPARISONS, figures=FIGURES,
    default_workdir="mfd_table2_placement",
    needs="cifar100 (the CIFAR-100 python archive)",
    notes="The paper does not say how lambda was chosen beyond this table; the layers "
          "placement is what the authors' public code runs.")

if __name__ == "__main__":
    raise SystemExit(main(EXPERIMENT))
