# The main job: Softmax vs Softmax + MFD (stages, lambda = 1) on Fashion-MNIST, side by side.
#
# Command:   mfdjax train --config default            (scripts/train.sh does the set-up)
# Hardware:  any; sized so that BOTH runs finish in about 15 minutes on a 2-core CPU.
#            Measured: 366 s + 351 s = 12 min on 2 Xeon cores (taskset -c 0,1, unloaded);
#            on one H100 the step runs at ~70k images/s.
# Data:      Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), 60k/10k.
# Expect:    test top-1 90.51 % (softmax) vs 90.50 % (softmax + MFD) after 4 epochs (one seed;
#            Fashion-MNIST's benchmark table lists ResNet18 at 94.9 % after long training).
#            The point is the per-stage mean |correlation| (mfd-loss.txt Tables I/III) on 500
#            test images: softmax 0.424 0.219 0.159 0.129 0.170, + MFD 0.051 0.025 0.053
#            0.060 0.094 -- a 3-9x decorrelation at equal accuracy.
# Output:    runs/default/report.md (+ one report per run in runs/default/<name>/).
"""Default config: the softmax vs softmax + MFD comparison on Fashion-MNIST."""

from mfdjax.configs.base import get_base_config


def get_config():
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
    c.comparison.softmax = "mfd.weight=0.0"
    c.comparison.softmax_mfd = "mfd.weight=1.0,mfd.features=stages"
    return c
