# The MFD paper, Tables IV/V, FaceScrub column (100 identities, 64x64).
#
# Command:   mfdjax train --config mfd_facescrub:resnet50 dataset.data_dir=DIR
#            (DIR/train/<person>/*.jpg, DIR/test/<person>/*.jpg; 15896 train images per the paper)
# Hardware:  one modern GPU (~1 h for 100 epochs of ResNet50).
# Paper (top-1 %, softmax -> softmax+MFD): ResNet50 90.56 -> 94.63, ResNeXt50 93.36 -> 95.09,
#            DenseNet121 95.61 -> 96.27, MobileNetV2 87.84 -> 90.32.
"""FaceScrub, Softmax vs Softmax + MFD: get_config("model[,softmax|mfd]")."""

from mfdjax.configs._presets import MFD_TABLE, paper_recipe, parse_arg, set_mfd_variant


def get_config(arg=None):
    model, loss = parse_arg(arg, 2, ("resnet50", ""))
    c = paper_recipe("facescrub", model)
    c.description = (f"{model} on FaceScrub; paper softmax / softmax+MFD: "
                     f"{MFD_TABLE.get((model, 'facescrub'))}")
    return set_mfd_variant(c, loss)
