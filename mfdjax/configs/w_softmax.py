# The W-Softmax paper (Xiaobin Li and Weiqiang Wang, "Learning Discriminative Features Via
# Weights-biased Softmax Loss"), Tables 1/2/4 and Figures 4/5: the L-Softmax paper's CNN.
#
# Command:   mfdjax train --config w_softmax:cifar10,1.0 dataset.data_dir=DIR
#            mfdjax train --config w_softmax:mnist,1.5 dataset.data_dir=DIR_WITH_MNIST_IDX
#            mfdjax train --config w_softmax:cifar100,softmax  (the "original softmax" row)
#            mfdjax train --config w_softmax:cifar100,0        (alpha 0: normalised softmax)
#            mfdjax train --config w_softmax:cifar10,lsoftmax  (the L-Softmax row)
# Recipe:    momentum 0.9, lr 0.01 decayed x0.9 every 6000 steps, weight decay 5e-4, batch
#            50 (MNIST) / 256 (CIFAR), xavier init, BN after PReLU, no dropout (section 5.1).
# Hardware:  the paper: one Quadro P5000 (TensorFlow), no times given. Our ESTIMATE (not
#            measured at full scale): MNIST 50 epochs ~1 h on one recent GPU, many hours on a
#            CPU; CIFAR 300 epochs ~3-5 h on one recent GPU.
# Paper (test %, Tables 1/2): original softmax 99.58 / 90.95 / 67.26 (MNIST / CIFAR-10 /
#            CIFAR-100); L-Softmax 99.69 / 92.42 / 70.47; W-Softmax alpha 0.5/1/1.5:
#            MNIST 99.64/99.67/99.69, CIFAR-10 92.47/92.84/93.28, CIFAR-100 69.53/70.62/71.38.
"""W-Softmax paper configs: ``get_config("DATASET,METHOD[,K]")`` / ``("webface,METHOD[,NORM]")``.

DATASET: ``mnist`` | ``cifar10`` | ``cifar100`` (Tables 1/2/4, Figures 4/5) or ``webface``
(Table 3: training on CASIA-WebFace for LFW verification). K (Table 4): train and test on
the first K classes only (``dataset.classes = (0, ..., K-1)``). NORM (``webface`` only):
the input normalisation, ``paper`` (default) or ``folder`` (see below). METHOD:

* ``softmax`` -- the tables' "original softmax" row: CONVENTIONAL softmax, the FC layer
  with its bias and unnormalised weights (linear head, loss ``softmax``);
* a number ``alpha`` >= 0 -- W-Softmax (cosine head: bias removed, weights normalised);
  ``0`` is softmax on normalised, bias-free weights, a row of its own (no paper number);
* ``lsoftmax`` -- L-Softmax (Liu et al., "Large-Margin Softmax Loss for Convolutional
  Neural Networks", ICML 2016), margin m = 4, bias-free linear head.

Decisions where the paper is silent, each an ordinary config field:

* ``loss.switch_steps`` (W-Softmax rows): "we first train the CNNs using the conventional
  softmax loss, and refine the network using the proposed W-Softmax loss" with no step
  counts. We train the first half of the steps with alpha = 0 (softmax on the same
  normalised, bias-free head: the head's parameters must carry over to the refinement),
  then alpha. ``loss.switch_steps=0`` trains with alpha from the start.
* ``num_epochs``: 50 (MNIST) / 300 (CIFAR); the paper gives no run length.
* ``dataset.pad`` / ``dataset.flip``: CIFAR pad-4 crop + flip, MNIST none. The paper does not
  say; its softmax / L-Softmax / hinge numbers equal those the L-Softmax paper reports,
  whose CIFAR augmentation protocol may differ: ``dataset.pad=0 dataset.flip=False``
  trains without augmentation.
* ``loss.kwargs.margin`` (L-Softmax rows): 4, the L-Softmax paper's setting for the numbers
  the W-Softmax paper quotes; ``loss.lam_anneal`` (1000, 2.5e-5, 35, 0): the L-Softmax
  authors' lambda descent from their code's example, lam -> 0 after ~20k steps
  (``loss.lam_anneal=()`` trains the bare equation, lam = ``loss.kwargs.lam``).
* ``model.kwargs.fc_dim`` (the FC units of Figure 4): 256, the L-Softmax CNN's.

Settings the paper gives, as it gives them:

* ``model.head_kwargs.kernel_init = "xavier_uniform"`` (every method and dataset): "the
  weights are initialized by xavier initializer" (section 5.1), i.e. Glorot uniform, for
  the classifier weights too (the L-Softmax CNN's convs and FC already use it). The heads'
  library default is Flax's ``lecun_normal``, which the MFD / POD configs keep;
  ``model.head_kwargs.kernel_init=lecun_normal`` gives it here.

``webface`` (Table 3; section 5.5 gives 160x160 MTCNN-aligned crops, batch 128, lr 0.1 / 10
every 10k iterations, 30k iterations, pixels (x - 127.5) / 128): an image folder
``DATA_DIR/train/<identity>/*.jpg`` of aligned crops, streamed; the paper does not name the
network: ``model.name`` resnet18 with the ImageNet stem (our choice). The classification
"test" metric reads the first 1,000 training images (WebFace has no test split; the row's
metric is the LFW verification accuracy). Normalisation (NORM), applied to the training
images and, through the run's recorded statistics, to the LFW images it is scored on:

* ``paper`` (default): the paper's fixed ``(x - 127.5) / 128`` on every channel
  (``dataset.options.mean = 127.5``, ``dataset.options.std = 128.0``, see :data:`WEBFACE_NORMS`);
* ``folder``: the folder's own per-channel mean and standard deviation (sampled from the
  training images), as mfdjax normalises every other dataset. Kept because runs made
  before mfdjax 1.0 used it: ``webface,METHOD,folder`` reproduces them.
"""

