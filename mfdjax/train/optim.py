"""Optimizers and learning-rate schedules of the three papers, built from a config.

One job: ``config.optimizer`` in, an ``optax.GradientTransformation`` out.
Every schedule is expressed in optimizer STEPS (the unit optax counts), from
the epoch-based numbers of the papers and ``steps_per_epoch``.

* ``name="sgd"``: SGD with momentum and COUPLED weight decay, PyTorch's form
  (the training recipe of the MFD and POD papers): the
  decay term is added to the gradient before the momentum buffer,

  .. math::

     g_t = \\nabla L(\\theta_t) + \\mathrm{wd}\\,\\theta_t,\\quad
     b_t = \\mu\\, b_{t-1} + g_t,\\quad
     \\theta_{t+1} = \\theta_t - \\eta_t\\, b_t

  i.e. ``optax.chain(optax.add_decayed_weights(wd), optax.sgd(lr, momentum))``.
  PyTorch decays every parameter (BN scales and biases included); so do we
  unless ``weight_decay_exclude_1d=True``.
* ``name="adamw"``: decoupled weight decay (Swin-B recipe, the POD paper, section 4).

Schedules (``optimizer.schedule``):

* ``"piecewise"``: ``lr`` times ``decay_factor`` at each of ``boundaries_epochs``
  (default 0.1 at 30/60/90 of 100 epochs);
* ``"cosine"``: linear warm-up over ``warmup_epochs`` from 0 to ``lr``, then
  cosine decay to 0 at the end of training (ViT/Swin);
* ``"exponential"``: ``lr * decay_factor ** floor(step / decay_every_steps)``
  (W-Softmax: 0.01, x0.9 every 6000 steps, the W-Softmax paper, section 5);
* ``"constant"``.

``warmup_epochs > 0`` with ``"piecewise"`` prepends a linear warm-up as well.
"""

from __future__ import annotations

from typing import Any

import jax
import optax

__all__ = ["make_optimizer", "make_schedule"]

SCHEDULES = ("piecewise", "cosine", "exponential", "constant")
OPTIMIZERS = ("sgd", "adamw", "adam")


def make_schedule(opt: Any, *, steps_per_epoch: int, num_epochs: int) -> optax.Schedule:
    """The learning rate as a function of the optimizer step.

    Args:
      opt: the ``config.optimizer`` ConfigDict (learning_rate, schedule,
        boundaries_epochs, decay_factor, warmup_epochs, decay_every_steps).
      steps_per_epoch: optimizer steps per epoch (> 0).
      num_epochs: total epochs of the run (cosine decays to 0 at its end).
    """
    if steps_per_epoch <= 0:
        raise ValueError(f"`steps_per_epoch` must be positive, got {steps_per_epoch}.")
    lr = float(opt.learning_rate)
    if lr <= 0:
        raise ValueError(f"`optimizer.learning_rate` must be positive, got {lr}.")
    kind = opt.schedule
    warmup = int(round(float(opt.get("warmup_epochs", 0.0)) * steps_per_epoch))
    total = max(int(num_epochs * steps_per_epoch), 1)
    if kind == "piecewise":
        boundaries = {int(round(float(e) * steps_per_epoch)): float(opt.decay_factor)
                      for e in opt.boundaries_epochs}
        main = optax.piecewise_constant_schedule(lr, {b: f for b, f in boundaries.items() if b > 0})
    elif kind == "cosine":
        return optax.warmup_cosine_decay_schedule(
            init_value=0.0, peak_value=lr, warmup_steps=warmup,
            decay_steps=max(total, warmup + 1), end_value=0.0)
    elif kind == "exponential":
        main = optax.exponential_decay(lr, transition_steps=int(opt.decay_every_steps),
                                       decay_rate=float(opt.decay_factor), staircase=True)
    elif kind == "constant":
        main = optax.constant_schedule(lr)
    else:
        raise ValueError(f"`optimizer.schedule` must be one of {SCHEDULES}, got {kind!r}.")
    if warmup > 0:
        return optax.join_schedules(
            [optax.linear_schedule(0.0, lr, warmup), lambda s: main(s)], [warmup])
    return main


def _decay_mask(params: Any) -> Any:
    return jax.tree.map(lambda p: p.ndim > 1, params)


def make_optimizer(opt: Any, *, steps_per_epoch: int, num_epochs: int
                   ) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """``config.optimizer`` -> (optax transformation, schedule).

    Fields: name ("sgd" | "adamw" | "adam"), learning_rate, momentum, nesterov,
    weight_decay, b1, b2, eps, grad_clip_norm (0 = off), weight_decay_exclude_1d
    and the schedule fields of :func:`make_schedule`.
    """
    schedule = make_schedule(opt, steps_per_epoch=steps_per_epoch, num_epochs=num_epochs)
    wd = float(opt.get("weight_decay", 0.0))
    if wd < 0:
        raise ValueError(f"`optimizer.weight_decay` must be >= 0, got {wd}.")
    mask = _decay_mask if opt.get("weight_decay_exclude_1d", False) else None
    parts = []
    clip = float(opt.get("grad_clip_norm", 0.0))
    if clip > 0:
        parts.append(optax.clip_by_global_norm(clip))
    name = opt.name
    if name == "sgd":
        if wd > 0:
            parts.append(optax.add_decayed_weights(wd, mask=mask))
        momentum = float(opt.get("momentum", 0.9))
        parts.append(optax.sgd(schedule, momentum=momentum if momentum > 0 else None,
                               nesterov=bool(opt.get("nesterov", False))))
    elif name == "adamw":
        parts.append(optax.adamw(schedule, b1=float(opt.get("b1", 0.9)),
                                 b2=float(opt.get("b2", 0.999)), eps=float(opt.get("eps", 1e-8)),
                                 weight_decay=wd, mask=mask))
    elif name == "adam":
        if wd > 0:
            parts.append(optax.add_decayed_weights(wd, mask=mask))
        parts.append(optax.adam(schedule, b1=float(opt.get("b1", 0.9)),
                                b2=float(opt.get("b2", 0.999)), eps=float(opt.get("eps", 1e-8))))
    else:
        raise ValueError(f"`optimizer.name` must be one of {OPTIMIZERS}, got {name!r}.")
    return optax.chain(*parts), schedule
