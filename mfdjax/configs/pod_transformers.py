# The POD paper, Table VIII: Softmax vs POD on ViT-B/16 and Swin-B, images resized to 224.
#
# Command:   mfdjax train --config pod_transformers:swin_b,cifar100 dataset.data_dir=DIR
#            mfdjax train --config pod_transformers:vit_b16,imagenet100,pod \
#                dataset.data_dir=TFDS_DIR model.kwargs.pretrained=ViT-B_16.npz
# Datasets:  cifar100, facescrub, imagenet<N> (the first N classes of TFDS imagenet2012,
#            N = 30/100/200/500/1000; the paper's rows: 100, 500, 1000).
# POD head:  FC1 to n, then the fixed PEDCC layer, with n = the backbone's own feature width
#            (768 for ViT-B/16, 1024 for Swin-B): the paper's "feature dimension n after the
#            last feature extraction layer", "of ViT-B/16 only 768" (section 4.2.5). A fourth
#            field "table3" gives the Table III n of the dataset instead (512 for CIFAR-100 /
#            FaceScrub, 512/1024/2048 for ImageNet(100/500/1000)).
# Recipes:   ViT-B/16: SGD momentum 0.9, no weight decay, linear warm-up, fine-tuned from
#            ImageNet-21k weights as in the paper: mfdjax ships no weights; give a file of
#            the official ViT release's .npz layout (e.g. ViT-B_16.npz, ImageNet-21k) with
#            model.kwargs.pretrained=PATH (the head is not loaded; '' = random init, which
#            is NOT the paper's setting);
#            Swin-B: AdamW, lr 1e-3, wd 0.05, 300 epochs, cosine, 20 warm-up epochs, batch 256,
#            stochastic depth (drop_path_rate) 0.5: the POD paper is silent on it, so the
#            Swin paper's value for Swin-B (Liu et al. 2021, section 4.1) is used.
#            Every dataset uses the same recipe (the paper gives one per network).
# Hardware:  the paper's: not stated (PyTorch). Here: 8 GPUs (data parallel over the mesh).
# Time:      ESTIMATE (not timed here): Swin-B, 300 epochs of CIFAR-100 at 224x224 (15M
#            images), multi-day on one GPU, about a day on 8; ViT-B/16 fine-tuning for 10
#            epochs, a few hours on one GPU; the ImageNet(N) rows scale with N.
# Paper (top-1 %, softmax / POD): ViT-B/16 CIFAR-100 92.14/92.84, FaceScrub 97.28/97.69,
#            ImageNet(100) 86.66/87.48; Swin-B CIFAR-100 91.67/92.26, FaceScrub 99.13/99.26,
#            ImageNet(100) 89.02/89.14 (all cells: PAPER below).
"""ViT-B/16 / Swin-B, softmax vs POD: get_config("NET,DATASET[,LOSS[,DIM]]").

NET: ``vit_b16`` | ``swin_b``. DATASET: one of :data:`DATASETS` (``cifar100``,
``facescrub``, ``imagenet<N>``). LOSS: ``softmax``, ``pod`` (or any loss name of the
trainer), or ``both`` (default: a comparison config of softmax and POD). DIM, the PEDCC
dimension n of the POD head, one of :data:`PEDCC_DIMS`:

* ``backbone`` (default): n = the backbone's own feature width, :data:`BACKBONE_WIDTH`
  (768 for ViT-B/16, 1024 for Swin-B). The paper explains its ImageNet(1000) result by
  "the feature dimension n after the last feature extraction layer of ViT-B/16 and
  Swin-B", "of ViT-B/16 only 768 (k <= n + 1 is not satisfied)": n is the backbone's
  width, for every dataset. The head keeps the POD network's FC1 (here a width-preserving
  D -> D layer) before the fixed PEDCC layer. For k > n + 1 (ViT-B/16 on ImageNet(1000))
  no regular simplex exists and the PEDCC points come from the physical model;
* ``table3``: n = the POD paper's Table III dimension of the dataset (512 for CIFAR-100
  and FaceScrub; 256/512/512/1024/2048 for ImageNet(30/100/200/500/1000)), the n of the
  ResNet50 rows of Tables VI-VII. Kept as a named option because it isolates the effect
  of the backbone from that of n when the transformer rows are compared with the CNN
  rows, and because it reproduces the CIFAR-100 / FaceScrub runs made before mfdjax 1.0.

The ImageNet datasets use the CIFAR-100 recipe above with the data switched to the first
N classes of TFDS ``imagenet2012`` (test split ``validation``).
"""

