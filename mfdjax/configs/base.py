"""Every field the trainer reads, with the papers' defaults.

Experiment files start from :func:`get_base_config` and change a few fields, so
each experiment is a small file you can diff (the Flax-examples habit). Fields:

* ``dataset``: ``name`` (any ``mfdjax.data.load_dataset`` name), ``data_dir``,
  splits, ``train_subset`` / ``test_subset`` (first N examples, 0 = all; for
  smoke runs), ``classes`` / ``validation_size`` / ``train_fraction`` / ``resize`` (in-memory selection,
  see the comments below), ``options`` (passed to the loader), augmentation
  ``pad`` / ``flip``.
* ``model``: registry ``name``, ``stem`` ("" = the factory's default),
  ``head`` ("linear" | "cosine" | "pod"), ``head_kwargs``, ``kwargs`` (family
  options), ``dtype`` ("float32" | "bfloat16": mixed precision = bf16 compute,
  float32 parameters and optimizer state).
* ``loss``: ``name`` (softmax | am_softmax | arcface | combined_margin |
  l_softmax | w_softmax | cosine | nac | sc | pod | pedcc | center | cot) and
  ``kwargs`` handed to the loss function, plus the trainer-side options of the
  stateful losses (POD delta schedule, centre update, W-Softmax switch).
* ``mfd``: ``weight`` (lambda of eq. 7 of Zhu et al., "Multi-stage feature
  decorrelation constraints for improving CNN classification performance";
  0 = off) and ``features``
  (the granularity: "stages" | "blocks" | "layers").
* ``optimizer``: see :mod:`mfdjax.train.optim`.
* run length, logging, checkpointing, evaluation, correlation diagnostic.
* ``comparison``: name -> dict of overrides. Non-empty makes ``mfdjax train``
  run every variant into ``workdir/<name>`` and write one side-by-side report.

:func:`validate_config` checks the fields the trainer reads (counts, sizes,
finite numbers) and names the field and the fix; the trainer calls it before it
writes or compiles anything.
"""

from __future__ import annotations

import math
from typing import Any

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
    # In-memory selection (applied before train_subset / test_subset): keep these class
    # ids only, relabelled 0..k-1 in the given order (w-softmax Table 4); a fixed
    # class-balanced fraction of the training split, drawn with fraction_seed (the same
    # images for every run seed); a bilinear resize to resize x resize pixels (0 = off).
    c.dataset.classes = ()
    c.dataset.train_fraction = 0.0
    c.dataset.fraction_seed = 0
    c.dataset.resize = 0
    # A validation split held out of the training split (in-memory datasets): this many
    # images, class-stratified, drawn with validation_seed (the same images for every run
    # seed and arm), taken after `classes` and before `train_fraction` / `train_subset`.
    # 0 = off. When on, every evaluation also scores it (`val/accuracy`) and the best
    # checkpoint is chosen on it, so the test set gives only the final number.
    c.dataset.validation_size = 0
    c.dataset.validation_seed = 0
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
    # POD / NaC delta schedule (Zhu & Zu, "A Softmax-free Loss Function Based on
    # Predefined Optimal-distribution of Latent Features...", eqs. 16-17).
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


# (field, minimum, what it counts): integers the trainer divides by or counts with.
_POSITIVE = (("batch_size", 1, "the global batch size"),
             ("eval_batch_size", 1, "the evaluation batch size"),
             ("num_epochs", 1, "the number of training epochs"),
             ("log_every_steps", 1, "steps between logged train metrics"),
             ("eval_every_epochs", 1, "epochs between test evaluations"),
             ("checkpoint.keep", 1, "how many recent checkpoints to keep"))
_NON_NEGATIVE = (("max_steps", "0 = no step limit"),
                 ("dataset.train_subset", "0 = the whole training split"),
                 ("dataset.test_subset", "0 = the whole test split"),
                 ("dataset.validation_size", "0 = no validation split"),
                 ("dataset.validation_seed", "the draw of the validation split"),
                 ("checkpoint.every_steps", "0 = only at epoch ends"))


def _get(config: Any, dotted: str, default: Any = None) -> Any:
    """``config[a][b]`` for ``"a.b"``; ``default`` when a field is absent (a config.json
    recorded before the field existed)."""
    node = config
    for part in dotted.split("."):
        if part not in node:
            return default
        node = node[part]
    return node


def _walk(node: Any, prefix: str = ""):
    items = node.items() if hasattr(node, "items") else ()
    for k, v in items:
        if hasattr(v, "items"):
            yield from _walk(v, f"{prefix}{k}.")
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                yield f"{prefix}{k}[{i}]", x
        else:
            yield f"{prefix}{k}", v


def validate_config(config: Any) -> None:
    """Raises ValueError naming the field and the fix for a config the trainer cannot run.

    Checks: every number is finite (``1e400`` parses as inf); batch sizes,
    epochs, logging and evaluation intervals and ``checkpoint.keep`` are
    integers >= 1; ``max_steps``, the subsets and ``checkpoint.every_steps``
    are integers >= 0; ``optimizer.learning_rate`` > 0; the correlation batch
    holds at least 2 images when the diagnostic is on. The variants of a
    comparison are checked by the caller after applying them.
    """
    for name, value in _walk(config):
        if name.startswith("comparison."):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"`{name}` is {value}; every number in the config must be "
                             f"finite (set {name}=<a finite number>).")
    for name, minimum, what in _POSITIVE:
        value = _get(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"`{name}` ({what}) must be an integer >= {minimum}, got "
                             f"{value!r}.")
    for name, meaning in _NON_NEGATIVE:
        value = _get(config, name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"`{name}` must be an integer >= 0 ({meaning}), got {value!r}.")
    seed = config.seed
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 31:
        raise ValueError(f"`seed` must be an integer in [0, 2**31), got {seed!r}.")
    lr = config.optimizer.learning_rate
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"`optimizer.learning_rate` must be a number > 0, got {lr!r}.")
    if config.correlation.enabled:
        n = config.correlation.batch_size
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ValueError("`correlation.batch_size` must be an integer >= 2 (or set "
                             f"correlation.enabled=False), got {n!r}.")
