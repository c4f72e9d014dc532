"""The MFD loss added to models that are not mfdjax's: end to end, jitted, sharded batch.

Three uses a library user has (the README's examples are these):

* a Flax NNX model that sows ``nnx.Intermediate`` values, read with ``nnx.capture``;
* a Linen model with its own module names and no ``sow``, read with
  ``capture_intermediates`` and picked by name with ``select=``;
* a plain function returning a dict of arrays, picked by name.

Each loss is jitted with the batch sharded over 8 simulated devices (conftest.py)
and compared with the same loss written out by hand on one device (also jitted): the maps taken
straight from the layers, with no collect_features. Gradients are compared too, so
a map that is missing, extra or detached from the parameters fails the test.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from mfdjax.losses import mfd_loss
from mfdjax.models import collect_features

BATCH = 16


@pytest.fixture(scope="module")
def data_sharding():
    devices = jax.devices()
    assert len(devices) == 8, "conftest.py sets 8 simulated devices"
    return NamedSharding(Mesh(np.array(devices), ("data",)), P("data"))


@pytest.fixture(scope="module")
def batch():
    kx, ky = jax.random.split(jax.random.key(0))
    images = jax.random.normal(kx, (BATCH, 8, 8, 3))
    labels = jax.random.randint(ky, (BATCH,), 0, 5)
    return images, labels


def _ce(logits, labels):
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def _check(loss_fn, reference_fn, params, batch, sharding):
    """loss_fn jitted on a sharded batch == reference_fn on one device (value and grads)."""
    images, labels = batch
    sharded = (jax.device_put(images, sharding), jax.device_put(labels, sharding))
    assert len(sharded[0].sharding.device_set) == 8
    value, grads = jax.jit(jax.value_and_grad(loss_fn))(params, *sharded)
    ref_value, ref_grads = jax.jit(jax.value_and_grad(reference_fn))(params, images, labels)
    np.testing.assert_allclose(value, ref_value, rtol=1e-5, atol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
                 grads, ref_grads)
    return value


# --- 1. Flax NNX -------------------------------------------------------------------

class NnxNet(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(3, 8, (3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(8, 16, (3, 3), strides=(2, 2), rngs=rngs)
        self.head = nnx.Linear(16, 5, rngs=rngs)

    def __call__(self, x):
        h1 = nnx.relu(self.conv1(x))
        self.sow(nnx.Intermediate, "act1", h1)
        h2 = nnx.relu(self.conv2(h1))
        self.sow(nnx.Intermediate, "act2", h2)
        return self.head(h2.mean(axis=(1, 2)))


def test_nnx_model(batch, data_sharding):
    graphdef, params = nnx.split(NnxNet(nnx.Rngs(0)))

    def loss_fn(params, images, labels):
        model = nnx.merge(graphdef, params)
        logits, inter = nnx.capture(model, nnx.Intermediate)(images)
        maps = collect_features(inter)
        assert [m.shape for m in maps] == [(BATCH, 8, 8, 8), (BATCH, 4, 4, 16)]
        return _ce(logits, labels) + mfd_loss(maps)

    def reference(params, images, labels):
        m = nnx.merge(graphdef, params)
        h1 = nnx.relu(m.conv1(images))
        h2 = nnx.relu(m.conv2(h1))
        logits = m.head(h2.mean(axis=(1, 2)))
        return _ce(logits, labels) + mfd_loss(h1) + mfd_loss(h2)

    value = _check(loss_fn, reference, params, batch, data_sharding)
    assert value > _ce(nnx.merge(graphdef, params)(batch[0]), batch[1]) + 1e-3


# --- 2. Linen, the user's own names, no sow ------------------------------------------

class ConvReLU(nn.Module):
    features: int
    strides: int = 1

    @nn.compact
    def __call__(self, x):
        return nn.relu(nn.Conv(self.features, (3, 3), strides=self.strides)(x))


class LinenNet(nn.Module):
    def setup(self):
        self.enc1 = ConvReLU(8)
        self.enc2 = ConvReLU(16, strides=2)
        self.classifier = nn.Dense(5)

    def __call__(self, x):
        return self.classifier(self.enc2(self.enc1(x)).mean(axis=(1, 2)))


def test_linen_model_with_its_own_names(batch, data_sharding):
    model = LinenNet()
    params = model.init(jax.random.key(1), batch[0])["params"]

    def loss_fn(params, images, labels):
        logits, state = model.apply({"params": params}, images,
                                    capture_intermediates=True, mutable=["intermediates"])
        maps = collect_features(state, select=r"enc\d/__call__")
        assert [m.shape for m in maps] == [(BATCH, 8, 8, 8), (BATCH, 4, 4, 16)]
        return _ce(logits, labels) + mfd_loss(maps)

    def reference(params, images, labels):
        bound = model.bind({"params": params})
        h1 = bound.enc1(images)
        h2 = bound.enc2(h1)
        logits = bound.classifier(h2.mean(axis=(1, 2)))
        return _ce(logits, labels) + mfd_loss(h1) + mfd_loss(h2)

    _check(loss_fn, reference, params, batch, data_sharding)


# --- 3. A plain function returning a dict ---------------------------------------------

def forward(params, images):
    x = images.reshape(images.shape[0], -1)
    hidden1 = jax.nn.relu(x @ params["w1"])
    hidden2 = jax.nn.relu(hidden1 @ params["w2"])
    return {"hidden1": hidden1, "hidden2": hidden2, "logits": hidden2 @ params["w3"]}


def test_plain_function_returning_a_dict(batch, data_sharding):
    k1, k2, k3 = jax.random.split(jax.random.key(2), 3)
    params = {"w1": jax.random.normal(k1, (192, 32)) / 14, "w2": jax.random.normal(k2, (32, 24)) / 6,
              "w3": jax.random.normal(k3, (24, 5)) / 5}

    def loss_fn(params, images, labels):
        out = forward(params, images)
        maps = collect_features(out, select=r"hidden\d")
        assert [m.shape for m in maps] == [(BATCH, 32), (BATCH, 24)]
        return _ce(out["logits"], labels) + mfd_loss(maps)

    def reference(params, images, labels):
        out = forward(params, images)
        return (_ce(out["logits"], labels) + mfd_loss(out["hidden1"])
                + mfd_loss(out["hidden2"]))

    _check(loss_fn, reference, params, batch, data_sharding)
