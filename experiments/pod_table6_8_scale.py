"""The POD paper, Tables VI, VII and VIII: softmax vs POD across datasets and networks.

Paper: Qiuyu Zhu and Xuewen Zu, "A Softmax-free Loss Function Based on Predefined
Optimal-distribution of Latent Features for CNN Classifier", sections 4.2.4-4.2.5.

* Table VI -- ResNet50, softmax vs POD on CIFAR10, CIFAR100, Tiny ImageNet, FaceScrub
  (``pod_losses:<loss>,<ds>``, the Table IV cells) and on the first N classes of ImageNet,
  N = 30 / 100 / 200 / 500 / 1000 (``pod_imagenet:N,<loss>``: ImageNet stem, batch 96,
  weight decay 1e-4, RandomResizedCrop 224 / resize 256 + centre crop 224, PEDCC
  dimension 256 / 512 / 512 / 1024 / 2048 from Table III);
* Table VII -- ResNet50, DenseNet121, MobileNetV2 on the four small datasets
  (``pod_networks:<net>,<ds>,<loss>``);
* Table VIII -- ViT-B/16 and Swin-B at 224 x 224 on CIFAR100, FaceScrub and ImageNet(100 /
  500 / 1000) (``pod_transformers:<net>,cifar100|facescrub|imagenet<N>,<loss>``; the
  ImageNet rows are the CIFAR100 recipe with the dataset switched to ImageNet's first N
  classes, which the config does itself).

Settings of the transformer rows (see ``mfdjax/configs/pod_transformers.py`` for the
rest): the POD head maps to n = the backbone's own width (768 for ViT-B/16, 1024 for
Swin-B) on every dataset, as the paper reads it: "the feature dimension n after the last
feature extraction layer of ViT-B/16 is only 768 (k <= n + 1 is not satisfied)". For k =
1000 > n + 1 (ViT-B/16, ImageNet(1000)) the PEDCC points then come from the physical model
(charges on the hypersphere) instead of the regular simplex. ViT-B/16 starts from
ImageNet-21k weights in the paper: give them with ``model.kwargs.pretrained=PATH`` (the
official .npz; without it the ViT rows start from random weights, which is NOT the paper).

    python experiments/pod_table6_8_scale.py --only softmax_in100 pod_in100 \\
        --data-dir imagenet=/data/tfds
    python experiments/pod_table6_8_scale.py --only densenet121_cifar100_softmax \\
        densenet121_cifar100_pod --data-dir cifar100=/data/cifar100

--smoke runs every row on a Fashion-MNIST slice with the tiny width of its network; the
64-px rows share the 32-px rows' tiny runs (trained at 32 px with the 32-px stem), and the
transformer rows train the tiny ViT / Swin at their native 32 px (not 224).
"""

from _pod import DATASET_NAMES, INPUT_SIZE, NEEDS_SMALL
from _runner import Comparison, Experiment, Row, main

from mfdjax.configs.pod_imagenet import PAPER as IMAGENET
from mfdjax.configs.pod_losses import PAPER as TABLE4
from mfdjax.configs.pod_transformers import PAPER as TABLE8

T6 = "Table VI: softmax vs POD, ResNet50, test top-1 (%)"
T7 = "Table VII: softmax vs POD on three CNNs, test top-1 (%)"
T8 = "Table VIII: softmax vs POD on transformers (224 x 224), test top-1 (%)"
SMALL = ("cifar10", "cifar100", "tiny_imagenet", "facescrub")
COLS = {"softmax": "Softmax Loss", "pod": "POD Loss"}

# Table VII (softmax, POD) per network and dataset, from the paper.
TABLE7 = {
    "resnet50": {"cifar10": (93.25, 94.31), "cifar100": (76.42, 79.17),
                 "tiny_imagenet": (62.10, 64.58), "facescrub": (91.04, 95.22)},
    "densenet121": {"cifar10": (94.24, 94.61), "cifar100": (77.90, 79.38),
                    "tiny_imagenet": (61.76, 64.12), "facescrub": (95.29, 95.81)},
    "mobilenet_v2": {"cifar10": (84.31, 86.00), "cifar100": (52.41, 55.66),
                     "tiny_imagenet": (46.34, 49.90), "facescrub": (87.84, 88.88)},
}
NET_NAMES = {"resnet50": "ResNet50", "densenet121": "DenseNet121", "mobilenet_v2": "MobileNetV2",
             "vit_b16": "ViT-B/16", "swin_b": "Swin-B"}
# The first conv of each network on 32-px images (the 64-px rows' smoke runs use it).
STEM32 = {"resnet50": "cifar", "densenet121": "cifar", "mobilenet_v2": "imagenet"}
IMAGENET_TEST = ("dataset.test_split=test",)   # --smoke: Fashion-MNIST's split names
# --smoke: the tiny ViT / Swin at their native 32 px (vit_mini's 4-px patches at 224 px
# make 3,136 tokens: measured, a 31 GB attention buffer on the CPU).
SMOKE_TRANSFORMER = ("dataset.resize=32", "model.kwargs.image_size=32")


