"""Data parallelism: 8 simulated devices give the single-device loss and update (global batch)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from mfdjax.data import load_dataset
from tests.train._tiny import tiny_config
from tests.train.test_step import _setup


@pytest.mark.slow
def test_eight_devices_match_one_device_including_mfd():
    assert jax.device_count() == 8, "tests/conftest.py should give 8 CPU devices"
    ds = load_dataset("digits", "train")
    # POD head: NaC + SC (a batch correlation) + MFD over the stages + BN: every
    # batch statistic must be over the global batch for the results to agree.
    config = tiny_config(loss__name="pod", model__head="pod", model__head_kwargs__dim=16,
                         mfd__weight=1.0)
    results = {}
    for n in (1, 8):
        state, step, batch, _, _ = _setup(config, ds, devices=jax.devices()[:n])
        assert len(batch["image"].sharding.device_set) == n
        new, metrics = step(state, batch)
        results[n] = jax.device_get((new, metrics))
    (s1, m1), (s8, m8) = results[1], results[8]
    for k in m1:
        np.testing.assert_allclose(m8[k], m1[k], rtol=2e-5, atol=1e-6, err_msg=k)
    assert m1["mfd_loss"] > 0
    flat1 = jax.tree_util.tree_leaves_with_path(s1.params)
    flat8 = jax.tree.leaves(s8.params)
    for (path, a), b in zip(flat1, flat8):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6,
                                   err_msg=jax.tree_util.keystr(path))
    for a, b in zip(jax.tree.leaves(s1.batch_stats), jax.tree.leaves(s8.batch_stats)):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