from mfdjax.configs._presets import DATASETS as _SMALL, paper_recipe, parse_arg, set_loss
from mfdjax.configs.pod_imagenet import DIMS as _IMAGENET_DIMS

MODELS = ("vit_b16", "swin_b")
#: The feature width D of each backbone (ViT-B/16: its class token; Swin-B: the pooled
#: last stage), the default PEDCC dimension n.
BACKBONE_WIDTH = {"vit_b16": 768, "swin_b": 1024}
PEDCC_DIMS = ("backbone", "table3")
#: The datasets this config accepts, with the Table III dimension n of each.
TABLE3_DIM = {"cifar100": _SMALL["cifar100"][3], "facescrub": _SMALL["facescrub"][3],
              **{f"imagenet{n}": d for n, d in _IMAGENET_DIMS.items()}}
DATASETS = tuple(TABLE3_DIM)
# Table VIII (top-1 %, softmax, POD), from the paper.
PAPER = {
    "vit_b16": {"cifar100": (92.14, 92.84), "facescrub": (97.28, 97.69),
                "imagenet100": (86.66, 87.48), "imagenet500": (86.38, 87.11),
                "imagenet1000": (82.16, 81.20)},
    "swin_b": {"cifar100": (91.67, 92.26), "facescrub": (99.13, 99.26),
               "imagenet100": (89.02, 89.14), "imagenet500": (88.74, 88.95),
               "imagenet1000": (84.68, 84.53)},
}


def pedcc_dim(model: str, dataset: str, choice: str = "backbone") -> int:
    """The PEDCC dimension n of the POD head for (model, dataset) under ``choice``."""
    if choice not in PEDCC_DIMS:
        raise ValueError(f"the PEDCC dimension field must be one of {PEDCC_DIMS}, got "
                         f"{choice!r}.")
    return BACKBONE_WIDTH[model] if choice == "backbone" else TABLE3_DIM[dataset]


def get_config(arg=None):
    model, dataset, loss, dim_choice = parse_arg(arg, 4, ("swin_b", "cifar100", "both",
                                                          "backbone"))
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}.")
    if dataset not in TABLE3_DIM:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}.")
    dim = pedcc_dim(model, dataset, dim_choice)
    imagenet = dataset.startswith("imagenet")
    c = paper_recipe("cifar100" if imagenet else dataset, model)
    if imagenet:
        c.dataset.name = "tfds:imagenet2012"
        c.dataset.test_split = "validation"
        c.dataset.options = {"num_classes_subset": int(dataset[len("imagenet"):])}
    c.model.stem = ""
    c.model.kwargs.image_size = 224
    # "the images size of all datasets in this experiment is resized to 224": streamed,
    # RandomResizedCrop(224) + flip for training, resize + centre crop for testing.
    c.dataset.streaming = True
    c.dataset.train_transform = "random_resized_crop"
    c.dataset.eval_transform = "resize_center_crop"
    c.dataset.image_size = 224
    c.dataset.augment = False
    c.model.dtype = "bfloat16"
    if model == "swin_b":
        c.optimizer.name = "adamw"
        c.optimizer.learning_rate = 1e-3
        c.optimizer.weight_decay = 0.05
        c.optimizer.weight_decay_exclude_1d = True
        c.optimizer.schedule = "cosine"
        c.optimizer.warmup_epochs = 20.0
        c.num_epochs = 300
        c.batch_size = 256
        c.optimizer.grad_clip_norm = 5.0
        c.model.kwargs.drop_path_rate = 0.5
    else:
        c.optimizer.name = "sgd"
        c.optimizer.learning_rate = 0.01
        c.optimizer.weight_decay = 0.0
        c.optimizer.schedule = "cosine"
        c.optimizer.warmup_epochs = 1.0
        c.num_epochs = 10
        c.batch_size = 512
        c.optimizer.grad_clip_norm = 1.0
        c.model.kwargs.pretrained = ""
    paper = PAPER[model].get(dataset)
    c.description = (f"{model} {dataset}: softmax vs POD (the POD paper, Table VIII; PEDCC "
                     f"n = {dim}); paper softmax / POD: {paper}")
    if loss in ("", "both"):
        c.comparison.softmax = "loss.name=softmax,model.head=linear"
        c.comparison.pod = f"loss.name=pod,model.head=pod,model.head_kwargs.dim={dim}"
    else:
        set_loss(c, loss, dim=dim)
    return c
