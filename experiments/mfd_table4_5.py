"""The MFD paper (Zhu, Wang, Zu, Liu, "Multi-stage feature decorrelation constraints for
improving CNN classification performance"), Tables IV and V, with Tables I/III and
Figures 1, 4, 5 and 6 drawn from the same runs.

* Tables IV (ResNet50) and V (ResNeXt50, DenseNet121, MobileNetV2): softmax vs softmax +
  MFD (five stages, lambda = 1) on CIFAR-10, CIFAR-100, Tiny ImageNet and FaceScrub;
  rows = networks, columns = dataset x {softmax, softmax + MFD}; each +MFD cell is
  compared with its softmax cell (Welch t-test over the seeds).
* Tables I / III: the mean |correlation| between the channels of stages 0-4 of the
  ResNet50 CIFAR-100 runs (softmax: Table I, softmax + MFD: Table III), measured by the
  trainer at the last evaluation on the first ``correlation.batch_size`` (256) test
  images, beside the paper's numbers (``mfdjax.configs._presets.MFD_STAGE_CORRELATION``).
* Figures 1/4/5: the first 64 channel maps of stage 0 (Figures 1 and 4) and stage 1
  (Figure 5) for the first test image, softmax beside softmax + MFD; plus per-stage
  channel x channel |correlation| heat maps (not in the paper).
* Figure 6: test top-1 per epoch, mean and min-max band over the seeds.

The paper's recipe (``mfdjax.configs._presets.paper_recipe``): SGD 0.9, weight decay 5e-4,
lr 0.1 x0.1 at epochs 30/60/90 of 100, batch 128, pad-4 crop + flip; ResNet50, ResNeXt50,
DenseNet121 with a 3x3 stride-1 first conv (max-pool kept only on the 64x64 datasets);
MobileNetV2 unmodified (its CIFAR stem is the named option ``...,adapted``). Mean of 3 runs.

    python experiments/mfd_table4_5.py --data-dir cifar10=/data/c10 \\
        --data-dir cifar100=/data/c100 --data-dir tiny_imagenet=/data/tiny-imagenet-200 \\
        --data-dir facescrub=/data/facescrub
    python experiments/mfd_table4_5.py --only resnet50_cifar100_softmax \\
        resnet50_cifar100_mfd --data-dir cifar100=/data/c100     # Tables I/III, Figs 1-6

Data: CIFAR-10/100 python archives (cifar-10-python.tar.gz / cifar-100-python.tar.gz) in
their roots; Tiny ImageNet as the official tiny-imagenet-200 folder; FaceScrub as an image
folder train/<person>/*, test/<person>/* (100 identities, 64x64; the paper's split is not
published). None of them is reachable on the project's machines.
"""

from _figures import curve_band
from _mfd_tools import correlation_heatmaps, feature_grid
from _runner import Comparison, Experiment, Figure, Row, main

from mfdjax.configs._presets import MFD_STAGE_CORRELATION, MFD_TABLE

NETWORKS = {"resnet50": "ResNet50", "resnext50_32x4d": "ResNeXt50",
            "densenet121": "DenseNet121", "mobilenet_v2": "MobileNetV2"}
DATASETS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100",
            "tiny_imagenet": "Tiny ImageNet", "facescrub": "FaceScrub"}
SPEC = {"cifar10": "mfd_cifar:{m},cifar10,{v}", "cifar100": "mfd_cifar:{m},cifar100,{v}",
        "tiny_imagenet": "mfd_tiny_imagenet:{m},{v}", "facescrub": "mfd_facescrub:{m},{v}"}
SIZE = {"cifar10": 32, "cifar100": 32, "tiny_imagenet": 64, "facescrub": 64}
# --smoke reads Fashion-MNIST, whose splits are train/test (Tiny ImageNet tests on "val").
SMOKE = {"tiny_imagenet": ("dataset.test_split=test",)}
VARIANTS = (("softmax", "softmax", 0), ("mfd", "softmax + MFD", 1))
STAGES = tuple(f"corr/{i}" for i in range(5))


def table_of(model: str) -> str:
    return ("Table IV: ResNet50, softmax vs softmax + MFD (top-1 %)" if model == "resnet50"
            else "Table V: other CNNs, softmax vs softmax + MFD (top-1 %)")


