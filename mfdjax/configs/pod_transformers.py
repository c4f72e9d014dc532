# The POD paper, Table VIII: Softmax vs POD on ViT-B/16 and Swin-B, images resized to 224.
#
# Command:   mfdjax train --config pod_transformers:swin_b,cifar100 dataset.data_dir=DIR
# Recipes:   ViT-B/16: SGD momentum 0.9, no weight decay, linear warm-up, fine-tuned from
#            ImageNet-21k weights as in the paper: mfdjax ships no weights; give a file of
#            the official ViT release's .npz layout (e.g. ViT-B_16.npz, ImageNet-21k) with
#            model.kwargs.pretrained=PATH (the head is not loaded; '' = random init, which
#            is NOT the paper's setting);
#            Swin-B: AdamW, lr 1e-3, wd 0.05, 300 epochs, cosine, 20 warm-up epochs, batch 256,
#            stochastic depth (drop_path_rate) 0.5: the POD paper is silent on it, so the
#            Swin paper's value for Swin-B (Liu et al. 2021, section 4.1) is used.
# Hardware:  the paper's: not stated (PyTorch). Here: 8 GPUs (data parallel over the mesh).
# Time:      ESTIMATE (not timed here): Swin-B, 300 epochs of CIFAR-100 at 224x224 (15M
#            images), multi-day on one GPU, about a day on 8; ViT-B/16 fine-tuning for 10
#            epochs, a few hours on one GPU.
# Paper (top-1 %, softmax / POD): ViT-B/16 CIFAR-100 92.14/92.84, FaceScrub 97.28/97.69,
#            ImageNet(100) 86.66/87.48; Swin-B CIFAR-100 91.67/92.26, FaceScrub 99.13/99.26,
#            ImageNet(100) 89.02/89.14.
"""ViT-B/16 / Swin-B, softmax vs POD: get_config("vit_b16|swin_b,dataset[,softmax|pod]")."""

from mfdjax.configs._presets import DATASETS, paper_recipe, parse_arg, set_loss


def get_config(arg=None):
    model, dataset, loss = parse_arg(arg, 3, ("swin_b", "cifar100", ""))
    if model not in ("vit_b16", "swin_b"):
        raise ValueError(f"model must be vit_b16 or swin_b, got {model!r}.")
    dim = DATASETS[dataset][3] if dataset in DATASETS else 512
    c = paper_recipe(dataset, model)
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
    c.description = f"{model} {dataset}: softmax vs POD (the POD paper, Table VIII)"
    if loss == "":
        c.comparison.softmax = "loss.name=softmax,model.head=linear"
        c.comparison.pod = f"loss.name=pod,model.head=pod,model.head_kwargs.dim={dim}"
    else:
        set_loss(c, loss, dim=dim)
    return c
