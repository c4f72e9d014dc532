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


def test_select_by_regex_list_and_callable():
    maps = {"stage0": (jnp.zeros((2, 1)),), "stage1": (jnp.zeros((2, 2)),),
            "head": {"logits": (jnp.zeros((2, 3)),)}}
    assert [m.shape[1] for m in collect_features(maps, select=r"stage\d+")] == [1, 2]
    # The whole path must match: "stage" alone selects nothing and says what there is.
    with pytest.raises(ValueError, match="'head/logits', 'stage0', 'stage1'"):
        collect_features(maps, select="stage")
    assert [m.shape[1] for m in collect_features(maps, select=["stage1", "head/.*"])] == [3, 2]
    assert [m.shape[1] for m in collect_features(maps, select=lambda p: p.endswith("0"))] == [1]


@pytest.mark.parametrize("bad", [3, [], ["ok", 1], "("])
def test_bad_select_raises(bad):
    with pytest.raises(ValueError, match="select"):
        collect_features({"a": jnp.zeros(2)}, select=bad)


def test_non_array_leaf_is_named_and_can_be_left_out():
    tree = {"feat": jnp.zeros((2, 4)), "name": "resnet"}
    with pytest.raises(ValueError, match="'name'"):
        collect_features(tree)
    assert len(collect_features(tree, select="feat")) == 1


def test_linen_capture_intermediates_puts_a_module_output_after_its_children():
    class Inner(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(3, name="dense")(x)

    class Outer(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(5, name="proj")(Inner(name="inner")(x))

    model = Outer()
    variables = model.init(jax.random.key(0), jnp.ones((2, 4)))
    _, state = model.apply(variables, jnp.ones((2, 4)), capture_intermediates=True,
                           mutable=["intermediates"])
    maps = collect_features(state)
    # inner/dense, inner (its own output), proj, then the model's output.
    assert [m.shape[-1] for m in maps] == [3, 3, 5, 5]
    picked = collect_features(state, select=r"inner/__call__|proj/__call__")
    assert [m.shape[-1] for m in picked] == [3, 5]


def test_nnx_state_and_variables_are_unwrapped():
    from flax import nnx

    class Block(nnx.Module):
        def __init__(self, din, dout, rngs):
            self.linear = nnx.Linear(din, dout, rngs=rngs)

        def __call__(self, x):
            x = nnx.relu(self.linear(x))
            self.sow(nnx.Intermediate, "act", x)
            return x

    class Net(nnx.Module):
        # Twelve blocks whose widths (5 ... 16) identify them; blocks 10 and 11 come
        # after block 2 only in natural order.
        def __init__(self, rngs):
            self.blocks = nnx.List([Block(w - 1, w, rngs) for w in range(5, 17)])

        def __call__(self, x):
            for block in self.blocks:
                x = block(x)
            return x

    _, state = nnx.capture(Net(nnx.Rngs(0)), nnx.Intermediate)(jnp.ones((2, 4)))
    assert isinstance(state, nnx.State)
    assert [m.shape[-1] for m in collect_features(state)] == list(range(5, 17))
    assert [m.shape[-1] for m in collect_features(state, select=r"blocks/1\d/act")] == [15, 16]
    # A plain dict holding nnx.Intermediate variables works too.
    raw = {"a": nnx.Intermediate((jnp.ones((2, 3)),))}
    assert collect_features(raw)[0].shape == (2, 3)


def test_feature_names_match_collect_features_order(net_and_vars):
    from mfdjax.models import feature_names

    net, variables = net_and_vars
    _, upd = jax.jit(lambda v, x: net.apply(v, x, features="blocks", mutable=[COLLECTION]))(
        variables, jnp.ones((2, 3)))
    names = feature_names(upd)
    assert names == [f"out{i}" for i in range(12)]
    assert feature_names(upd, select=r"out1\d") == ["out10", "out11"]
