"""The jitted train step: learning, every loss composition, stateful losses, the NaN guard."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mfdjax.data import load_dataset, normalize
from mfdjax.train import mesh as mesh_lib
from mfdjax.train.loop import build_model
from mfdjax.train.optim import make_optimizer
from mfdjax.train.state import create_train_state, make_key
from mfdjax.train.step import make_eval_step, make_train_step
from tests.train._tiny import tiny_config


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits", "train")
    return ds


def _setup(config, ds, *, steps_per_epoch=4, devices=None, batch_index=0):
    mesh = mesh_lib.make_mesh(devices)
    model = build_model(config, ds.num_classes)
    tx, schedule = make_optimizer(config.optimizer, steps_per_epoch=steps_per_epoch,
                                  num_epochs=config.num_epochs)
    state = create_train_state(config, model, rng=make_key(config.seed, config.prng_impl),
                               input_shape=ds.images.shape[1:], num_classes=ds.num_classes,
                               tx=tx)
    state = mesh_lib.replicate(state, mesh)
    repl, data = mesh_lib.replicated_sharding(mesh), mesh_lib.data_sharding(mesh)
    mean, std = np.asarray(ds.mean, np.float32), np.asarray(ds.std, np.float32)
    step = jax.jit(make_train_step(config, steps_per_epoch=steps_per_epoch, mean=mean,
                                   std=std, schedule=schedule),
                   in_shardings=(repl, data), out_shardings=(repl, repl))
    b = config.batch_size
    sl = slice(batch_index * b, (batch_index + 1) * b)
    batch = mesh_lib.global_batch({"image": ds.images[sl], "label": ds.labels[sl]}, mesh)
    return state, step, batch, model, (mean, std)


def test_train_step_traces_once(digits):
    """Steps with new data, a new step count and new state never retrace the step."""
    import chex

    config = tiny_config(mfd__weight=1.0, dataset__augment=True)
    mesh = mesh_lib.make_mesh(None)
    model = build_model(config, digits.num_classes)
    tx, schedule = make_optimizer(config.optimizer, steps_per_epoch=4,
                                  num_epochs=config.num_epochs)
    state = create_train_state(config, model, rng=make_key(config.seed, config.prng_impl),
                               input_shape=digits.images.shape[1:],
                               num_classes=digits.num_classes, tx=tx)
    state = mesh_lib.replicate(state, mesh)
    mean, std = np.asarray(digits.mean, np.float32), np.asarray(digits.std, np.float32)
    fn = chex.assert_max_traces(make_train_step(config, steps_per_epoch=4, mean=mean,
                                                std=std, schedule=schedule), n=1)
    step = jax.jit(fn)
    b = config.batch_size
    for i in range(3):
        batch = mesh_lib.global_batch({"image": digits.images[i * b:(i + 1) * b],
                                       "label": digits.labels[i * b:(i + 1) * b]}, mesh)
        state, _ = step(state, batch)
    assert int(state.step) == 3


def test_steps_decrease_loss(digits):
    config = tiny_config(mfd__weight=1.0, dataset__augment=False, optimizer__learning_rate=0.1)
    state, step, batch, _, _ = _setup(config, digits)
    losses = []
    for _ in range(6):
        state, m = step(state, batch)
        losses.append(float(m["loss"]))
    assert all(np.isfinite(losses))
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < losses[0] - 0.1, losses
    assert int(state.step) == 6


CASES = [
    ("softmax", "linear", {}),
    ("center", "linear", {}),
    ("cot", "linear", {}),
    ("l_softmax", "linear", {"model.head_kwargs.use_bias": False}),
    ("am_softmax", "cosine", {}),
    ("arcface", "cosine", {}),
    ("combined_margin", "cosine", {}),
    ("w_softmax", "cosine", {"loss.kwargs.alpha": 1.0}),
    ("cosine", "pod", {}),
    ("nac", "pod", {}),
    ("pod", "pod", {}),
    ("pedcc", "pod", {}),
]


@pytest.mark.slow
@pytest.mark.parametrize("loss,head,extra", CASES, ids=[c[0] for c in CASES])
def test_every_loss_composition_runs_a_finite_step(digits, loss, head, extra):
    config = tiny_config(loss__name=loss, model__head=head, mfd__weight=1.0)
    from mfdjax.configs import apply_overrides

    if head == "pod":
        apply_overrides(config, [("model.head_kwargs.dim", 16)])
    apply_overrides(config, list(extra.items()))
    state, step, batch, _, _ = _setup(config, digits)
    new, m = step(state, batch)
    assert int(new.nonfinite) == 0
    for k, v in m.items():
        assert np.isfinite(float(v)), (k, v)
    assert float(m["mfd_loss"]) > 0
    moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), new.params, state.params)
    assert any(jax.tree.leaves(moved))


def test_unknown_loss_or_wrong_head_raises(digits):
    with pytest.raises(ValueError, match="loss.name"):
        _setup(tiny_config(loss__name="nope"), digits)
    with pytest.raises(ValueError, match="model.head='cosine'"):
        _setup(tiny_config(loss__name="arcface"), digits)


def _features(model, state, images, mean, std):
    x = normalize(images, mean, std)
    (logits, out), _ = model.apply({"params": state.params, "batch_stats": state.batch_stats},
                                   x, train=True, mutable=["batch_stats"])
    return logits, out


def test_pod_delta_updates_at_epoch_end(digits):
    """delta = alpha * e * M with M the mean feature norm over the finished epoch (eq. 17)."""
    from mfdjax.losses.pod import nac_delta

    config = tiny_config(loss__name="pod", model__head="pod", model__head_kwargs__dim=16,
                         dataset__augment=False)
    state, step, batch, model, (mean, std) = _setup(config, digits, steps_per_epoch=2)
    assert np.isclose(float(state.loss_state["delta"]), 0.01 * 1 * 0.05)
    norms = []
    for i in range(2):
        _, out = _features(model, state, batch["image"], mean, std)
        norms.append(np.linalg.norm(np.asarray(out["pre_logits"]), axis=-1))
        state, m = step(state, batch)
        if i == 0:  # mid-epoch: unchanged, accumulating
            assert np.isclose(float(state.loss_state["delta"]), 0.0005)
            assert np.isclose(float(state.loss_state["norm_count"]), 64.0)
    expected = float(nac_delta(2, float(np.mean(np.concatenate(norms))), alpha=0.01))
    np.testing.assert_allclose(float(state.loss_state["delta"]), expected, rtol=1e-5)
    assert float(state.loss_state["norm_count"]) == 0.0


def test_center_update_inside_step(digits):
    from mfdjax.losses import center_update

    config = tiny_config(loss__name="center", dataset__augment=False, loss__center_alpha=0.5)
    state, step, batch, model, (mean, std) = _setup(config, digits)
    _, out = _features(model, state, batch["image"], mean, std)
    expected = center_update(out["pre_logits"], batch["label"], state.loss_state["centers"],
                             alpha=0.5)
    new, _ = step(state, batch)
    np.testing.assert_allclose(np.asarray(new.loss_state["centers"]), np.asarray(expected),
                               rtol=1e-5, atol=1e-6)
    present = np.unique(np.asarray(batch["label"]))
    assert np.abs(np.asarray(new.loss_state["centers"])[present]).sum() > 0


def test_cot_alternates_two_updates(digits):
    config = tiny_config(loss__name="cot", dataset__augment=False)
    state, step, batch, _, _ = _setup(config, digits)
    new, m = step(state, batch)
    count = lambda s: int(optax.tree_utils.tree_get(s, "count"))  # noqa: E731
    assert count(new.opt_state) == 1 and count(new.loss_state["cot_opt_state"]) == 1
    assert float(m["cot_loss"]) < 0  # minus the complement entropy, which is >= 0
    config_ce = tiny_config(loss__name="softmax", dataset__augment=False)
    s2, step2, batch2, _, _ = _setup(config_ce, digits)
    ce_only, m2 = step2(s2, batch2)
    np.testing.assert_allclose(float(m["cls_loss"]), float(m2["cls_loss"]), rtol=1e-6)
    diff = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), new.params, ce_only.params)
    assert max(jax.tree.leaves(diff)) > 0  # the complement step moved the parameters


def test_w_softmax_switch(digits):
    """alpha = 0 (plain normalised softmax) before loss.switch_steps, alpha after."""
    from mfdjax.losses import w_softmax_loss

    results = {}
    for switch in (0, 1):
        config = tiny_config(loss__name="w_softmax", model__head="cosine",
                             loss__kwargs__alpha=1.5, loss__switch_steps=switch,
                             dataset__augment=False)
        state, step, batch, model, (mean, std) = _setup(config, digits)
        _, out = _features(model, state, batch["image"], mean, std)
        _, m = step(state, batch)
        results[switch] = float(m["cls_loss"])
        alpha = 1.5 if switch == 0 else 0.0
        want = float(jnp.mean(w_softmax_loss(out["pre_logits"], batch["label"], out["weights"],
                                              alpha=alpha)))
        np.testing.assert_allclose(results[switch], want, rtol=1e-5)
    assert results[0] != results[1]


def test_nonfinite_update_is_discarded_and_counted(digits):
    config = tiny_config(optimizer__learning_rate=1e30, optimizer__weight_decay=0.0,
                         dataset__augment=False)
    state, step, batch, _, _ = _setup(config, digits)
    seen_bad = False
    for _ in range(6):
        prev = state
        state, m = step(state, batch)
        if int(state.nonfinite) > 0:
            seen_bad = True
            same = jax.tree.map(lambda a, b: bool(jnp.all(a == b)), state.params, prev.params)
            assert all(jax.tree.leaves(same))
            assert int(state.step) == int(prev.step)
            break
    assert seen_bad


def test_update_that_overflows_the_state_is_discarded_even_with_finite_loss_and_grads(digits):
    """An infinite learning rate: the loss and the gradients of the step are finite (they
    are computed at the old parameters), the new parameters are not. The guard must look at
    the updated state, not only at the loss and the gradients."""
    config = tiny_config(optimizer__weight_decay=0.0, dataset__augment=False)
    with config.unlocked():
        config.optimizer.learning_rate = float("inf")   # validate_config would refuse it
    state, step, batch, _, _ = _setup(config, digits)
    before = jax.device_get(state)
    new, m = step(state, batch)
    assert np.isfinite(float(m["loss"])) and np.isfinite(float(m["grad_norm"]))
    assert int(new.nonfinite) == 1 and int(new.step) == 0
    for a, b in zip(jax.tree.leaves(new.params) + jax.tree.leaves(new.batch_stats)
                    + jax.tree.leaves(new.opt_state),
                    jax.tree.leaves(before.params) + jax.tree.leaves(before.batch_stats)
                    + jax.tree.leaves(before.opt_state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_eval_step_counts(digits):
    config = tiny_config()
    state, _, _, _, (mean, std) = _setup(config, digits)
    mesh = mesh_lib.make_mesh()
    ev = jax.jit(make_eval_step(config, mean=mean, std=std, num_classes=10))
    mask = np.ones(64, np.float32)
    mask[-8:] = 0
    batch = mesh_lib.global_batch({"image": digits.images[:64], "label": digits.labels[:64],
                                   "mask": mask}, mesh)
    out = ev(state, batch)
    assert float(out["count"]) == 56
    assert 0 <= float(out["correct"]) <= 56


def test_bfloat16_compute_keeps_float32_params_and_optimizer_state(digits):
    config = tiny_config(model__dtype="bfloat16", mfd__weight=1.0)
    state, step, batch, _, _ = _setup(config, digits)
    new, m = step(state, batch)
    assert np.isfinite(float(m["loss"])) and float(m["mfd_loss"]) > 0
    for leaf in jax.tree.leaves((new.params, new.opt_state)):
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            assert leaf.dtype == jnp.float32


@pytest.mark.parametrize("num_classes", [100, 10])
def test_eval_step_top1_top5_against_numpy(num_classes):
    """Top-1 / top-5 sums (top-5 only from 100 classes on) against a NumPy count, with a mask."""
    import types

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(32, num_classes)).astype(np.float32)
    labels = rng.integers(0, num_classes, size=32).astype(np.int32)
    labels[:6] = np.argsort(logits[:6], axis=1)[:, -3]  # third-best: top-5 hit, top-1 miss
    labels[6:10] = np.argmax(logits[6:10], axis=1)      # top-1 hits
    mask = np.ones(32, np.float32)
    mask[-4:] = 0
    state = types.SimpleNamespace(
        apply_fn=lambda variables, x, train: (jnp.asarray(logits) + 0.0 * x.sum(), {}),
        params={}, batch_stats={})
    eval_step = make_eval_step(tiny_config(), mean=(0.0,), std=(1.0,), num_classes=num_classes)
    ev = jax.jit(lambda batch: eval_step(state, batch))  # the stub state is closed over
    out = ev({"image": np.zeros((32, 4, 4, 1), np.uint8), "label": labels,
                     "mask": mask})
    valid = mask > 0
    top1 = (np.argmax(logits, 1) == labels)[valid].sum()
    top5 = np.any(np.argsort(logits, 1)[:, -5:] == labels[:, None], axis=1)[valid].sum()
    assert float(out["count"]) == 28
    assert float(out["correct"]) == top1 >= 4
    assert float(out["correct5"]) == (top5 if num_classes >= 100 else 0.0)
    if num_classes >= 100:
        assert top5 >= top1 + 6
