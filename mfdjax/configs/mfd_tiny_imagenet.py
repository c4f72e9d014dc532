# The MFD paper, Tables IV/V, Tiny ImageNet column (200 classes, 64x64, max-pool kept).
#
# Command:   mfdjax train --config mfd_tiny_imagenet:resnet50 dataset.data_dir=DIR
#            (DIR/train/<wnid>/*.JPEG and DIR/test/<wnid>/*.JPEG: the val split re-filed by class)
# Hardware:  one modern GPU (~2-4 h for 100 epochs of ResNet50).
# Paper (top-1 %, softmax -> softmax+MFD): ResNet50 62.10 -> 64.06, ResNeXt50 64.23 -> 65.63,
#            DenseNet121 64.73 -> 65.59, MobileNetV2 46.34 -> 49.14.
"""Tiny ImageNet, Softmax vs Softmax + MFD: get_config("model[,softmax|mfd]")."""

from mfdjax.configs._presets import MFD_TABLE, paper_recipe, parse_arg, set_mfd_variant


def get_config(arg=None):
    model, loss = parse_arg(arg, 2, ("resnet50", ""))
    c = paper_recipe("tiny_imagenet", model)
    c.dataset.test_split = "test"
    c.description = (f"{model} on Tiny ImageNet; paper softmax / softmax+MFD: "
                     f"{MFD_TABLE.get((model, 'tiny_imagenet'))}")
    return set_mfd_variant(c, loss)
