"""The W-Softmax paper's configs: the rows of its tables map to the right head and loss."""

from __future__ import annotations

import pytest

from mfdjax.configs import load_config
from mfdjax.train.objective import check_loss_config


def test_original_softmax_is_conventional():
    c = load_config("w_softmax:cifar10,softmax")
    assert (c.model.head, c.loss.name) == ("linear", "softmax")
    assert c.model.head_kwargs.get("use_bias", True)          # FC with its bias


def test_alpha_rows_and_the_softmax_phase():
    c0 = load_config("w_softmax:mnist,0")
    assert (c0.model.head, c0.loss.name, c0.loss.kwargs.alpha) == ("cosine", "w_softmax", 0.0)
    assert c0.loss.switch_steps == 0
    c = load_config("w_softmax:mnist,1.5")
    # 50 epochs of 60,000 // 50 = 1,200 steps: softmax for the first half.
    assert c.loss.switch_steps == 50 * 1200 // 2
    assert load_config("w_softmax:cifar100,0.5").loss.switch_steps == 300 * (50000 // 256) // 2


def test_lsoftmax_row():
    c = load_config("w_softmax:cifar100,lsoftmax")
    assert (c.model.head, c.loss.name, c.loss.kwargs.margin) == ("linear", "l_softmax", 4)
    assert c.model.head_kwargs.use_bias is False
    check_loss_config(c)


def test_first_k_classes_and_their_switch():
    c = load_config("w_softmax:cifar10,1.5,7")
    assert c.dataset.classes == tuple(range(7))
    assert c.loss.switch_steps == 300 * (35000 // 256) // 2
    assert "92.65" in c.description                             # Table 4, k = 7
    m = load_config("w_softmax:mnist,1.5,5")                     # MNIST's unequal classes
    assert m.loss.switch_steps == 50 * ((5923 + 6742 + 5958 + 6131 + 5842) // 50) // 2


def test_webface_row():
    c = load_config("w_softmax:webface,1.0")
    assert c.dataset.name == "image_folder" and c.dataset.options.image_size == 160
    assert c.max_steps == 30000 and c.loss.switch_steps == 15000


@pytest.mark.parametrize("arg, match", [("mnist,sofmax", "method must be one of"),
                                        ("mnist,-1", "alpha must be"),
                                        ("svhn,1", "dataset must be one of"),
                                        ("mnist,1,11", r"integer in \[2, 10\]")])
def test_bad_arguments_are_named(arg, match):
    with pytest.raises(ValueError, match=match):
        load_config(f"w_softmax:{arg}")


def test_lsoftmax_lambda_descent():
    """loss.lam_anneal: lam = max(base (1 + gamma t)^-power, lam_min), t = step + 1."""
    import jax.numpy as jnp
    import numpy as np

    from mfdjax.losses import l_softmax_loss
    from mfdjax.train.objective import classification_loss

    c = load_config("w_softmax:mnist,lsoftmax")
    assert tuple(c.loss.lam_anneal) == (1000.0, 0.000025, 35.0, 0.0)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(6, 5)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(5, 4)), jnp.float32)
    y = jnp.asarray([0, 1, 2, 3, 0, 1])
    params = {"head": {"fc": {"kernel": kernel}}}
    for step, lam in ((0, 1000.0 * (1 + 0.000025) ** -35), (9999, 1000.0 * 1.25 ** -35)):
        got = classification_loss(c, logits=x @ kernel, out={"pre_logits": x}, labels=y,
                                  params=params, loss_state={}, step=jnp.int32(step))
        want = jnp.mean(l_softmax_loss(x, y, kernel.T, margin=4, lam=lam))
        np.testing.assert_allclose(float(got), float(want), rtol=1e-5)
    c.loss.lam_anneal = ()
    got = classification_loss(c, logits=x @ kernel, out={"pre_logits": x}, labels=y,
                              params=params, loss_state={}, step=jnp.int32(0))
    np.testing.assert_allclose(float(got), float(jnp.mean(l_softmax_loss(x, y, kernel.T,
                                                                         margin=4))), rtol=1e-5)
