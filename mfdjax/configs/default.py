# The main job: Softmax vs Softmax + MFD (stages, lambda = 1) on Fashion-MNIST, side by side.
#
# Command:   mfdjax train --config default            (scripts/train.sh does the set-up)
# Hardware:  any; sized so that both runs finish in minutes on a 2-core CPU (there they
#            train side by side, one per core). The measured time of `bash
#            scripts/train.sh` is in benchmarks/README.md ("The main job").
# Data:      Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), 60k/10k.
# Expect:    test top-1 about 90-91 % for both runs after 4 epochs (measured, one seed each:
#            90.77 vs 90.18 % on the 2-core CPU, 90.51 vs 90.50 % on 2 Xeon cores; the runs
#            are not bit-identical across machines). Fashion-MNIST's benchmark table lists
#            ResNet18 at 94.9 % after long training. The point is the per-stage mean
#            |correlation| (the MFD paper, Tables I/III) on 500 test images: softmax about
#            0.45 0.26 0.16 0.13 0.17, + MFD about 0.05 0.03 0.05 0.06 0.09 -- a 2-10x
#            decorrelation at about equal accuracy.
# Output:    runs/default/report.md (+ one report per run in runs/default/<name>/).
"""Default config: the softmax vs softmax + MFD comparison on Fashion-MNIST."""

from mfdjax.configs.base import get_base_config


def get_config(arg=None):
    """``default``: the comparison; ``default:softmax`` / ``default:softmax_mfd``: one run."""
    c = get_base_config()
    c.description = ("Fashion-MNIST, resnet_cifar_small (BasicBlocks [1,1,1,1], widths "
                     "16/32/64/128, 3x3 stem + max-pool): softmax vs softmax + MFD over "
                     "the five stages.")
    c.dataset.name = "fashion_mnist"
    c.dataset.pad = 2
    c.dataset.flip = True
    c.model.name = "resnet_cifar_small"
    c.model.stem = "cifar_pool"   # 3x3 stride-1 conv + max-pool: stages at 14/7/4/2
    c.batch_size = 128
    c.num_epochs = 4
    c.optimizer.learning_rate = 0.1
    # The papers' 30/60/90-of-100 step schedule, scaled to the short run.
    c.optimizer.schedule = "piecewise"
    c.optimizer.boundaries_epochs = (2, 3)
    c.optimizer.warmup_epochs = 0.0
    c.eval_batch_size = 1000
    c.log_every_steps = 50
    c.correlation.batch_size = 500
    c.checkpoint.every_steps = 200
    c.mfd.features = "stages"
    if arg is None or arg == "":
        c.comparison.softmax = "mfd.weight=0.0"
        c.comparison.softmax_mfd = "mfd.weight=1.0,mfd.features=stages"
    elif arg == "softmax":
        c.mfd.weight = 0.0
    elif arg in ("softmax_mfd", "mfd"):
        c.mfd.weight = 1.0
    else:
        raise ValueError(f"default takes no argument, 'softmax' or 'softmax_mfd'; got {arg!r}.")
    return c
