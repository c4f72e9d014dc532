# MFD placement: the paper's 5 stages vs the authors' reference code's 49 "layers"
# (stem + 3 activations of each of ResNet50's 16 bottlenecks) vs the 16 block outputs;
# and the MFD paper, Table II's lambda sweep (lg lambda = -2..2).
#
# Command:   mfdjax train --config mfd_placement:stages,0 dataset.data_dir=DIR
#            mfdjax train --config mfd_placement:layers,0 ...   (second field: lg(lambda))
# Hardware:  the paper's: one GPU it does not name (PyTorch 1.0). Here: one GPU; "layers"
#            costs more (49 Gram products per step).
# Time:      ESTIMATE (not timed here): ~2-3 h per 100-epoch run, from the paper's Table VII
#            (69 s softmax / 105 s +MFD per ResNet50 CIFAR epoch); "layers" more.
# Paper:     ResNet50 CIFAR-100, Table II: softmax 76.42; lg(lambda) = -2: 76.91, -1: 78.27,
#            0: 79.18, 1: 76.86, 2: 72.20 (stages placement). The layers placement has no
#            published number (it is what the reference code runs).
"""ResNet50 / CIFAR-100 with MFD at stages | blocks | layers and lambda = 10**lg."""

from mfdjax.configs._presets import paper_recipe, parse_arg

TABLE_II = {-2: 76.91, -1: 78.27, 0: 79.18, 1: 76.86, 2: 72.20}


def get_config(arg=None):
    level, lg = parse_arg(arg, 2, ("stages", "0"))
    if level not in ("stages", "blocks", "layers"):
        raise ValueError(f"placement must be stages, blocks or layers, got {level!r}.")
    lg = float(lg)
    c = paper_recipe("cifar100", "resnet50")
    c.mfd.weight = 10.0 ** lg
    c.mfd.features = level
    c.correlation.features = "stages"
    c.description = (f"ResNet50 CIFAR-100, MFD at {level}, lambda=1e{lg:g}; paper "
                     f"(stages): {TABLE_II.get(int(lg)) if level == 'stages' else 'n/a'}")
    return c
