# The MFD paper, Tables IV/V, FaceScrub column (100 identities, 64x64).
#
# Command:   mfdjax train --config mfd_facescrub:resnet50 dataset.data_dir=DIR
#            (DIR/train/<person>/*.jpg, DIR/test/<person>/*.jpg; 15,896 train and 3,896 test
#            images per the paper, which does not publish its split). Third field: the stem,
#            "paper" (default) or "adapted" (see mfd_cifar).
# Paper (top-1 %, softmax -> softmax+MFD): ResNet50 90.56 -> 94.63, ResNeXt50 93.36 -> 95.09,
#            DenseNet121 95.61 -> 96.27, MobileNetV2 87.84 -> 90.32.
# Hardware:  the paper's: one GPU it does not name (PyTorch 1.0; Table VII ~12 GiB in use).
# Time:      ESTIMATE (not timed here): the paper's Table VII gives 23 s (softmax) and 38 s
#            (+MFD) per ResNet50 epoch, i.e. ~0.6 h and ~1.1 h for 100 epochs.
"""FaceScrub, Softmax vs Softmax + MFD: get_config("model[,softmax|mfd[,stem]]")."""

from mfdjax.configs._presets import MFD_TABLE, paper_recipe, parse_arg, set_mfd_variant


def get_config(arg=None):
    model, loss, stem = parse_arg(arg, 3, ("resnet50", "", "paper"))
    c = paper_recipe("facescrub", model, stem=stem)
    c.description = (f"{model} on FaceScrub; paper softmax / softmax+MFD: "
                     f"{MFD_TABLE.get((model, 'facescrub'))}")
    return set_mfd_variant(c, loss)