ROWS, COMPARISONS = [], []
for model, net in NETWORKS.items():
    for dataset, dname in DATASETS.items():
        paper = MFD_TABLE[(model, dataset)]
        labels = []
        for variant, vname, k in VARIANTS:
            label = f"{model}_{dataset}_{variant}"
            labels.append(label)
            ROWS.append(Row(label, SPEC[dataset].format(m=model, v=variant), table_of(model),
                            net, f"{dname} {vname}", paper=paper[k], data=dataset,
                            input_size=SIZE[dataset], extra_metrics=STAGES,
                            smoke_overrides=SMOKE.get(dataset, ())))
        COMPARISONS.append(Comparison(
            table_of(model), labels[0], labels[1],
            claim=f"{net} {dname}: softmax + MFD beats softmax (paper: {paper[0]:.2f} -> "
                  f"{paper[1]:.2f})"))

# Tables I / III: the per-stage correlations of the ResNet50 CIFAR-100 runs, as cells.
T13 = "Tables I / III: mean |correlation| between channels, ResNet50 CIFAR-100"
for variant, vname, src in (("softmax", "softmax (Table I)", "resnet50_cifar100_softmax"),
                            ("softmax_mfd", "softmax + MFD (Table III)",
                             "resnet50_cifar100_mfd")):
    for i, v in enumerate(MFD_STAGE_CORRELATION[variant]):
        ROWS.append(Row(f"table{'1' if variant == 'softmax' else '3'}_stage{i}",
                        ROWS[[r.label for r in ROWS].index(src)].spec, T13, vname,
                        f"stage {i}", paper=v, metric=f"corr/{i}", lower_is_better=True,
                        runs_of=src, data="cifar100", input_size=32))
for i in range(5):
    COMPARISONS.append(Comparison(
        T13, f"table1_stage{i}", f"table3_stage{i}", lower_is_better=True,
        claim=f"MFD lowers the mean |correlation| of stage {i} (paper: "
              f"{MFD_STAGE_CORRELATION['softmax'][i]} -> "
              f"{MFD_STAGE_CORRELATION['softmax_mfd'][i]})"))

PAIR = ("resnet50_cifar100_softmax", "resnet50_cifar100_mfd")
NAMES = {PAIR[0]: "softmax", PAIR[1]: "softmax + MFD"}
FIGURES = [
    Figure("fig4_stage0_feature_maps.png",
           "Figures 1 and 4: the first 64 channel maps after stage 0 of ResNet50 (CIFAR-100, "
           "first test image, seed 0), softmax (Figure 1 / left of Figure 4) and softmax + "
           "MFD.", feature_grid(PAIR, stage=0, names=NAMES),
           differs="no boxes around similar maps (the paper marks them by eye); each map is "
                   "scaled to its own range; the paper does not say which test image."),
    Figure("fig5_stage1_feature_maps.png",
           "Figure 5: the first 64 channel maps after stage 1 of ResNet50 (CIFAR-100, first "
           "test image, seed 0), softmax and softmax + MFD.",
           feature_grid(PAIR, stage=1, names=NAMES),
           differs="as Figure 4."),
    Figure("stage_correlation_heatmaps.png",
           "Per-stage |correlation| between channels (channel x channel) of ResNet50 on "
           "CIFAR-100, softmax (top) and softmax + MFD (bottom), seed 0: the matrices whose "
           "off-diagonal means are Tables I and III.", correlation_heatmaps(PAIR, names=NAMES),
           differs="not a figure of the paper; stages wider than 256 channels show their "
                   "first 256."),
    Figure("fig6_accuracy_per_epoch.png",
           "Figure 6: test top-1 per epoch of ResNet50 on CIFAR-100, softmax vs softmax + "
           "MFD, mean and min-max band over the seeds.", curve_band(PAIR, names=NAMES),
           differs="the paper shows one curve per loss (no seeds band)."),
]

EXPERIMENT = Experiment(
    ci_rows=('resnet50_cifar100_softmax', 'resnet50_cifar100_mfd', 'table1_stage0', 'table3_stage0'),   # CI smoke: every figure/analysis/section once
    title="MFD paper, Tables IV/V (+ Tables I/III, Figures 1/4/5/6): softmax vs softmax + MFD",
    script="mfd_table4_5.py", rows=ROWS, comparisons=COMPARISONS, figures=FIGURES,
    default_workdir="mfd_table4_5",
    needs="cifar10, cifar100 (python archives), tiny_imagenet (the official "
          "tiny-imagenet-200 folder), facescrub (image folder train/<person>, test/<person>)",
    notes="Each cell: ours mean ± std over seeds (paper). Tables I/III cells read the "
          "ResNet50 CIFAR-100 runs (the trainer's last correlation measurement, first 256 "
          "test images); the paper does not say on how many images it measured.")

if __name__ == "__main__":
    raise SystemExit(main(EXPERIMENT))
