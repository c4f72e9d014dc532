"""Shared pieces of the full-scale configs (the papers' training recipes; see docs/papers.rst)."""

from __future__ import annotations

from mfdjax.configs.base import get_base_config

# name -> (dataset.name, stem, dataset options, PEDCC dim of the POD paper, Table III)
DATASETS = {
    "cifar10": ("cifar10", "cifar", {}, 256),
    "cifar100": ("cifar100", "cifar", {}, 512),
    # Tiny ImageNet / FaceScrub: image folders (data_dir/<split>/<class>/*.jpg), 64x64; the
    # 64x64 datasets keep the max-pool (the MFD paper, section IV): stem "cifar_pool".
    "tiny_imagenet": ("image_folder", "cifar_pool", {"image_size": 64}, 512),
    "facescrub": ("image_folder", "cifar_pool", {"image_size": 64}, 512),
}

# The networks the MFD paper adapts to small images (section IV: "some modifications are
# made to the original ResNet50, ResNext50 and DenseNet121 structures": 3x3 stride-1 first
# conv, first max-pool removed except on Tiny ImageNet and FaceScrub). MobileNetV2 is
# trained unmodified (the torchvision ImageNet stem: a 32x32 image ends at 1x1).
ADAPTED_STEM_MODELS = ("resnet50", "resnext50_32x4d", "densenet121")
# The stem choice of paper_recipe(stem=...):
#   "paper":   the paper's networks (above; MobileNetV2 with its ImageNet stem);
#   "adapted": a named deviation that also adapts MobileNetV2 (first conv stride 1 and the
#              c=24 group at stride 1 on 32x32, stride 2 on 64x64; see mfdjax.models.mobilenet).
#              Reason to keep it: the common CIFAR MobileNetV2, which keeps 4x4 maps at the
#              end instead of 1x1 and is far more accurate on 32x32 images; the paper's
#              low MobileNetV2 numbers (84.31 % on CIFAR-10) fit the unmodified network.
STEM_CHOICES = ("paper", "adapted")

# Softmax / Softmax + MFD, ResNet50 (the MFD paper, Table IV) and Table V.
MFD_TABLE = {
    ("resnet50", "cifar10"): (93.25, 93.98), ("resnet50", "cifar100"): (76.42, 79.18),
    ("resnet50", "tiny_imagenet"): (62.10, 64.06), ("resnet50", "facescrub"): (90.56, 94.63),
    ("resnext50_32x4d", "cifar10"): (94.05, 94.61),
    ("resnext50_32x4d", "cifar100"): (78.57, 79.71),
    ("resnext50_32x4d", "tiny_imagenet"): (64.23, 65.63),
    ("resnext50_32x4d", "facescrub"): (93.36, 95.09),
    ("densenet121", "cifar10"): (95.01, 95.57), ("densenet121", "cifar100"): (79.91, 80.54),
    ("densenet121", "tiny_imagenet"): (64.73, 65.59), ("densenet121", "facescrub"): (95.61, 96.27),
    ("mobilenet_v2", "cifar10"): (84.31, 86.63), ("mobilenet_v2", "cifar100"): (52.41, 54.99),
    ("mobilenet_v2", "tiny_imagenet"): (46.34, 49.14),
    ("mobilenet_v2", "facescrub"): (87.84, 90.32),
}

# The MFD paper, Tables I and III: mean |correlation| between the channels of stages 0-4 of
# ResNet50 on CIFAR-100 after training with softmax (Table I) and softmax + MFD (Table III).
MFD_STAGE_CORRELATION = {
    "softmax": (0.189, 0.142, 0.120, 0.053, 0.094),
    "softmax_mfd": (0.007, 0.015, 0.034, 0.031, 0.013),
}

# The MFD paper, Table VII (ResNet50): one epoch's training time (s) and GPU memory (MiB),
# softmax and softmax + MFD: dataset -> (time softmax, time +MFD, MiB softmax, MiB +MFD).
# The paper does not name its GPU (PyTorch 1.0; ~11-12 GiB in use).
MFD_TABLE_VII = {
    "cifar10": (69, 105, 11322, 11316), "cifar100": (69, 105, 11304, 11046),
    "tiny_imagenet": (146, 237, 11664, 11666), "facescrub": (23, 38, 12146, 12570),
}


def paper_recipe(dataset: str, model: str = "resnet50", *, stem: str = "paper"):
    """SGD 0.9, wd 5e-4 (coupled), lr 0.1 x0.1 at 30/60/90 of 100 epochs, batch 128,
    pad-4 crop + flip (the MFD paper, section IV.A, the POD paper, section 4).

    ``stem``: "paper" (only :data:`ADAPTED_STEM_MODELS` get the small-image stem; any
    other network keeps its ImageNet stem) or "adapted" (every CNN gets it).
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {dataset!r}.")
    if stem not in STEM_CHOICES:
        raise ValueError(f"stem must be one of {STEM_CHOICES}, got {stem!r}.")
    name, small_stem, options, _ = DATASETS[dataset]
    adapt = stem == "adapted" or model in ADAPTED_STEM_MODELS or model.startswith("resnet")
    c = get_base_config()
    c.dataset.name = name
    c.dataset.options.update(options)
    c.dataset.pad = 4
    c.dataset.flip = True
    c.model.name = model
    c.model.stem = small_stem if adapt else "imagenet"
    c.batch_size = 128
    c.num_epochs = 100
    c.optimizer.name = "sgd"
    c.optimizer.learning_rate = 0.1
    c.optimizer.momentum = 0.9
    c.optimizer.weight_decay = 5e-4
    c.optimizer.schedule = "piecewise"
    c.optimizer.boundaries_epochs = (30, 60, 90)
    c.optimizer.decay_factor = 0.1
    c.eval_batch_size = 500
    c.log_every_steps = 100
    c.checkpoint.every_steps = 2000
    return c


def set_loss(c, loss: str, *, dim: int, scale: float | None = None):
    """The head + loss of the POD paper, Table IV's rows (and the MFD paper, Table VI)."""
    c.loss.name = loss
    if loss in ("am_softmax", "arcface", "combined_margin"):
        c.model.head = "cosine"
        if scale is not None:
            c.loss.kwargs.scale = scale
    elif loss in ("cosine", "nac", "pod", "pedcc"):
        c.model.head = "pod"
        c.model.head_kwargs.dim = dim
    elif loss == "w_softmax":
        c.model.head = "cosine"
    elif loss == "l_softmax":
        c.model.head = "linear"
        c.model.head_kwargs.use_bias = False
    else:
        c.model.head = "linear"
    return c


def parse_arg(arg: str | None, n: int, defaults: tuple) -> list[str]:
    parts = [p for p in (arg or "").split(",") if p] if arg else []
    if len(parts) > n:
        raise ValueError(f"config argument {arg!r} has more than {n} comma-separated fields.")
    return parts + list(defaults[len(parts):])


def set_mfd_variant(c, loss: str):
    """The softmax / softmax + MFD choice of the MFD tables.

    ``""``: both, as a comparison config; ``"softmax"``: MFD off; ``"mfd"`` or
    ``"softmax_mfd"``: MFD on (lambda = 1). Anything else is a ValueError.
    """
    if loss == "":
        c.comparison.softmax = "mfd.weight=0.0"
        c.comparison.softmax_mfd = "mfd.weight=1.0"
    elif loss in ("mfd", "softmax_mfd"):
        c.mfd.weight = 1.0
    elif loss == "softmax":
        c.mfd.weight = 0.0
    else:
        raise ValueError(f"the loss field must be softmax or mfd, got {loss!r}.")
    return c
