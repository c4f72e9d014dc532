"""Every field the trainer reads, with the papers' defaults.

Experiment files start from :func:`get_base_config` and change a few fields, so
each experiment is a small file you can diff (the Flax-examples habit). Fields:

* ``dataset``: ``name`` (any ``mfdjax.data.load_dataset`` name), ``data_dir``,
  splits, ``train_subset`` / ``test_subset`` (first N examples, 0 = all; for
  smoke runs), ``options`` (passed to the loader), augmentation ``pad`` / ``flip``.
* ``model``: registry ``name``, ``stem`` ("" = the factory's default),
  ``head`` ("linear" | "cosine" | "pod"), ``head_kwargs``, ``kwargs`` (family
  options), ``dtype`` ("float32" | "bfloat16": mixed precision = bf16 compute,
  float32 parameters and optimizer state).
* ``loss``: ``name`` (softmax | am_softmax | arcface | combined_margin |
  l_softmax | w_softmax | cosine | nac | sc | pod | pedcc | center | cot) and
  ``kwargs`` handed to the loss function, plus the trainer-side options of the
  stateful losses (POD delta schedule, centre update, W-Softmax switch).
* ``mfd``: ``weight`` (lambda of mfd-loss.txt eq. 7; 0 = off) and ``features``
  (the granularity: "stages" | "blocks" | "layers").
* ``optimizer``: see :mod:`mfdjax.train.optim`.
* run length, logging, checkpointing, evaluation, correlation diagnostic.
* ``comparison``: name -> dict of overrides. Non-empty makes ``mfdjax train``
  run every variant into ``workdir/<name>`` and write one side-by-side report.
"""

from __future__ import annotations

import ml_collections
from ml_collections import config_dict


def get_base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    # PRNG of parameter init, augmentation and dropout: "threefry" (JAX's
    # default, identical on every backend) or "rbg" (XLA RngBitGenerator:
    # compiles ~4x faster on CPU, may differ across backends / JAX versions).
    c.prng_impl = "threefry"

    c.dataset = ml_collections.ConfigDict()
    c.dataset.name = "fashion_mnist"
    c.dataset.data_dir = config_dict.placeholder(str)
    c.dataset.train_split = "train"
    c.dataset.test_split = "test"
    c.dataset.train_subset = 0
    c.dataset.test_subset = 0
    c.dataset.options = ml_collections.ConfigDict()
    c.dataset.pad = 4            # zero-pad then random crop back (papers' recipe)
    c.dataset.flip = True        # horizontal flip p = 0.5
    c.dataset.augment = True     # on-device pad-crop-flip (False: normalise only)
    # Large sources: stream through mfdjax.data.HostLoader instead of loading to memory,
    # with optional host transforms ("random_resized_crop" / "resize_center_crop").
    c.dataset.streaming = False
    c.dataset.num_workers = 8
    c.dataset.train_transform = ""
    c.dataset.eval_transform = ""
    c.dataset.image_size = 224

    c.model = ml_collections.ConfigDict()
    c.model.name = "resnet18"
    c.model.stem = "cifar"
    c.model.head = "linear"
    c.model.head_kwargs = ml_collections.ConfigDict()
    c.model.kwargs = ml_collections.ConfigDict()
    c.model.dtype = "float32"

    c.loss = ml_collections.ConfigDict()
    c.loss.name = "softmax"
    c.loss.kwargs = ml_collections.ConfigDict()   # forwarded to the loss function
    # POD / NaC delta schedule (pod-loss.txt eqs. 16-17).
    c.loss.delta_alpha = 0.01
    c.loss.delta_initial_norm = 0.05
    c.loss.delta_variant = "paper"   # "paper" | "reference"
    # Center loss (Wen et al. 2016): weight against CE, centre learning rate.
    c.loss.center_weight = 0.003
    c.loss.center_alpha = 0.5
    # W-Softmax: plain softmax (alpha = 0) for this many steps, then alpha.
    c.loss.switch_steps = 0

    c.mfd = ml_collections.ConfigDict()
    c.mfd.weight = 0.0
    c.mfd.features = "stages"

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "sgd"
    c.optimizer.learning_rate = 0.1
    c.optimizer.momentum = 0.9
    c.optimizer.nesterov = False
    c.optimizer.weight_decay = 5e-4
    c.optimizer.weight_decay_exclude_1d = False
    c.optimizer.b1 = 0.9
    c.optimizer.b2 = 0.999
    c.optimizer.eps = 1e-8
    c.optimizer.grad_clip_norm = 0.0
    c.optimizer.schedule = "piecewise"
    c.optimizer.boundaries_epochs = (30, 60, 90)
    c.optimizer.decay_factor = 0.1
    c.optimizer.decay_every_steps = 6000
    c.optimizer.warmup_epochs = 0.0

    c.batch_size = 128          # global batch
    c.eval_batch_size = 500
    c.num_epochs = 100
    c.max_steps = 0             # > 0: stop after this many steps (smoke runs)

    c.log_every_steps = 50
    c.progress_bar = True
    c.eval_every_epochs = 1

    c.correlation = ml_collections.ConfigDict()
    c.correlation.enabled = True
    c.correlation.batch_size = 256   # fixed first test images
    c.correlation.features = "stages"

    c.checkpoint = ml_collections.ConfigDict()
    c.checkpoint.enabled = True
    c.checkpoint.every_steps = 0     # 0 = only at epoch ends
    c.checkpoint.every_epoch = True
    c.checkpoint.keep = 2
    c.checkpoint.keep_best = True
    c.checkpoint.async_save = True

    c.comparison = ml_collections.ConfigDict()
    c.description = ""
    return c


def get_config() -> ml_collections.ConfigDict:
    return get_base_config()