def _smoke64(net: str, ds: str) -> tuple[str, ...]:
    return ("dataset.resize=32", f"model.stem={STEM32[net]}") if INPUT_SIZE[ds] == 64 else ()


ROWS, COMPARISONS = [], []
for i, loss in enumerate(("softmax", "pod")):
    for ds in SMALL:
        ROWS.append(Row(f"{loss}_{ds}", f"pod_losses:{loss},{ds}", T6, DATASET_NAMES[ds],
                        COLS[loss], paper=TABLE4[loss][SMALL.index(ds)], data=ds,
                        input_size=INPUT_SIZE[ds], smoke_overrides=_smoke64("resnet50", ds)))
    for n, papers in IMAGENET.items():
        ROWS.append(Row(f"{loss}_in{n}", f"pod_imagenet:{n},{loss}", T6, f"ImageNet({n})",
                        COLS[loss], paper=papers[i], data="imagenet", input_size=224,
                        smoke_overrides=IMAGENET_TEST))
COMPARISONS += [Comparison(T6, f"softmax_{k}", f"pod_{k}",
                           claim=f"POD beats softmax (ResNet50, {name})")
                for k, name in [(ds, DATASET_NAMES[ds]) for ds in SMALL]
                + [(f"in{n}", f"ImageNet({n})") for n in IMAGENET]]

for net, cells in TABLE7.items():
    if net == "resnet50":
        continue   # Table VII's ResNet50 rows are Table VI's (the same runs' configs)
    for ds, papers in cells.items():
        for i, loss in enumerate(("softmax", "pod")):
            ROWS.append(Row(f"{net}_{ds}_{loss}", f"pod_networks:{net},{ds},{loss}", T7,
                            f"{NET_NAMES[net]} {DATASET_NAMES[ds]}", COLS[loss],
                            paper=papers[i], data=ds, input_size=INPUT_SIZE[ds],
                            smoke_overrides=_smoke64(net, ds)))
        COMPARISONS.append(Comparison(T7, f"{net}_{ds}_softmax", f"{net}_{ds}_pod",
                                      claim=f"POD beats softmax ({NET_NAMES[net]}, "
                                            f"{DATASET_NAMES[ds]})"))
# Table VII's ResNet50 cells: the Table VI runs, shown again in Table VII's layout.
for ds in SMALL:
    for loss in ("softmax", "pod"):
        ROWS.append(Row(f"resnet50_{ds}_{loss}", f"pod_losses:{loss},{ds}", T7,
                        f"ResNet50 {DATASET_NAMES[ds]}", COLS[loss],
                        paper=TABLE7["resnet50"][ds][loss == "pod"], runs_of=f"{loss}_{ds}"))

# Table VIII: every setting (dataset, PEDCC dimension) comes from the config itself.
for net, cells in TABLE8.items():
    for ds, papers in cells.items():
        if ds.startswith("imagenet"):
            n = int(ds[len("imagenet"):])
            name, tag, data = f"ImageNet({n})", f"in{n}", "imagenet"
        else:
            name, tag, data = DATASET_NAMES[ds], ds, ds
        for i, loss in enumerate(("softmax", "pod")):
            ROWS.append(Row(f"{net}_{tag}_{loss}", f"pod_transformers:{net},{ds},{loss}",
                            T8, f"{NET_NAMES[net]} {name}", COLS[loss], paper=papers[i],
                            data=data, input_size=224,
                            smoke_overrides=SMOKE_TRANSFORMER
                            + (IMAGENET_TEST if data == "imagenet" else ())))
        COMPARISONS.append(Comparison(T8, f"{net}_{tag}_softmax", f"{net}_{tag}_pod",
                                      claim=f"POD beats softmax ({NET_NAMES[net]}, {name})"))

EXPERIMENT = Experiment(
    title="POD paper, Tables VI-VIII: softmax vs POD at scale (datasets, CNNs, transformers)",
    script="pod_table6_8_scale.py", rows=ROWS, comparisons=COMPARISONS,
    default_workdir="pod/table6_8_scale",
    ci_rows=("pod_cifar10", "resnet50_cifar10_pod", "mobilenet_v2_cifar10_pod"),
    needs=NEEDS_SMALL + "; ImageNet-1k prepared for TFDS (imagenet2012, --data-dir "
          "imagenet=TFDS_DIR; the first N classes are selected); for the paper's ViT-B/16 "
          "rows the ImageNet-21k ViT-B_16.npz (model.kwargs.pretrained=PATH)",
    notes="Table VII's ResNet50 cells read Table VI's runs. The transformer rows use a POD "
          "head of the backbone's own width (768 / 1024; ViT ImageNet(1000) thus gets "
          "PEDCC points from the physical model, k > n + 1). Times: one GPU, hours per "
          "small-dataset run, days for ImageNet(1000) or Swin-B (estimates, not measured).")

if __name__ == "__main__":
    raise SystemExit(main(EXPERIMENT))
