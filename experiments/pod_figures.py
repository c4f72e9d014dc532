"""The POD paper, Figures 2, 3, 5 and 6: the loss derivatives, the SC weight, 2-D features.

Paper: Qiuyu Zhu and Xuewen Zu, "A Softmax-free Loss Function Based on Predefined
Optimal-distribution of Latent Features for CNN Classifier".

* Figures 2 and 3 (section 3.1.1) -- analytic, no training: the derivative with respect
  to theta of (1 - cos theta) (MSE on normalised vectors, eq. 7: sin theta) and of
  (1 - cos theta)^2 (the cosine loss, eq. 9: 2 (1 - cos theta) sin theta), 0 to 180
  degrees; results.md lists where the second reaches 1 and its maximum (the paper: "about
  65 degrees" and "about 2.5").
* Figure 5 (section 4.2.4) -- the total POD loss at the end of training against
  lg(lambda), lambda the weight of the SC term, on the four small datasets
  (``pod_losses:pod,<ds> loss.kwargs.lam=10^x``, x = -2 .. 5); the test top-1 of the same
  runs is drawn beside it. The paper plots only the loss, without numbers.
* Figure 6 (section 4.2.4) -- 2-D latent features x of the test images of MNIST's first
  five classes for softmax, Center loss, AM-Softmax, CM, COT, PEDCC-Loss and POD with
  alpha = 0 and alpha = 0.01, with the class means and (POD heads) the five PEDCC points:
  five points in 2-D (k > n + 1) come from the physical model, a regular pentagon.
  Network (the paper gives none): the L-Softmax-paper CNN with the W-Softmax MNIST recipe
  (``w_softmax:mnist,softmax``: SGD 0.9, lr 0.01 x0.9 every 6000 steps, batch 50, 50
  epochs, xavier (Glorot-uniform) initialisation of every weight, the head's included); for
  the losses with a linear or cosine head its FC layer has 2 units and no PReLU (the 2-D
  feature is the head's input), for the POD-head losses (PEDCC-Loss, POD) FC1 of the head
  maps the CNN's 256-d feature to 2-D.

    python experiments/pod_figures.py --data-dir mnist=/data/mnist \\
        --data-dir cifar10=/data/cifar10 --data-dir cifar100=/data/cifar100 \\
        --data-dir tiny_imagenet=/data/tiny --data-dir facescrub=/data/facescrub

--smoke: Figure 5 trains lambda = 1 for every lg(lambda) < 5 and lambda = 1e5 (two tiny
runs), the 64-px rows at 32 px; Figure 6 trains one run per head kind (linear: softmax,
cosine: AM-Softmax, POD head: POD) on five Fashion-MNIST classes.
"""

import numpy as np

from _figures import metric_vs_x, plt, save
from _pod import (DATASET_NAMES, INPUT_SIZE, LOSS_NAMES, NEEDS_SMALL, curves_figure,
                  features2d_analysis, scatter_figure, train_loss_analysis)
from _runner import Comparison, Experiment, Figure, Row, main

T5 = "Figure 5: final training loss (POD) vs lg(lambda), ResNet50"
T6 = "Figure 6: 2-D latent features, MNIST classes 0-4 (test top-1 %)"
SMALL = ("cifar10", "cifar100", "tiny_imagenet", "facescrub")
LG = (-2, -1, 0, 1, 2, 3, 4, 5)
SMOKE_AS_CIFAR = ("dataset.resize=32", "model.stem=cifar")

ROWS = []
for ds in SMALL:
    for x in LG:
        smoke = ("loss.kwargs.lam=1.0",) if x < 5 else ()
        if INPUT_SIZE[ds] == 64:
            smoke += SMOKE_AS_CIFAR
        ROWS.append(Row(f"f5_{ds}_lg{x}", f"pod_losses:pod,{ds}", T5, f"lg(lambda) = {x}",
                        DATASET_NAMES[ds], overrides=(f"loss.kwargs.lam={float(10.0 ** x)!r}",),
                        data=ds, input_size=INPUT_SIZE[ds], metric="train_loss_final",
                        analysis=train_loss_analysis, lower_is_better=True,
                        extra_metrics=("top1",), smoke_overrides=smoke))

