"""The POD paper, Table IX: cosine-distance vs Gaussian-discriminant-analysis classifier.

Paper: Qiuyu Zhu and Xuewen Zu, "A Softmax-free Loss Function Based on Predefined
Optimal-distribution of Latent Features for CNN Classifier", section 4.2.6. A POD-trained
ResNet50 (``pod_losses:pod,<ds>``, the Table IV recipe) classifies its test images by the
cosine to the PEDCC points (eqs. 21-24: the network's own head) and by GDA: one Gaussian
per class (mean and covariance) fitted on the latent features x of the training images,
predicting the most likely class. Both classifiers read the same test features.

GDA settings the paper does not give: per-class covariances (the paper: "each class has
different class conditional probability densities"), Ledoit-Wolf shrinkage toward a scaled
identity (CIFAR100 has 500 training images per class for n = 512 features: the plain
covariance is singular), empirical class priors, training features computed without
augmentation (mfdjax.train.analysis.gda_evaluate; the same as
``mfdjax eval --workdir RUN --classifier gda``).

    python experiments/pod_table9_gda.py --data-dir cifar10=/data/cifar10 \\
        --data-dir cifar100=/data/cifar100 --data-dir tiny_imagenet=/data/tiny

--smoke: GDA is fitted on 600 training images and scored on 200 test images; the Tiny
ImageNet row trains at 32 px (shared with the CIFAR rows' tiny run).
"""

from _pod import DATASET_NAMES, INPUT_SIZE, gda_analysis, pair_bars
from _runner import Comparison, Experiment, Figure, Row, main

T = "Table IX: test top-1 (%) of two classifiers on POD features, ResNet50"
TABLE9 = {"cifar10": (94.31, 94.23), "cifar100": (79.17, 74.37), "tiny_imagenet": (64.58, 51.09)}
GDA = gda_analysis()
SMOKE_AS_CIFAR = ("dataset.resize=32", "model.stem=cifar")

ROWS, COMPARISONS = [], []
for ds, (cos, gda) in TABLE9.items():
    ROWS += [
        Row(f"cosine_{ds}", f"pod_losses:pod,{ds}", T, DATASET_NAMES[ds], "Cosine distance",
            paper=cos, data=ds, input_size=INPUT_SIZE[ds], metric="cosine_top1", analysis=GDA,
            extra_metrics=("top1", "gda_train_top1"),
            smoke_overrides=SMOKE_AS_CIFAR if INPUT_SIZE[ds] == 64 else ()),
        Row(f"gda_{ds}", f"pod_losses:pod,{ds}", T, DATASET_NAMES[ds],
            "Gaussian discrimination analysis", paper=gda, metric="gda_top1",
            runs_of=f"cosine_{ds}"),
    ]
    COMPARISONS.append(Comparison(T, f"gda_{ds}", f"cosine_{ds}", metric="cosine_top1",
                                  metric_a="gda_top1", lower_is_better=False,
                                  claim=f"the cosine classifier beats GDA ({DATASET_NAMES[ds]})"))

FIGURES = [
    Figure("table9_cosine_vs_gda.png",
           "Test top-1 of the cosine (PEDCC) classifier and of GDA fitted on the training "
           "features of the same POD-trained network (the paper's Table IX); bars ours "
           "(mean ± std over seeds), dashes the paper.",
           pair_bars([(f"cosine_{ds}", DATASET_NAMES[ds]) for ds in TABLE9],
                     metric_a="cosine_top1", metric_b="gda_top1", name_a="cosine",
                     name_b="GDA", ylabel="test top-1 (%)",
                     paper={f"cosine_{ds}": v for ds, v in TABLE9.items()})),
]

EXPERIMENT = Experiment(
    title="POD paper, Table IX: cosine distance vs GDA on POD features",
    script="pod_table9_gda.py", rows=ROWS, comparisons=COMPARISONS, figures=FIGURES,
    default_workdir="pod/table9_gda",
    needs="CIFAR-10 / CIFAR-100 (the python archives: --data-dir cifar10=DIR cifar100=DIR) "
          "and Tiny ImageNet as an image folder (--data-dir tiny_imagenet=DIR)",
    notes="Both columns of a dataset come from the same runs (the GDA cells read the cosine "
          "cells' runs); the comparison 'cosine beats GDA' is a Welch test over the seeds, "
          "conservative for these paired values (the per-seed values are listed below).")

if __name__ == "__main__":
    raise SystemExit(main(EXPERIMENT))
