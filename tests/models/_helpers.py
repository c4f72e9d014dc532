"""Helpers shared by the model tests: cheap compiles, abstract (shape-only) runs."""

import jax
import jax.numpy as jnp

from mfdjax.models import COLLECTION, collect_features

MUT = ["batch_stats", COLLECTION]


def fast_jit(fn):
    """``jax.jit`` compiled at XLA backend optimisation level 0 (tiny test shapes: the
    compile, not the run, dominates on a 2-core CPU); cached per argument shapes."""
    jitted, cache = jax.jit(fn), {}

    def call(*args):
        key = str(jax.tree.map(lambda a: (jnp.shape(a), jnp.result_type(a)), args))
        if key not in cache:
            cache[key] = jitted.lower(*args).compile(
                compiler_options={"xla_backend_optimization_level": 0})
        return cache[key](*args)

    return call


def init_vars(model, x):
    """Variables for ``model`` (compiled init: op-by-op dispatch is far slower)."""
    return fast_jit(lambda x: model.init(jax.random.key(0), x, train=False))(x)


def abstract_vars(model, shape):
    """Shapes of ``model``'s variables, without allocating them."""
    return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(shape), train=False))


def abstract_maps(model, shape, level, train=True):
    """Shapes of the sown maps (network order), without running the network."""
    v = abstract_vars(model, shape)
    _, upd = jax.eval_shape(
        lambda v, x: model.apply(v, x, train=train, features=level, mutable=MUT),
        v, jax.ShapeDtypeStruct(shape, jnp.float32))
    return collect_features(upd.get(COLLECTION, {}))
