# The MFD paper, Tables IV/V (CIFAR columns): Softmax vs Softmax + MFD (5 stages, lambda = 1).
#
# Command:   mfdjax train --config mfd_cifar:resnet50,cifar100            (comparison: both)
#            mfdjax train --config mfd_cifar:resnet50,cifar100,mfd        (one run)
#            dataset.data_dir=DIR with cifar-100-python.tar.gz (or cifar-10-python.tar.gz)
#            A 4th field picks the stem: "paper" (default) or "adapted" (_presets.STEM_CHOICES:
#            the CIFAR MobileNetV2 stem, a named deviation from the paper).
# Models:    resnet50 | resnext50_32x4d | densenet121 (3x3 stride-1 first conv, no max-pool,
#            as the paper) | mobilenet_v2 (unmodified ImageNet stem, as the paper).
# Paper (top-1 %, softmax -> softmax+MFD, mean of 3 runs; _presets.MFD_TABLE):
#   ResNet50 C10 93.25 -> 93.98, C100 76.42 -> 79.18; ResNeXt50 94.05 -> 94.61, 78.57 -> 79.71;
#   DenseNet121 95.01 -> 95.57, 79.91 -> 80.54; MobileNetV2 84.31 -> 86.63, 52.41 -> 54.99.
#   Stage correlations (Tables I/III, ResNet50 C100; _presets.MFD_STAGE_CORRELATION):
#   softmax 0.189 0.142 0.120 0.053 0.094, +MFD 0.007 0.015 0.034 0.031 0.013.
# Hardware:  the paper's: PyTorch 1.0 on one GPU it does not name (Table VII: ~11 GiB in use).
#            Here: one GPU; not a CPU job.
# Time:      ESTIMATE (no full run of this config has been timed): the paper's Table VII gives
#            69 s (softmax) and 105 s (+MFD) per ResNet50 epoch on CIFAR, i.e. ~1.9 h and
#            ~2.9 h for 100 epochs on its GPU; expect the same order on one A100/H100
#            (ResNeXt50 / DenseNet121 slower, MobileNetV2 faster). Measure yours with
#            experiments/mfd_table7_cost.py.
"""The MFD paper, Tables IV/V on CIFAR-10/100: get_config("model,dataset[,softmax|mfd[,stem]]")."""

from mfdjax.configs._presets import MFD_TABLE, paper_recipe, parse_arg, set_mfd_variant


def get_config(arg=None):
    model, dataset, loss, stem = parse_arg(arg, 4, ("resnet50", "cifar100", "", "paper"))
    if dataset not in ("cifar10", "cifar100"):
        raise ValueError(f"dataset must be cifar10 or cifar100, got {dataset!r} (Tiny "
                         "ImageNet and FaceScrub: mfd_tiny_imagenet, mfd_facescrub).")
    c = paper_recipe(dataset, model, stem=stem)
    c.mfd.features = "stages"
    expect = MFD_TABLE.get((model, dataset))
    c.description = (f"{model} on {dataset}, the MFD paper, Tables IV/V; paper softmax / "
                     f"softmax+MFD: {expect}" + ("" if stem == "paper" else f"; stem {stem}"))
    return set_mfd_variant(c, loss)
