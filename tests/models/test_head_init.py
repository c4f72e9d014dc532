"""The heads' ``kernel_init``: Glorot uniform for the W-Softmax configs, Flax's
``lecun_normal`` (unchanged, bit for bit) for every head by default."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mfdjax.configs import load_config
from mfdjax.models.heads import KERNEL_INITS, make_head

D = 256          # the L-Softmax CNN's FC width, the heads' fan-in


def _head_weights(head: str, num_classes: int, head_kwargs: dict, seed: int = 0) -> np.ndarray:
    """The trainable class-weight matrix of a head as (fan_in, fan_out)."""
    module = make_head(head, num_classes, **head_kwargs)
    params = module.init(jax.random.key(seed), jnp.zeros((2, D)))["params"]
    if head == "cosine":
        return np.asarray(params["weights"]).T            # stored (K, D)
    return np.asarray(params["fc1" if head == "pod" else "fc"]["kernel"])


@pytest.mark.parametrize("spec", ["w_softmax:cifar100,1.0", "w_softmax:cifar100,softmax",
                                  "w_softmax:cifar100,lsoftmax", "w_softmax:cifar10,0",
                                  "w_softmax:webface,1.5"])
def test_w_softmax_configs_use_glorot_uniform(spec):
    c = load_config(spec)
    kwargs = c.model.head_kwargs.to_dict()
    assert kwargs["kernel_init"] == "xavier_uniform"
    k = 100
    w = np.concatenate([_head_weights(c.model.head, k, kwargs, seed=s).ravel()
                        for s in range(4)])
    fan_in, fan_out = D, k
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    # U(-a, a): variance a^2 / 3 = 2 / (fan_in + fan_out), every value inside [-a, a].
    np.testing.assert_allclose(w.var(), 2.0 / (fan_in + fan_out), rtol=0.03)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(np.mean(w)) < 0.01 * bound


@pytest.mark.parametrize("head, kwargs", [("linear", {}), ("linear", {"use_bias": False}),
                                          ("cosine", {}), ("pod", {"dim": 64})])
def test_default_head_init_is_unchanged(head, kwargs):
    """No ``kernel_init`` (and ``"lecun_normal"``) give exactly Flax's default Dense init."""

    class Reference(nn.Module):     # the heads' parameter paths before the option existed
        @nn.compact
        def __call__(self, x):
            if head == "cosine":
                return self.param("weights", nn.initializers.lecun_normal(in_axis=1, out_axis=0),
                                  (5, x.shape[-1]), jnp.float32)
            name = "fc1" if head == "pod" else "fc"
            return nn.Dense(kwargs.get("dim", 5), use_bias=kwargs.get("use_bias", True),
                            name=name)(x)

    x = jnp.zeros((2, D))
    ref = Reference().init(jax.random.key(3), x)["params"]
    for extra in ({}, {"kernel_init": "lecun_normal"}):
        got = make_head(head, 5, **kwargs, **extra).init(jax.random.key(3), x)["params"]
        if head == "cosine":
            np.testing.assert_array_equal(got["weights"], ref["weights"])
        else:
            name = "fc1" if head == "pod" else "fc"
            np.testing.assert_array_equal(got[name]["kernel"], ref[name]["kernel"])
    # lecun_normal: variance 1 / fan_in.
    w = _head_weights(head, 100, dict(kwargs, **({"dim": 100} if head == "pod" else {})))
    np.testing.assert_allclose(w.var(), 1.0 / D, rtol=0.05)


@pytest.mark.parametrize("spec", ["pod_losses:pod,cifar100", "pod_losses:arcface,cifar10",
                                  "mfd_cifar:resnet50,cifar100,mfd", "mfd_margins:arcface,mfd",
                                  "pod_transformers:vit_b16,cifar100,pod", "default"])
def test_mfd_and_pod_configs_keep_the_default_init(spec):
    assert "kernel_init" not in load_config(spec).model.head_kwargs


def test_bad_kernel_init_is_named():
    assert KERNEL_INITS == ("lecun_normal", "xavier_uniform")
    with pytest.raises(ValueError, match="kernel_init"):
        make_head("linear", 4, kernel_init="glorot")