FIVE = ("dataset.classes=(0,1,2,3,4)",)
FC2 = ("model.kwargs.fc_dim=2", "model.kwargs.fc_activation=False")
FIG6 = {   # label -> (panel name, overrides); the paper's panels (a)-(h)
    "f6_center": ("(a) " + LOSS_NAMES["center"], FC2 + ("loss.name=center", "model.head=linear")),
    "f6_am_softmax": ("(b) " + LOSS_NAMES["am_softmax"],
                      FC2 + ("loss.name=am_softmax", "model.head=cosine")),
    "f6_cm": ("(c) CM", FC2 + ("loss.name=combined_margin", "model.head=cosine")),
    "f6_pedcc": ("(d) " + LOSS_NAMES["pedcc"],
                 ("loss.name=pedcc", "model.head=pod", "model.head_kwargs.dim=2")),
    "f6_softmax": ("(e) Softmax", FC2 + ("loss.name=softmax", "model.head=linear")),
    "f6_cot": ("(f) COT", FC2 + ("loss.name=cot", "model.head=linear")),
    "f6_pod_alpha0": ("(g) POD (alpha=0, lambda=1)",
                      ("loss.name=pod", "model.head=pod", "model.head_kwargs.dim=2",
                       "loss.delta_alpha=0.0")),
    "f6_pod": ("(h) POD (alpha=0.01, lambda=1)",
               ("loss.name=pod", "model.head=pod", "model.head_kwargs.dim=2")),
}
FEAT2D = features2d_analysis()
# --smoke trains one run per head kind (the losses themselves are smoke-tested by
# pod_table4_losses.py): linear -> softmax, cosine -> AM-Softmax, POD head -> POD.
SMOKE6 = {"linear": FC2 + ("loss.name=softmax",), "cosine": FC2 + ("loss.name=am_softmax",),
          "pod": ("loss.name=pod", "loss.delta_alpha=0.01")}
for label, (name, ov) in FIG6.items():
    head = [o.split("=", 1)[1] for o in ov if o.startswith("model.head=")][0]
    ROWS.append(Row(label, "w_softmax:mnist,softmax", T6, name, "MNIST 0-4", overrides=FIVE + ov,
                    data="mnist", analysis=FEAT2D, extra_metrics=("fig6_points",),
                    smoke_overrides=SMOKE6[head]))

COMPARISONS = [Comparison(T6, "f6_softmax", "f6_pod", metric="top1", lower_is_better=False,
                          claim="POD beats softmax with 2-D features (MNIST classes 0-4)"),
               Comparison(T6, "f6_pod_alpha0", "f6_pod", metric="top1", lower_is_better=False,
                          claim="alpha = 0.01 beats alpha = 0 (2-D POD, MNIST classes 0-4)")]

THETA = np.linspace(0.0, 180.0, 721)
RAD = np.radians(THETA)
D_MSE = np.sin(RAD)                          # d/dtheta (1 - cos theta)
D_COS = 2.0 * (1.0 - np.cos(RAD)) * np.sin(RAD)   # d/dtheta (1 - cos theta)^2


def _crossing_one() -> float:
    """The angle (degrees) below 120 where 2 (1 - cos t) sin t = 1 (bisection)."""
    f = lambda t: 2.0 * (1.0 - np.cos(t)) * np.sin(t) - 1.0  # noqa: E731
    lo, hi = np.radians(1.0), np.radians(120.0)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
    return float(np.degrees(lo))


