# The W-Softmax paper, Tables 1/2: the L-Softmax paper's CNN (PReLU + BN), softmax then W-Softmax.
#
# Command:   mfdjax train --config w_softmax:cifar10,1.0 dataset.data_dir=DIR
#            mfdjax train --config w_softmax:mnist,1.5 dataset.data_dir=DIR_WITH_MNIST_IDX
#            mfdjax train --config w_softmax:cifar100,0      (alpha 0: normalised softmax)
# Recipe:    momentum 0.9, lr 0.01 decayed x0.9 every 6000 steps, weight decay 5e-4, batch
#            50 (MNIST) / 256 (CIFAR); "first train the CNNs using the conventional softmax
#            loss, and refine the network using the proposed W-Softmax loss" (section 5.1):
#            the paper gives no step counts, we use alpha = 0 (softmax on normalised,
#            bias-free weights) for the first half of the steps, then alpha.
# Hardware:  one GPU (hours); MNIST runs on a CPU overnight.
# Paper (test %): MNIST softmax 99.58, alpha 0.5/1/1.5: 99.64/99.67/99.69;
#            CIFAR-10 softmax 90.95 -> 92.47/92.84/93.28; CIFAR-100 67.26 -> 69.53/70.62/71.38.
"""W-Softmax: get_config("mnist|cifar10|cifar100,alpha")."""

from mfdjax.configs.base import get_base_config
from mfdjax.configs._presets import parse_arg

PAPER = {"mnist": {0.5: 99.64, 1.0: 99.67, 1.5: 99.69, 0.0: 99.58},
         "cifar10": {0.5: 92.47, 1.0: 92.84, 1.5: 93.28, 0.0: 90.95},
         "cifar100": {0.5: 69.53, 1.0: 70.62, 1.5: 71.38, 0.0: 67.26}}


def get_config(arg=None):
    dataset, alpha = parse_arg(arg, 2, ("cifar10", "1.0"))
    alpha = float(alpha)
    if dataset not in PAPER:
        raise ValueError(f"dataset must be one of {sorted(PAPER)}, got {dataset!r}.")
    c = get_base_config()
    c.dataset.name = dataset
    c.model.name = "lsoftmax_cnn"
    c.model.stem = ""
    c.model.kwargs.config = "mnist" if dataset == "mnist" else "cifar"
    c.model.head = "cosine"
    c.loss.name = "w_softmax"
    c.loss.kwargs.alpha = alpha
    c.batch_size = 50 if dataset == "mnist" else 256
    c.num_epochs = 50 if dataset == "mnist" else 300
    steps_per_epoch = (60000 if dataset == "mnist" else 50000) // c.batch_size
    c.loss.switch_steps = c.num_epochs * steps_per_epoch // 2
    c.dataset.pad = 0 if dataset == "mnist" else 4
    c.dataset.flip = dataset != "mnist"
    c.optimizer.name = "sgd"
    c.optimizer.learning_rate = 0.01
    c.optimizer.momentum = 0.9
    c.optimizer.weight_decay = 5e-4
    c.optimizer.schedule = "exponential"
    c.optimizer.decay_factor = 0.9
    c.optimizer.decay_every_steps = 6000
    c.log_every_steps = 200
    c.description = f"W-Softmax alpha={alpha:g} on {dataset}; paper: {PAPER[dataset].get(alpha)}"
    return c