from mfdjax.configs.base import get_base_config
from mfdjax.configs._presets import parse_arg

# The paper's test accuracy (%): PAPER[dataset][method], method "softmax", "lsoftmax" or
# an alpha (float). alpha = 0 (normalised softmax) is not in the paper's tables.
PAPER = {"mnist": {"softmax": 99.58, "lsoftmax": 99.69, 0.5: 99.64, 1.0: 99.67, 1.5: 99.69},
         "cifar10": {"softmax": 90.95, "lsoftmax": 92.42, 0.5: 92.47, 1.0: 92.84, 1.5: 93.28},
         "cifar100": {"softmax": 67.26, "lsoftmax": 70.47, 0.5: 69.53, 1.0: 70.62,
                      1.5: 71.38}}
# Table 4 (first k classes of MNIST / CIFAR-10): (softmax, W-Softmax) test %, k = 5..10.
# The alpha of the W-Softmax column was lost from the text; see experiments/w_softmax_table4.py.
TABLE4 = {"mnist": {5: (99.92, 99.93), 6: (99.83, 99.88), 7: (99.67, 99.78), 8: (99.67, 99.76),
                    9: (99.63, 99.73), 10: (99.58, 99.69)},
          "cifar10": {5: (94.35, 95.23), 6: (91.55, 93.08), 7: (91.26, 92.65),
                      8: (91.27, 92.73), 9: (91.24, 92.72), 10: (90.95, 92.44)}}
METHODS = ("softmax", "lsoftmax", "<alpha >= 0>")
# Training images per class (for the softmax -> W-Softmax switch of a class subset).
TRAIN_PER_CLASS = {"mnist": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
                   "cifar10": (5000,) * 10, "cifar100": (500,) * 100}
# Table 3 (LFW verification accuracy %, training on CASIA-WebFace).
TABLE3 = {"softmax": 96.53, "lsoftmax": 98.71, 0.5: 97.98, 1.0: 98.86, 1.5: 98.91}
# The webface row's input normalisation (the third config field): name -> (mean, std) in
# 0-255 units, one value for every channel; None = the folder's channel statistics.
WEBFACE_NORMS = {"paper": (127.5, 128.0), "folder": None}
# The classifier's initialisation (section 5.1: "xavier initializer").
KERNEL_INIT = "xavier_uniform"


def parse_method(method: str):
    """``"softmax"`` / ``"lsoftmax"`` or the float alpha; ValueError naming the choices."""
    if method in ("softmax", "lsoftmax"):
        return method
    try:
        alpha = float(method)
    except ValueError:
        raise ValueError(f"the W-Softmax config's method must be one of {METHODS}, got "
                         f"{method!r} (e.g. w_softmax:cifar10,softmax or w_softmax:mnist,1.5)."
                         ) from None
    if not alpha >= 0 or alpha == float("inf"):
        raise ValueError(f"W-Softmax alpha must be a finite number >= 0, got {method!r}.")
    return alpha


def paper_number(dataset: str, method) -> float | None:
    """The paper's Tables 1/2 number for (dataset, method), None if not reported."""
    return PAPER.get(dataset, {}).get(method)


def _classes(dataset: str, k: str) -> tuple:
    if not k:
        return ()
    n = len(TRAIN_PER_CLASS.get(dataset, ()))
    try:
        k = int(k)
    except ValueError:
        k = -1
    if not 2 <= k <= n:
        raise ValueError(f"the third field (first K classes) must be an integer in [2, {n}] "
                         f"for {dataset}, got {k!r}.")
    return tuple(range(k))


