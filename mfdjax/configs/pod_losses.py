# The POD paper, Table IV (and Table VI's first rows): ten losses on the small datasets, ResNet50.
#
# Command:   mfdjax train --config pod_losses:pod,cifar100 dataset.data_dir=DIR
#            mfdjax train --config pod_losses:compare,cifar10 dataset.data_dir=DIR  (all ten)
# Losses:    softmax | center | am_softmax | arcface | combined_margin | cot | pedcc | cosine |
#            nac | pod   (POD head: FC1 to n = 256 (CIFAR-10) / 512 (others), fixed PEDCC layer)
# Datasets:  cifar10 | cifar100 | tiny_imagenet | facescrub
# Hardware:  one modern GPU (~1-2 h per run).
# Paper (top-1 %, C10 / C100 / TinyImageNet / FaceScrub):
#   softmax 93.25/76.42/62.10/91.04  center 92.82/76.91/60.71/92.82  AM 92.49/75.99/59.69/93.60
#   ArcFace 92.44/76.41/62.15/93.93  CM 93.19/75.78/59.53/94.39  COT 93.60/76.96/62.21/94.30
#   PEDCC 93.65/77.04/62.97/94.20  cosine 93.83/77.70/62.61/93.01  NaC 94.23/78.24/64.35/95.10
#   POD 94.31/79.17/64.58/95.22
"""The POD paper, Table IV: get_config("loss,dataset") or get_config("compare,dataset")."""

from mfdjax.configs._presets import DATASETS, paper_recipe, parse_arg, set_loss

LOSSES = ("softmax", "center", "am_softmax", "arcface", "combined_margin", "cot", "pedcc",
          "cosine", "nac", "pod")
PAPER = {
    "softmax": (93.25, 76.42, 62.10, 91.04), "center": (92.82, 76.91, 60.71, 92.82),
    "am_softmax": (92.49, 75.99, 59.69, 93.60), "arcface": (92.44, 76.41, 62.15, 93.93),
    "combined_margin": (93.19, 75.78, 59.53, 94.39), "cot": (93.60, 76.96, 62.21, 94.30),
    "pedcc": (93.65, 77.04, 62.97, 94.20), "cosine": (93.83, 77.70, 62.61, 93.01),
    "nac": (94.23, 78.24, 64.35, 95.10), "pod": (94.31, 79.17, 64.58, 95.22),
}
_COL = {"cifar10": 0, "cifar100": 1, "tiny_imagenet": 2, "facescrub": 3}


def get_config(arg=None):
    loss, dataset = parse_arg(arg, 2, ("pod", "cifar100"))
    dim = DATASETS[dataset][3] if dataset in DATASETS else 512
    c = paper_recipe(dataset, "resnet50")
    if loss == "compare":
        c.description = f"the POD paper, Table IV on {dataset}: all ten losses"
        for name in LOSSES:
            head = {"am_softmax": "cosine", "arcface": "cosine", "combined_margin": "cosine",
                    "pedcc": "pod", "cosine": "pod", "nac": "pod", "pod": "pod"}.get(name,
                                                                                   "linear")
            extra = f",model.head_kwargs.dim={dim}" if head == "pod" else ""
            c.comparison[name] = f"loss.name={name},model.head={head}{extra}"
        return c
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES} or 'compare', got {loss!r}.")
    set_loss(c, loss, dim=dim)
    c.description = (f"ResNet50 {dataset} {loss}; paper: "
                     f"{PAPER[loss][_COL[dataset]] if dataset in _COL else 'n/a'}")
    return c
