"""The pure, jitted steps: train ``(state, batch) -> (state, metrics)``, eval, correlations.

Nothing here does I/O. A batch is ``{"image": uint8 (B, H, W, C), "label": int32 (B,)}``
(plus ``"mask"`` float32 (B,) for evaluation: padded rows have mask 0); the
augmentation (pad + random crop + flip, mfdjax.data.augment) and the
normalisation run inside the step on the device.

Under ``jax.jit`` with the batch sharded along the mesh's ``"data"`` axis and the
state replicated, every batch statistic (the MFD correlation, BatchNorm moments,
the SC correlation, the centre update) is over the GLOBAL batch: XLA inserts the
all-reduces, so the result is the single-device result (tests/train/test_mesh.py).

Per step the train step:

1. draws the step key ``fold_in(state.rng, state.step)`` (resume-exact);
2. augments, runs the model (``features=config.mfd.features`` when MFD is on),
   computes ``L_cls + lambda * sum_s L_MFD`` (:mod:`mfdjax.train.objective`);
3. applies the optimizer update; COT then does a second forward/backward pass
   with the complement-entropy objective and its own optimizer state (two
   optimizers, as in the COT reference implementation);
4. updates the loss state: Center loss centres (their own rule), the NaC/POD
   epoch accumulator and, after the last step of an epoch, delta;
5. guards: if the loss, any gradient, or any leaf of the UPDATED state
   (params, batch_stats, optimizer state, loss state) is not finite, the whole
   update is discarded (the state stays the last finite one) and ``nonfinite``
   counts it; once ``nonfinite > 0`` no later update is applied. The loop
   checks the counter and raises (without saving the frozen state). (A huge
   learning rate can leave the loss and gradients finite and still overflow the
   new parameters or BatchNorm statistics, so the new state is checked too.)
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from mfdjax.train import objective
from mfdjax.train.state import TrainState, wrap_key

__all__ = ["make_correlation_fn", "make_eval_step", "make_train_step"]


def _variables(params, batch_stats):
    v = {"params": params}
    if batch_stats:
        v["batch_stats"] = batch_stats
    return v


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
              if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def _prepare(config, images, key, mean, std, train: bool):
    from mfdjax.data import augment, normalize

    if train and config.dataset.augment:
        return augment(key, images, pad=int(config.dataset.pad), flip=bool(config.dataset.flip),
                       mean=mean, std=std)
    return normalize(images, mean, std)


def make_train_step(config: Any, *, steps_per_epoch: int, mean: Any, std: Any,
                    schedule: Callable | None = None
                    ) -> Callable[[TrainState, dict], tuple[TrainState, dict]]:
    """Builds the (un-jitted) train step for ``config``; jit it with the mesh shardings.

    Args:
      config: run config.
      steps_per_epoch: static, for the end-of-epoch NaC delta update.
      mean, std: per-channel normalisation constants of the dataset.

    Returns:
      ``train_step(state, batch) -> (new_state, metrics)`` where metrics hold
      float32 scalars: ``loss`` (total), ``cls_loss``, ``mfd_loss``,
      ``accuracy`` (train top-1 on the augmented batch), ``lr``, ``grad_norm``,
      and ``cot_loss`` for COT.
    """
    objective.check_loss_config(config)
    name = config.loss.name
    mfd_weight = float(config.mfd.weight)
    level = config.mfd.features if mfd_weight > 0 else None
    from mfdjax.models.common import COLLECTION, collect_features

    def forward(params, state, images, rng, features):
        mutable = []
        if state.batch_stats:
            mutable.append("batch_stats")
        if features is not None:
            mutable.append(COLLECTION)
        (logits, out), updates = state.apply_fn(
            _variables(params, state.batch_stats), images, train=True, features=features,
            mutable=mutable, rngs={"dropout": rng})
        return logits, out, updates

    def loss_fn(params, state, images, labels, rng):
        logits, out, updates = forward(params, state, images, rng, level)
        cls = objective.classification_loss(config, logits=logits, out=out, labels=labels,
                                            params=params, loss_state=state.loss_state,
                                            step=state.step)
        if level is not None:
            mfd = objective.mfd_term(collect_features(updates.get(COLLECTION, {})))
        else:
            mfd = jnp.zeros((), jnp.float32)
        total = cls + mfd_weight * mfd
        aux = {"cls_loss": cls, "mfd_loss": mfd, "logits": logits,
               "pre_logits": out["pre_logits"], "centroids": out.get("centroids"),
               "batch_stats": updates.get("batch_stats", state.batch_stats)}
        return total, aux

    def cot_loss_fn(params, state, images, labels, rng):
        from mfdjax.losses.cot import complement_entropy

        logits, _, updates = forward(params, state, images, rng, None)
        # complement_entropy is the (normalised) entropy of the non-target
        # distribution; COT MAXIMISES it, so the step minimises its negative.
        loss = -jnp.mean(complement_entropy(logits.astype(jnp.float32), labels))
        return loss, updates.get("batch_stats", state.batch_stats)

    def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
        rng = jax.random.fold_in(wrap_key(state.rng, config.get("prng_impl", "threefry")),
                                 state.step)
        aug_key, drop_key, cot_key = jax.random.split(rng, 3)
        images = _prepare(config, batch["image"], aug_key, mean, std, train=True)
        labels = batch["label"]
        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params, state, images, labels, drop_key)
        updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        batch_stats = aux["batch_stats"]
        loss_state = dict(state.loss_state)
        metrics = {
            "loss": loss, "cls_loss": aux["cls_loss"], "mfd_loss": aux["mfd_loss"],
            "accuracy": jnp.mean(jnp.argmax(aux["logits"], -1) == labels),
            "grad_norm": optax.global_norm(grads),
        }
        if schedule is not None:
            metrics["lr"] = schedule(state.step)
        finite = jnp.isfinite(loss) & _all_finite(grads)

        if name == "cot":
            tmp = state.replace(params=params, batch_stats=batch_stats)
            (closs, batch_stats), cgrads = jax.value_and_grad(cot_loss_fn, has_aux=True)(
                params, tmp, images, labels, cot_key)
            cupd, cot_opt = state.tx.update(cgrads, loss_state["cot_opt_state"], params)
            params = optax.apply_updates(params, cupd)
            loss_state["cot_opt_state"] = cot_opt
            metrics["cot_loss"] = closs
            finite = finite & jnp.isfinite(closs) & _all_finite(cgrads)

        if name == "center":
            from mfdjax.losses.center import center_update

            loss_state["centers"] = center_update(
                jax.lax.stop_gradient(aux["pre_logits"]).astype(jnp.float32), labels,
                loss_state["centers"], alpha=float(config.loss.center_alpha))

        if name in ("nac", "pod"):
            from mfdjax.losses.pod import nac_delta, nac_norm_stats

            # delta(e, M) = alpha * e * M (POD paper eq. 17), e 1-based, M the
            # mean norm over the epoch that just ended (features x; the
            # reference variant: logits x P^T, and delta = 0.05 in epoch 1).
            variant = config.loss.delta_variant
            total, count = nac_norm_stats(
                jax.lax.stop_gradient(aux["pre_logits"]).astype(jnp.float32),
                aux["centroids"], variant=variant)
            norm_sum = loss_state["norm_sum"] + total
            norm_count = loss_state["norm_count"] + count
            epoch_end = (state.step + 1) % steps_per_epoch == 0
            next_epoch = (state.step + 1) // steps_per_epoch + 1       # 1-based
            mean_norm = norm_sum / jnp.maximum(norm_count, 1.0)
            new_delta = nac_delta(next_epoch, mean_norm, alpha=float(config.loss.delta_alpha),
                                  variant=variant)
            loss_state["delta"] = jnp.where(epoch_end, jnp.asarray(new_delta, jnp.float32),
                                            loss_state["delta"])
            loss_state["norm_sum"] = jnp.where(epoch_end, 0.0, norm_sum)
            loss_state["norm_count"] = jnp.where(epoch_end, 0.0, norm_count)
            metrics["delta"] = loss_state["delta"]
            metrics["mean_norm"] = total / count

        new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                                  batch_stats=batch_stats, loss_state=loss_state)
        finite = finite & _all_finite((params, opt_state, batch_stats, loss_state))
        ok = finite & (state.nonfinite == 0)
        new_state = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new_state, state)
        new_state = new_state.replace(
            nonfinite=state.nonfinite + jnp.where(finite, 0, 1).astype(jnp.int32))
        metrics = {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}
        return new_state, metrics

    return train_step


def make_eval_step(config: Any, *, mean: Any, std: Any, num_classes: int
                   ) -> Callable[[TrainState, dict], dict]:
    """Builds the eval step: sums over the (masked) batch.

    Returns:
      ``eval_step(state, batch) -> {"count", "correct", "correct5", "loss"}``
      (float32 sums; divide totals by ``count``). ``correct5`` is top-5 and is
      only computed for ``num_classes >= 100`` (0 otherwise). ``loss`` is the
      softmax CE of the logits (for every head, as a comparable curve).
    """
    top5 = num_classes >= 100

    def eval_step(state: TrainState, batch: dict) -> dict:
        images = _prepare(config, batch["image"], None, mean, std, train=False)
        logits, _ = state.apply_fn(_variables(state.params, state.batch_stats), images,
                                   train=False)
        logits = logits.astype(jnp.float32)
        labels = batch["label"]
        mask = batch["mask"].astype(jnp.float32)
        correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
        out = {"count": jnp.sum(mask), "correct": jnp.sum(correct * mask),
               "loss": jnp.sum(ce * mask)}
        if top5:
            _, idx = jax.lax.top_k(logits, 5)
            hit5 = jnp.any(idx == labels[:, None], axis=-1).astype(jnp.float32)
            out["correct5"] = jnp.sum(hit5 * mask)
        else:
            out["correct5"] = jnp.zeros((), jnp.float32)
        return out

    return eval_step


def make_correlation_fn(config: Any, *, mean: Any, std: Any, level: str = "stages"
                        ) -> Callable[[TrainState, jax.Array], jax.Array]:
    """Per-map mean |correlation| (Zhu et al., "Multi-stage feature decorrelation constraints
    for improving CNN classification performance", Tables I/III) on a fixed batch.

    Returns:
      ``fn(state, images_uint8) -> (S,)`` float32: for each map sown at ``level``
      (network order), the mean of ``|F_ij|`` over ``i != j`` of its channel
      Pearson matrix over the batch, in inference mode (BN running averages).
    """
    from mfdjax.losses.mfd import mean_abs_correlation
    from mfdjax.models.common import COLLECTION, collect_features

    def fn(state: TrainState, images: jax.Array) -> jax.Array:
        x = _prepare(config, images, None, mean, std, train=False)
        _, updates = state.apply_fn(_variables(state.params, state.batch_stats), x,
                                    train=False, features=level, mutable=[COLLECTION])
        maps = collect_features(updates.get(COLLECTION, {}))
        return jnp.stack([mean_abs_correlation(m).astype(jnp.float32) for m in maps])

    return fn
