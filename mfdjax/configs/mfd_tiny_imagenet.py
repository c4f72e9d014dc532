# The MFD paper, Tables IV/V, Tiny ImageNet column (200 classes, 64x64, max-pool kept).
#
# Command:   mfdjax train --config mfd_tiny_imagenet:resnet50 dataset.data_dir=DIR
#            DIR = the official tiny-imagenet-200 folder as unpacked: train/<wnid>/images/
#            *.JPEG, and val/images/*.JPEG + val/val_annotations.txt (the image-folder source
#            reads that layout; the val split, 10,000 labelled images, is the test set: the
#            official test/ split has no labels). Third field: the stem, "paper" (default)
#            or "adapted" (see mfd_cifar).
# Paper (top-1 %, softmax -> softmax+MFD): ResNet50 62.10 -> 64.06, ResNeXt50 64.23 -> 65.63,
#            DenseNet121 64.73 -> 65.59, MobileNetV2 46.34 -> 49.14.
# Hardware:  the paper's: one GPU it does not name (PyTorch 1.0; Table VII ~11.4 GiB in use).
# Time:      ESTIMATE (not timed here): the paper's Table VII gives 146 s (softmax) and 237 s
#            (+MFD) per ResNet50 epoch, i.e. ~4.1 h and ~6.6 h for 100 epochs.
"""Tiny ImageNet, Softmax vs Softmax + MFD: get_config("model[,softmax|mfd[,stem]]")."""

from mfdjax.configs._presets import MFD_TABLE, paper_recipe, parse_arg, set_mfd_variant


def get_config(arg=None):
    model, loss, stem = parse_arg(arg, 3, ("resnet50", "", "paper"))
    c = paper_recipe("tiny_imagenet", model, stem=stem)
    c.dataset.test_split = "val"
    c.description = (f"{model} on Tiny ImageNet; paper softmax / softmax+MFD: "
                     f"{MFD_TABLE.get((model, 'tiny_imagenet'))}")
    return set_mfd_variant(c, loss)
