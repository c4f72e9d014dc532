# The MFD paper, Tables IV/V (CIFAR columns): Softmax vs Softmax + MFD (5 stages, lambda = 1).
#
# Command:   mfdjax train --config mfd_cifar:resnet50,cifar100            (comparison: both)
#            mfdjax train --config mfd_cifar:resnet50,cifar100,mfd        (one run)
#            dataset.data_dir=DIR with cifar-100-python.tar.gz (or cifar-10-python.tar.gz)
# Models:    resnet50 | resnext50_32x4d | densenet121 | mobilenet_v2 (CIFAR stem)
# Hardware:  one modern GPU (A100/H100: ResNet50 100 epochs ~1-2 h); not a CPU job.
# Paper (top-1 %, softmax -> softmax+MFD, mean of 3 runs):
#   ResNet50 C10 93.25 -> 93.98, C100 76.42 -> 79.18; ResNeXt50 94.05 -> 94.61, 78.57 -> 79.71;
#   DenseNet121 95.01 -> 95.57, 79.91 -> 80.54; MobileNetV2 84.31 -> 86.63, 52.41 -> 54.99.
#   Stage correlations (Tables I/III, ResNet50 C100): softmax 0.189 0.142 0.120 0.053 0.094,
#   +MFD 0.007 0.015 0.034 0.031 0.013 (`mfdjax correlations --workdir RUN`).
"""The MFD paper, Tables IV/V on CIFAR-10/100: get_config("model,dataset[,softmax|mfd]")."""

from mfdjax.configs._presets import MFD_TABLE, paper_recipe, parse_arg, set_mfd_variant


def get_config(arg=None):
    model, dataset, loss = parse_arg(arg, 3, ("resnet50", "cifar100", ""))
    c = paper_recipe(dataset, model)
    c.mfd.features = "stages"
    expect = MFD_TABLE.get((model, dataset))
    c.description = (f"{model} on {dataset}, the MFD paper, Tables IV/V; paper softmax / "
                     f"softmax+MFD: {expect}")
    return set_mfd_variant(c, loss)
