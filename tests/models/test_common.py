"""The sow contract: levels, nothing sown by default, collect_features order."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from mfdjax.models.common import COLLECTION, LEVELS, check_level, collect_features, sow_feature


class _Block(nn.Module):
    width: int

    @nn.compact
    def __call__(self, x, features):
        h = nn.relu(nn.Dense(self.width)(x))
        sow_feature(self, features, "layers", "act", h)
        return h


class _Net(nn.Module):
    n: int = 12

    @nn.compact
    def __call__(self, x, features=None):
        check_level(features)
        for i in range(self.n):
            # Width i + 2 identifies the block, so the order can be read off shapes.
            x = _Block(width=i + 2, name=f"block{i}")(x, features)
            sow_feature(self, features, "blocks", f"out{i}", x)
        return x


@pytest.fixture(scope="module")
def net_and_vars():
    net = _Net()
    return net, net.init(jax.random.key(0), jnp.ones((2, 3)))


@pytest.mark.parametrize("level", ["layers", "blocks"])
def test_collect_features_is_in_call_order(net_and_vars, level):
    net, variables = net_and_vars
    _, upd = net.apply(variables, jnp.ones((2, 3)), features=level, mutable=[COLLECTION])
    maps = collect_features(upd[COLLECTION])
    assert [m.shape[-1] for m in maps] == list(range(2, 14))
    # The whole mutated dict is accepted too.
    assert len(collect_features(upd)) == 12


def test_nothing_sown_without_a_level(net_and_vars):
    net, variables = net_and_vars
    _, upd = net.apply(variables, jnp.ones((2, 3)), features=None, mutable=[COLLECTION])
    assert collect_features(upd) == []


def test_only_the_requested_level_is_sown(net_and_vars):
    net, variables = net_and_vars
    _, upd = net.apply(variables, jnp.ones((2, 3)), features="blocks", mutable=[COLLECTION])
    assert set(upd[COLLECTION]) == {f"out{i}" for i in range(12)}


def test_bad_level_and_bad_input_raise():
    assert LEVELS == ("stages", "blocks", "layers")
    with pytest.raises(ValueError, match="features"):
        check_level("stage")
    with pytest.raises(ValueError, match="intermediates"):
        collect_features([jnp.ones(3)])


def test_order_survives_jit(net_and_vars):
    """jit returns dicts with sorted keys; collect_features must not depend on insertion order."""
    net, variables = net_and_vars
    apply = jax.jit(lambda v, x: net.apply(v, x, features="layers", mutable=[COLLECTION]))
    _, upd = apply(variables, jnp.ones((2, 3)))
    assert list(upd[COLLECTION])[:3] == ["block0", "block1", "block10"]  # sorted as strings
    assert [m.shape[-1] for m in collect_features(upd)] == list(range(2, 14))


def test_natural_order_of_mixed_names():
    maps = {"stage10": (jnp.zeros(10),), "stage2": (jnp.zeros(2),),
            "stage0": (jnp.zeros(1),), "stage1_block02": {"act1": (jnp.zeros(3),)}}
    assert [m.shape[0] for m in collect_features(maps)] == [1, 3, 2, 10]
