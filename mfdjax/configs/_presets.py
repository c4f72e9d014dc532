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


def paper_recipe(dataset: str, model: str = "resnet50"):
    """SGD 0.9, wd 5e-4 (coupled), lr 0.1 x0.1 at 30/60/90 of 100 epochs, batch 128,
    pad-4 crop + flip (the MFD paper, section IV.A, the POD paper, section 4)."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {dataset!r}.")
    name, stem, options, _ = DATASETS[dataset]
    c = get_base_config()
    c.dataset.name = name
    c.dataset.options.update(options)
    c.dataset.pad = 4
    c.dataset.flip = True
    c.model.name = model
    c.model.stem = stem
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
