# The POD paper, Table VI, ImageNet rows: the first N classes of ImageNet-1k (N = 30 ... 1000),
# ResNet50 (ImageNet stem), POD vs Softmax, PEDCC dim n = 256/512/512/1024/2048 (Table III).
#
# Command:   mfdjax train --config pod_imagenet:100 dataset.data_dir=TFDS_DIR     (both losses)
#            mfdjax train --config pod_imagenet:100,pod ...
#            (TFDS-prepared imagenet2012 in array_record format; `tfds:imagenet2012`)
# Hardware:  8 GPUs for ImageNet(1000) (batch 96 per the paper is small: use the mesh);
#            ImageNet(30/100) fit one GPU. Runs are days long on one GPU.
# Paper (top-1 %, softmax / POD): 30: 79.86/86.47, 100: 78.25/82.36, 200: 82.06/83.74,
#            500: 82.14/82.56, 1000: 75.65/76.08.
# Data:      streamed (HostLoader threads): RandomResizedCrop(224) + flip for training,
#            resize 256 + centre crop 224 for testing, as in the paper.
"""ImageNet subsets, POD vs Softmax: get_config("N[,softmax|pod]")."""

from mfdjax.configs._presets import paper_recipe, parse_arg, set_loss

DIMS = {30: 256, 100: 512, 200: 512, 500: 1024, 1000: 2048}
PAPER = {30: (79.86, 86.47), 100: (78.25, 82.36), 200: (82.06, 83.74), 500: (82.14, 82.56),
         1000: (75.65, 76.08)}


def get_config(arg=None):
    n, loss = parse_arg(arg, 2, ("100", ""))
    n = int(n)
    if n not in DIMS:
        raise ValueError(f"N must be one of {sorted(DIMS)}, got {n}.")
    c = paper_recipe("cifar10", "resnet50")
    c.dataset.name = "tfds:imagenet2012"
    c.dataset.test_split = "validation"
    c.dataset.options = {"num_classes_subset": n}
    c.dataset.streaming = True
    c.dataset.train_transform = "random_resized_crop"
    c.dataset.eval_transform = "resize_center_crop"
    c.dataset.image_size = 224
    c.dataset.augment = False   # the host transform already crops and flips
    c.dataset.num_workers = 16
    c.model.stem = "imagenet"
    c.batch_size = 96
    c.optimizer.weight_decay = 1e-4
    c.description = f"ImageNet({n}); paper softmax / POD: {PAPER[n]}"
    if loss == "":
        c.comparison.softmax = "loss.name=softmax,model.head=linear"
        c.comparison.pod = f"loss.name=pod,model.head=pod,model.head_kwargs.dim={DIMS[n]}"
    else:
        set_loss(c, loss, dim=DIMS[n])
    return c