def analytic_section(res: dict) -> str:
    peak = int(np.argmax(D_COS))
    return "\n".join([
        "## Figures 2 and 3 (analytic)", "",
        "| quantity | ours (computed) | paper |", "|---|---|---|",
        f"| max of sin(theta) on [0, 180] | {D_MSE.max():.4f} at {THETA[np.argmax(D_MSE)]:.1f} "
        "deg | <= 1, largest at 90 deg |",
        f"| theta where 2 (1 - cos theta) sin theta = 1 | {_crossing_one():.2f} deg | "
        "about 65 deg |",
        f"| max of 2 (1 - cos theta) sin theta | {D_COS[peak]:.4f} at {THETA[peak]:.1f} deg "
        "(exactly 3 sqrt(3) / 2 at 120 deg) | about 2.5 |", ""])


def figure5(ctx: dict, path: str) -> None:
    """Final training loss (left) and test top-1 (right) against lg(lambda), per dataset."""
    rows = ctx["rows"]
    p = plt()
    fig, axes = p.subplots(1, 2, figsize=(10, 3.8))
    drawn = False
    for ds in SMALL:
        for ax, key in zip(axes, ("train_loss_final", "top1")):
            xs, ms = [], []
            for x in LG:
                r = rows.get(f"f5_{ds}_lg{x}")
                if r is None or not r["n"]:
                    continue
                vals = r["values"] if r["metric"] == key else r["extra"].get(key, {}).get(
                    "values", [])
                if vals:
                    xs.append(x)
                    ms.append(float(np.mean(vals)))
            if xs:
                ax.plot(xs, ms, marker="o", label=DATASET_NAMES[ds])
                drawn = True
    if not drawn:
        p.close(fig)
        return
    for ax, ylabel in zip(axes, ("total training loss (last epoch)", "test top-1 (%)")):
        ax.set_xlabel("lg(lambda)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    save(p, fig, path)


FIGURES = [
    Figure("figure2_sin.png", "d/dtheta (1 - cos theta) = sin theta on [0, 180] degrees (the "
           "paper's Figure 2).",
           curves_figure([("sin theta", THETA, D_MSE)], xlabel="theta (degrees)",
                         ylabel="derivative")),
    Figure("figure3_cosine_loss_derivative.png",
           "d/dtheta (1 - cos theta)^2 = 2 (1 - cos theta) sin theta on [0, 180] degrees (the "
           "paper's Figure 3), with sin theta for reference.",
           curves_figure([("2 (1 - cos theta) sin theta", THETA, D_COS),
                          ("sin theta", THETA, D_MSE)], xlabel="theta (degrees)",
                         ylabel="derivative", marks=((_crossing_one(), "= 1"),
                                                     (120.0, "max")))),
    Figure("figure5_lambda.png",
           "Total POD training loss at the end of training (left, the paper's Figure 5) and "
           "test top-1 (right) against lg(lambda), the weight of the SC term; mean over seeds.",
           figure5, differs="the paper plots only the loss; the accuracy panel is added."),
    Figure("figure6_features2d.png",
           "2-D latent features of the test images of five classes per loss (the paper's "
           "Figure 6, first seed): one colour per class, class means in black, the PEDCC "
           "points of the POD heads as black circles (scaled to a quarter of the median "
           "feature norm).", scatter_figure(list(FIG6), names={k: v[0] for k, v in FIG6.items()}),
           differs="the network and recipe (the paper gives neither): see the script."),
]

EXPERIMENT = Experiment(
    title="POD paper, Figures 2, 3, 5 and 6: derivatives, the SC weight, 2-D features",
    script="pod_figures.py", rows=ROWS, comparisons=COMPARISONS, figures=FIGURES,
    default_workdir="pod/figures", sections=(analytic_section,),
    ci_rows=("f5_cifar10_lg-2", "f6_pod"),
    needs=NEEDS_SMALL + "; MNIST (the four IDX files: --data-dir mnist=DIR) for Figure 6",
    notes="Figures 2 and 3 are computed from the equations (no training). Figure 5's and 6's "
          "runs follow the settings in the script's docstring.")

if __name__ == "__main__":
    raise SystemExit(main(EXPERIMENT))
