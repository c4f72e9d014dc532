"""Optimizers and schedules: PyTorch-coupled weight decay, step schedules in steps."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mfdjax.configs.base import get_base_config
from mfdjax.train.optim import make_optimizer, make_schedule


def _opt(**kw):
    o = get_base_config().optimizer
    for k, v in kw.items():
        o[k] = v
    return o


def test_piecewise_schedule_is_the_papers():
    s = make_schedule(_opt(), steps_per_epoch=10, num_epochs=100)
    for step, lr in ((0, 0.1), (299, 0.1), (300, 0.01), (599, 0.01), (600, 1e-3),
                     (900, 1e-4), (999, 1e-4)):
        np.testing.assert_allclose(float(s(step)), lr, rtol=1e-6)


def test_exponential_and_cosine_schedules():
    s = make_schedule(_opt(schedule="exponential", learning_rate=0.01, decay_factor=0.9,
                           decay_every_steps=6000), steps_per_epoch=100, num_epochs=10)
    np.testing.assert_allclose([float(s(0)), float(s(5999)), float(s(6000)), float(s(12000))],
                               [0.01, 0.01, 0.009, 0.0081], rtol=1e-6)
    c = make_schedule(_opt(schedule="cosine", learning_rate=1e-3, warmup_epochs=2.0),
                      steps_per_epoch=10, num_epochs=10)
    assert float(c(0)) == 0.0
    np.testing.assert_allclose(float(c(10)), 5e-4, rtol=1e-5)
    np.testing.assert_allclose(float(c(20)), 1e-3, rtol=1e-5)
    assert float(c(100)) == pytest.approx(0.0, abs=1e-9)


def test_sgd_weight_decay_is_coupled_like_pytorch():
    """b = mu b + (g + wd p); p -= lr b (torch.optim.SGD with weight_decay)."""
    tx, _ = make_optimizer(_opt(learning_rate=0.1, momentum=0.9, weight_decay=5e-4,
                                schedule="constant"), steps_per_epoch=1, num_epochs=1)
    p = jnp.array([1.0, -2.0, 3.0])
    state = tx.init(p)
    p_ref, buf = np.array(p), np.zeros(3)
    rng = np.random.default_rng(0)
    for _ in range(4):
        g = rng.normal(size=3)
        upd, state = tx.update(jnp.asarray(g, jnp.float32), state, p)
        p = optax.apply_updates(p, upd)
        buf = 0.9 * buf + (g + 5e-4 * p_ref)
        p_ref = p_ref - 0.1 * buf
    np.testing.assert_allclose(np.asarray(p), p_ref, rtol=1e-5)


def test_bad_optimizer_config_raises():
    with pytest.raises(ValueError, match="optimizer.name"):
        make_optimizer(_opt(name="lion"), steps_per_epoch=1, num_epochs=1)
    with pytest.raises(ValueError, match="optimizer.schedule"):
        make_schedule(_opt(schedule="linear"), steps_per_epoch=1, num_epochs=1)
    with pytest.raises(ValueError, match="learning_rate"):
        make_schedule(_opt(learning_rate=0.0), steps_per_epoch=1, num_epochs=1)