def _webface(c, norm: str):
    if norm not in WEBFACE_NORMS:
        raise ValueError(f"the third field of w_softmax:webface is the normalisation, one of "
                         f"{sorted(WEBFACE_NORMS)}, got {norm!r}.")
    c.dataset.name = "image_folder"
    c.dataset.options.image_size = 160
    c.dataset.options.mode = "RGB"
    if WEBFACE_NORMS[norm] is not None:
        c.dataset.options.mean, c.dataset.options.std = WEBFACE_NORMS[norm]
    c.dataset.streaming = True
    c.dataset.test_split = "train"
    c.dataset.test_subset = 1000
    c.dataset.pad = 0
    c.dataset.flip = True
    c.model.name = "resnet18"
    c.model.stem = "imagenet"
    c.batch_size = 128
    c.num_epochs = 8          # >= 30k steps of 128 on ~0.49M images; max_steps stops it
    c.max_steps = 30000
    c.optimizer.learning_rate = 0.1
    c.optimizer.decay_factor = 0.1
    c.optimizer.decay_every_steps = 10000
    c.checkpoint.every_steps = 2000
    return 30000


def get_config(arg=None):
    dataset, method, k = parse_arg(arg, 3, ("cifar10", "1.0", ""))
    if dataset not in PAPER and dataset != "webface":
        raise ValueError(f"dataset must be one of {sorted(PAPER) + ['webface']}, got "
                         f"{dataset!r}.")
    method = parse_method(method)
    c = get_base_config()
    c.dataset.name = dataset
    c.model.name = "lsoftmax_cnn"
    c.model.stem = ""
    c.model.kwargs.config = "mnist" if dataset == "mnist" else "cifar"
    c.model.kwargs.fc_dim = 256
    c.batch_size = 50 if dataset == "mnist" else 256
    c.num_epochs = 50 if dataset == "mnist" else 300
    c.dataset.classes = _classes(dataset, k) if dataset != "webface" else ()
    c.model.head_kwargs.kernel_init = KERNEL_INIT
    if dataset == "webface":
        c.model.kwargs = {}
        total_steps = _webface(c, k or "paper")
    else:
        per_class = TRAIN_PER_CLASS[dataset]
        n_train = sum(per_class[i] for i in c.dataset.classes) if c.dataset.classes else sum(
            per_class)
        total_steps = c.num_epochs * (n_train // c.batch_size)
    if method == "softmax":
        c.model.head = "linear"            # FC with bias, unnormalised weights
        c.loss.name = "softmax"
        name = "original (conventional) softmax"
    elif method == "lsoftmax":
        c.model.head = "linear"
        c.model.head_kwargs.use_bias = False
        c.loss.name = "l_softmax"
        c.loss.kwargs.margin = 4
        c.loss.kwargs.lam = 0.0
        # The L-Softmax authors' lambda descent (their code's published example):
        # lam = max(1000 (1 + 2.5e-5 t)^-35, 0), ~0.4 at 10k steps, ~0 after 20k.
        c.loss.lam_anneal = (1000.0, 0.000025, 35.0, 0.0)
        name = "L-Softmax (m=4)"
    else:
        c.model.head = "cosine"
        c.loss.name = "w_softmax"
        c.loss.kwargs.alpha = method
        c.loss.switch_steps = 0 if method == 0 else total_steps // 2
        name = f"W-Softmax alpha={method:g}"
    c.optimizer.name = "sgd"
    c.optimizer.momentum = 0.9
    c.optimizer.weight_decay = 5e-4
    c.optimizer.schedule = "exponential"
    if dataset != "webface":
        c.dataset.pad = 0 if dataset == "mnist" else 4
        c.dataset.flip = dataset != "mnist"
        c.optimizer.learning_rate = 0.01
        c.optimizer.decay_factor = 0.9
        c.optimizer.decay_every_steps = 6000
    c.log_every_steps = 200
    # The per-stage correlation diagnostic is the MFD paper's, not this paper's: off
    # (correlation.enabled=True measures it).
    c.correlation.enabled = False
    sub = f", first {len(c.dataset.classes)} classes" if c.dataset.classes else ""
    if dataset == "webface":
        o = c.dataset.options
        sub = (f", pixels (x - {o.mean:g}) / {o.std:g}" if "mean" in o
               else ", the folder's channel statistics")
    paper = (TABLE3.get(method) if dataset == "webface" else
             TABLE4[dataset][len(c.dataset.classes)][method != "softmax"]
             if c.dataset.classes and dataset in TABLE4 and method in ("softmax", 1.5)
             else paper_number(dataset, method))
    c.description = f"{name} on {dataset}{sub}; paper: {paper}"
    return c
