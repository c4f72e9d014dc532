"""The train state: one pytree holding everything a run needs to resume exactly.

:class:`TrainState` extends ``flax.training.train_state.TrainState`` (params,
opt_state, step, and the static apply_fn / tx) with

* ``batch_stats``: BatchNorm running statistics (empty dict for models without BN);
* ``rng``: the run's base PRNG key as raw uint32 key data (``config.prng_impl``
  says how to wrap it). The step's randomness (augmentation, dropout) is
  ``fold_in(rng, step)``, a pure function of the step number, so a resumed run
  draws exactly the keys an uninterrupted one would;
* ``loss_state``: the state of the stateful losses, a dict that may hold
  ``"delta"`` (NaC/POD delta, the POD paper, eq. 17), ``"norm_sum"`` /
  ``"norm_count"`` (the running mean-norm accumulator of the current epoch),
  ``"centers"`` (Center loss, (K, D)), ``"cot_opt_state"`` (COT's complement
  step optimizer);
* ``nonfinite``: int32, number of steps whose loss, gradient or updated state
  was not finite. Once non-zero, the jitted step stops applying updates (the
  state stays the last finite one) and the loop raises without saving it.

The data position is ``step``: with ``steps_per_epoch`` fixed (drop_remainder),
``epoch, step_in_epoch = divmod(step, steps_per_epoch)``, and the batch order
is a pure function of ``(seed, epoch)`` (``mfdjax.data.batch_indices``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

__all__ = ["TrainState", "create_train_state", "init_loss_state", "make_key", "param_count",
           "wrap_key"]

PRNG_IMPLS = ("threefry", "rbg", "unsafe_rbg")


def _impl(name: str) -> str:
    if name not in PRNG_IMPLS:
        raise ValueError(f"`prng_impl` must be one of {PRNG_IMPLS}, got {name!r}.")
    return "threefry2x32" if name == "threefry" else name


def make_key(seed: int, impl: str = "threefry") -> jax.Array:
    """A typed PRNG key of implementation ``impl`` ("threefry" | "rbg" | "unsafe_rbg")."""
    return jax.random.key(int(seed), impl=_impl(impl))


def wrap_key(data: jax.Array, impl: str = "threefry") -> jax.Array:
    """Raw uint32 key data (as stored in the state / checkpoint) -> typed key."""
    return jax.random.wrap_key_data(data, impl=_impl(impl))


class TrainState(train_state.TrainState):
    batch_stats: Any = None
    rng: jax.Array = None
    loss_state: Any = None
    nonfinite: jax.Array = None


def param_count(params: Any) -> int:
    """Number of scalar parameters in a pytree (works on ShapeDtypeStructs)."""
    return int(sum(int(jnp.size(x)) if hasattr(x, "size") else 0
                   for x in jax.tree.leaves(params)))


def init_loss_state(config: Any, *, num_classes: int, feature_dim: int,
                    tx: optax.GradientTransformation, params: Any) -> dict:
    """Initial state of the configured loss (see :class:`TrainState`)."""
    from mfdjax.losses.pod import nac_delta

    name = config.loss.name
    out: dict[str, Any] = {}
    if name in ("nac", "pod"):
        variant = config.loss.delta_variant
        if variant not in ("paper", "reference"):
            raise ValueError("`loss.delta_variant` must be 'paper' or 'reference', got "
                             f"{variant!r}.")
        # First epoch (e = 1, 1-based): paper alpha * 1 * M0 with M0 = 0.05;
        # reference: delta = 0.05 itself.
        delta0 = nac_delta(1, float(config.loss.delta_initial_norm),
                           alpha=float(config.loss.delta_alpha), variant=variant)
        out["delta"] = jnp.asarray(delta0, jnp.float32)
        out["norm_sum"] = jnp.zeros((), jnp.float32)
        out["norm_count"] = jnp.zeros((), jnp.float32)
    if name == "center":
        out["centers"] = jnp.zeros((num_classes, feature_dim), jnp.float32)
    if name == "cot":
        out["cot_opt_state"] = tx.init(params)
    return out


def load_pretrained(model: Any, params: Any) -> Any:
    """``params`` with the backbone's pre-trained weights, when its ``pretrained`` names a file.

    A backbone with a non-empty ``pretrained`` field and a ``load_pretrained(params)``
    method (:class:`mfdjax.models.vit.VisionTransformer`: the official ViT ``.npz``
    layout) gets its sub-tree ``params["backbone"]`` replaced; anything else is returned
    unchanged.
    """
    backbone = getattr(model, "backbone", None)
    if not getattr(backbone, "pretrained", "") or not hasattr(backbone, "load_pretrained"):
        return params
    out = dict(params)
    out["backbone"] = backbone.load_pretrained(params["backbone"])
    return out


def create_train_state(config: Any, model: Any, *, rng: jax.Array, input_shape: tuple,
                       num_classes: int, tx: optax.GradientTransformation) -> TrainState:
    """Initialises the model and the state (on the default device; replicate after).

    Args:
      config: the run config (``loss`` is read for the loss state).
      model: a Flax module ``apply(vars, x, train=...) -> (logits, out)``.
      rng: the run's typed PRNG key (``make_key(config.seed, config.prng_impl)``).
      input_shape: one image, (H, W, C).
      num_classes: K.
      tx: the optax transformation.
    """
    params_rng, dropout_rng, run_rng = jax.random.split(rng, 3)
    dummy = jnp.zeros((2,) + tuple(input_shape), jnp.float32)

    @jax.jit
    def init(key_p, key_d):
        return model.init({"params": key_p, "dropout": key_d}, dummy, train=False)

    variables = init(params_rng, dropout_rng)
    feature_dim = jax.eval_shape(
        lambda v: model.apply(v, dummy, train=False)[1]["pre_logits"], variables).shape[-1]
    params = load_pretrained(model, variables["params"])
    batch_stats = variables.get("batch_stats", {})
    loss_state = init_loss_state(config, num_classes=num_classes, feature_dim=feature_dim,
                                 tx=tx, params=params)
    return TrainState.create(apply_fn=model.apply, params=params, tx=tx,
                             batch_stats=batch_stats, rng=jax.random.key_data(run_rng),
                             loss_state=loss_state, nonfinite=jnp.zeros((), jnp.int32))
