# The MFD paper, Table VI: face-recognition losses with and without MFD, ResNet50 on FaceScrub.
#
# Command:   mfdjax train --config mfd_margins:arcface dataset.data_dir=DIR   (both variants)
#            mfdjax train --config mfd_margins:arcface,mfd dataset.data_dir=DIR
# Losses:    center | am_softmax (m=0.35) | arcface (m=0.5) | combined_margin (0.9,0.4,0.15) | cot
# Hardware:  the paper's: one GPU it does not name (PyTorch 1.0). Here: one GPU.
# Time:      ESTIMATE (not timed here): ~0.6 h (plain) / ~1.1 h (+MFD) per 100-epoch run,
#            from the paper's Table VII FaceScrub epoch times (23 s / 38 s, softmax).
# Paper (top-1 %, loss -> loss+MFD): Center 92.82 -> 94.11, AM-Softmax 93.60 -> 94.47,
#            ArcFace 93.93 -> 94.89 (CM 94.39 and COT 94.30 without MFD: the POD paper, Table IV).
"""Margin losses +- MFD on FaceScrub: get_config("loss[,plain|mfd]")."""

from mfdjax.configs._presets import DATASETS, paper_recipe, parse_arg, set_loss

PAPER = {"center": (92.82, 94.11), "am_softmax": (93.60, 94.47), "arcface": (93.93, 94.89),
         "combined_margin": (94.39, None), "cot": (94.30, None)}


def get_config(arg=None):
    loss, variant = parse_arg(arg, 2, ("arcface", ""))
    if loss not in PAPER:
        raise ValueError(f"loss must be one of {sorted(PAPER)}, got {loss!r}.")
    dataset = "facescrub"
    c = paper_recipe(dataset, "resnet50")
    set_loss(c, loss, dim=DATASETS[dataset][3])
    c.description = f"ResNet50 FaceScrub {loss}; paper without / with MFD: {PAPER[loss]}"
    if variant == "":
        c.comparison[loss] = "mfd.weight=0.0"
        c.comparison[f"{loss}_mfd"] = "mfd.weight=1.0"
    elif variant in ("plain", "mfd"):
        c.mfd.weight = 1.0 if variant == "mfd" else 0.0
    else:
        raise ValueError(f"the second field must be plain or mfd, got {variant!r}.")
    return c
