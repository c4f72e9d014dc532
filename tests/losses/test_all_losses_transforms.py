"""Every public loss of ``mfdjax.losses`` under jit, grad, vmap and shardings.

One table (``CASES``) lists each public loss with small random inputs (batch
B = 16, so it divides over the 8 simulated CPU devices of tests/conftest.py)
and says which arguments lead with the batch axis. For every case:

1. ``jax.jit(f)`` equals the eager call;
2. ``jax.grad`` of the reduced loss (mean of a per-sample (B,) loss, the scalar
   itself, a fixed linear functional of a matrix) w.r.t. every float argument
   is finite and equals the jitted gradient;
3. ``jax.vmap`` over 3 independent problems equals a loop of 3 calls (values,
   and the jitted ``vmap`` of the gradient equals the per-problem gradients);
4. with the batch-leading arguments on ``NamedSharding(mesh, P("data"))`` (the
   rest replicated) the jitted loss and gradient equal the single-device ones;
   batch-level losses must therefore give the GLOBAL-batch value;
5. losses with an ``axis_name`` argument, run inside ``jax.shard_map`` over
   'data' with ``axis_name="data"``, give the unsharded value and gradient;
   per-sample losses (no axis name) run inside ``shard_map`` on their local
   rows give the unsharded rows.

Plus: every name of ``mfdjax.losses.__all__`` resolves, is listed by ``dir``,
and is documented (a ``.. math::`` block or Source/References text; module
constants by a ``#:`` comment), and every family module's ``__all__`` is
re-exported by the package.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import math
import re
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import mfdjax.losses as L

N_DEV = 8
B = 16          # divides over the 8 devices: 2 rows each
N_PROBLEMS = 3  # independent problems stacked for the vmap check

# Tolerances (float32), relative to the largest |entry| of each compared array.
# Measured worst cases over the table (2-core CPU, jax 0.10.2): jit vs eager 1.8e-7,
# eager vs jitted grad 1.8e-7, vmap 4.4e-8, sharded / shard_map 3.7e-7 (XLA
# reassociates reductions; the sharded ones all-reduce partial sums): ~10x headroom.
JIT_RTOL = 2e-6
MAP_RTOL = 1e-5


# --------------------------------------------------------------------------- #
# The table
# --------------------------------------------------------------------------- #

BATCH, REP = "batch", "rep"  # batch-leading (sharded on 'data') / replicated


@dataclasses.dataclass(frozen=True)
class Case:
    """One public loss.

    Attributes:
      name: public name in ``mfdjax.losses`` (plus an optional ``[tag]``).
      call: ``call(*args, **kw)`` -> the loss output; ``kw`` may hold ``axis_name``.
      make: ``make(rng)`` -> tuple of (array, role) with role BATCH or REP.
      kind: "per_sample" (B,), "scalar" or "matrix" (batch-level, not (B,)).
    """

    name: str
    call: Callable
    make: Callable
    kind: str

    @property
    def loss(self):
        return getattr(L, self.name.split("[")[0])

    @property
    def has_axis_name(self) -> bool:
        return "axis_name" in inspect.signature(self.loss).parameters


def _f32(a):
    return np.asarray(a, np.float32)


def _labels(rng, k):
    return rng.integers(0, k, size=B).astype(np.int32)


# Small sizes: D features, K classes, C channels.
D, K = 6, 4


def _fyw(rng):
    """(features (B, D), labels (B,), weights (K, D)) for the margin losses."""
    return ((_f32(rng.standard_normal((B, D))), BATCH),
            (_labels(rng, K), BATCH),
            (_f32(rng.standard_normal((K, D))), REP))


def _xyp(rng):
    """(features (B, D), labels (B,), centroids (K, D)) for the POD family."""
    p = L.pedcc(K, D, seed=int(rng.integers(1 << 30)))
    y = _labels(rng, K)
    # Features near their centroid with spread and varied norms, as in training.
    x = p[y] * rng.uniform(0.5, 3.0, (B, 1)) + 0.7 * rng.standard_normal((B, D))
    return (_f32(x), BATCH), (y, BATCH), (_f32(p), REP)


def _map(rng, shape, c):
    """A correlated (B, *shape, c) map with a per-position mean offset."""
    mix = np.eye(c) + 0.6 * rng.standard_normal((c, c))
    a = rng.standard_normal((B, *shape, c)) @ mix
    a += rng.standard_normal((*shape, c)) * 2.0
    return _f32(a)


def _twin(rng):
    """Two correlated views (B, D) of the same batch."""
    z = rng.standard_normal((B, D)) @ (np.eye(D) + 0.5 * rng.standard_normal((D, D)))
    return ((_f32(z + 0.3 * rng.standard_normal((B, D))), BATCH),
            (_f32(0.8 * z + 0.5 * rng.standard_normal((B, D)) + 1.0), BATCH))


def _logits(rng):
    return (_f32(3.0 * rng.standard_normal((B, K))), BATCH), (_labels(rng, K), BATCH)


def _delta(rng):
    return (_f32(rng.uniform(0.1, 0.6)), REP)


def _case(name, call, make, kind, marks=()):
    # slow: the whole table costs ~80 s of CPU (one eager value-and-grad and ~5
    # compilations per case), over the ~60 s budget of a file's default run.
    return pytest.param(Case(name, call, make, kind), id=name,
                        marks=(pytest.mark.slow, *marks))


CASES = [
    # --- MFD (batch-level) ---------------------------------------------------
    _case("feature_correlation", lambda a, **kw: L.feature_correlation(a, **kw),
          lambda r: ((_map(r, (2, 2), 4), BATCH),), "matrix"),
    _case("mfd_loss", lambda a, b, c, **kw: L.mfd_loss({"s1": a, "s2": [b, c]}, **kw),
          lambda r: ((_map(r, (2, 2), 4), BATCH), (_map(r, (3,), 5), BATCH),
                     (_map(r, (3,), 5), BATCH)), "scalar"),
    _case("mean_abs_correlation", lambda a, **kw: L.mean_abs_correlation(a, **kw),
          lambda r: ((_map(r, (3,), 5), BATCH),), "scalar"),
    # --- POD family ---------------------------------------------------------
    _case("cosine_loss", lambda x, y, p, **kw: L.cosine_loss(x, y, p, **kw), _xyp,
          "per_sample"),
    _case("nac_loss", lambda x, y, p, d, **kw: L.nac_loss(x, y, p, d, **kw),
          lambda r: (*_xyp(r), _delta(r)), "per_sample"),
    _case("sc_loss", lambda x, y, p, **kw: L.sc_loss(x, y, p, **kw), _xyp, "scalar"),
    _case("pod_loss", lambda x, y, p, d, **kw: L.pod_loss(x, y, p, d, **kw),
          lambda r: (*_xyp(r), _delta(r)), "scalar"),
    _case("pedcc_loss", lambda x, y, p, **kw: L.pedcc_loss(x, y, p, **kw), _xyp, "scalar"),
    # --- softmax / margin family (per-sample) -------------------------------
    _case("softmax_cross_entropy", lambda z, y, **kw: L.softmax_cross_entropy(z, y, **kw),
          _logits, "per_sample"),
    _case("am_softmax_loss", lambda x, y, w, **kw: L.am_softmax_loss(x, y, w, **kw), _fyw,
          "per_sample"),
    _case("arcface_loss", lambda x, y, w, **kw: L.arcface_loss(x, y, w, **kw), _fyw,
          "per_sample"),
    _case("combined_margin_loss",
          lambda x, y, w, **kw: L.combined_margin_loss(x, y, w, **kw), _fyw, "per_sample"),
    _case("l_softmax_loss", lambda x, y, w, **kw: L.l_softmax_loss(x, y, w, margin=3, **kw),
          _fyw, "per_sample"),
    _case("w_softmax_loss", lambda x, y, w, **kw: L.w_softmax_loss(x, y, w, alpha=1.0, **kw),
          _fyw, "per_sample"),
    _case("center_loss", lambda x, y, c, **kw: L.center_loss(x, y, c, **kw), _fyw,
          "per_sample"),
    _case("center_loss[learned_centers]",
          lambda x, y, c, **kw: L.center_loss(x, y, c, stop_center_gradient=False, **kw),
          _fyw, "per_sample"),
    _case("complement_entropy", lambda z, y, **kw: L.complement_entropy(z, y, **kw),
          _logits, "per_sample"),
    # --- self-supervised (batch-level) --------------------------------------
    _case("barlow_twins_loss", lambda a, b, **kw: L.barlow_twins_loss(a, b, **kw), _twin,
          "scalar"),
    _case("vicreg_loss", lambda a, b, **kw: L.vicreg_loss(a, b, **kw), _twin, "scalar"),
]

# The public losses the table must cover (the brief's list).
PUBLIC_LOSSES = {
    "feature_correlation", "mfd_loss", "mean_abs_correlation", "cosine_loss", "nac_loss",
    "sc_loss", "pod_loss", "pedcc_loss", "softmax_cross_entropy", "am_softmax_loss",
    "arcface_loss", "combined_margin_loss", "l_softmax_loss", "w_softmax_loss",
    "center_loss", "complement_entropy", "barlow_twins_loss", "vicreg_loss",
}
# Batch-level losses the brief requires to take the global batch when sharded.
BATCH_LEVEL = {"feature_correlation", "mfd_loss", "mean_abs_correlation", "sc_loss",
               "pod_loss", "pedcc_loss", "barlow_twins_loss", "vicreg_loss"}


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def _problem(case: Case, seed: int = 0):
    """(args as JAX arrays, roles) of the problem drawn from ``seed``."""
    pairs = case.make(np.random.default_rng(seed))
    return tuple(jnp.asarray(a) for a, _ in pairs), tuple(r for _, r in pairs)


def _float_argnums(args) -> tuple[int, ...]:
    return tuple(i for i, a in enumerate(args) if jnp.issubdtype(a.dtype, jnp.floating))


def _reduce(kind: str, out: jax.Array) -> jax.Array:
    """The scalar whose gradient is checked."""
    if kind == "per_sample":
        return jnp.mean(out)
    if kind == "scalar":
        return out
    # matrix: a fixed, generic linear functional (all entries weighted differently)
    w = jnp.sin(1.0 + jnp.arange(out.size, dtype=out.dtype)).reshape(out.shape)
    return jnp.sum(out * w)


def _value_and_grad(case: Case, args, **kw):
    """``(*float args) -> (loss output, grads of _reduce(output) w.r.t. the float args)``."""
    argnums = _float_argnums(args)

    def reduced(*a):
        out = case.call(*a, **kw)
        return _reduce(case.kind, out), out

    def vag(*a):
        (_, out), grads = jax.value_and_grad(reduced, argnums=argnums, has_aux=True)(*a)
        return out, grads

    return vag


def _assert_close(actual, desired, rtol, what):
    """Pytree comparison; atol is ``rtol`` times the largest |entry| of each leaf."""
    a_leaves, d_leaves = jax.tree.leaves(actual), jax.tree.leaves(desired)
    assert len(a_leaves) == len(d_leaves), what
    for i, (a, d) in enumerate(zip(a_leaves, d_leaves)):
        a, d = np.asarray(a), np.asarray(d)
        assert a.shape == d.shape, f"{what}[{i}]: shape {a.shape} != {d.shape}"
        scale = max(float(np.max(np.abs(d), initial=0.0)), 1e-30)
        np.testing.assert_allclose(a, d, rtol=rtol, atol=rtol * scale,
                                   err_msg=f"{what}[{i}]")


def _check_output(case: Case, out, args):
    out = np.asarray(out)
    if case.kind == "per_sample":
        assert out.shape == (args[0].shape[0],), out.shape
    elif case.kind == "scalar":
        assert out.shape == (), out.shape
    else:
        assert out.ndim == 2 and out.shape[0] == out.shape[1], out.shape
    assert out.dtype == np.float32, out.dtype
    assert np.all(np.isfinite(out)), out


@functools.lru_cache(maxsize=None)
def _jitted(case: Case):
    """``(jax.jit(loss), jax.jit(value_and_grad))`` of a case, compiled once per process."""
    args, _ = _problem(case)
    return jax.jit(case.call), jax.jit(_value_and_grad(case, args))


@functools.lru_cache(maxsize=None)
def _reference(case: Case):
    """Single-device jitted value and gradients of problem 0 (shared by the tests)."""
    args, _ = _problem(case)
    value, grads = _jitted(case)[1](*args)
    return args, value, grads


@pytest.fixture(scope="module")
def mesh():
    if jax.device_count() < N_DEV:
        pytest.skip("needs 8 (simulated) devices, see tests/conftest.py")
    return Mesh(np.array(jax.devices()[:N_DEV]), ("data",))


def _spec(role):
    return P("data") if role == BATCH else P()


# --------------------------------------------------------------------------- #
# The checks
# --------------------------------------------------------------------------- #


def test_table_covers_every_public_loss():
    names = {p.values[0].name.split("[")[0] for p in CASES}
    assert names == PUBLIC_LOSSES
    assert PUBLIC_LOSSES <= set(L.__all__)
    for p in CASES:
        case = p.values[0]
        batch_level = case.name.split("[")[0] in BATCH_LEVEL
        assert (case.kind != "per_sample") == batch_level, case.name
        if batch_level:
            assert case.has_axis_name, f"{case.name} has no axis_name argument"


@pytest.mark.parametrize("case", CASES)
def test_jit_matches_eager(case):
    args, _ = _problem(case)
    eager = case.call(*args)
    jitted = _jitted(case)[0](*args)
    _check_output(case, eager, args)
    _check_output(case, jitted, args)
    _assert_close(jitted, eager, JIT_RTOL, f"{case.name}: jit vs eager")


@pytest.mark.parametrize("case", CASES)
def test_grad_finite_and_matches_jit(case):
    args, value, jit_grads = _reference(case)
    out, grads = _value_and_grad(case, args)(*args)  # eager
    _assert_close(value, out, JIT_RTOL, f"{case.name}: jit(value_and_grad) value vs eager")
    for i, g in zip(_float_argnums(args), grads):
        g = np.asarray(g)
        assert g.shape == args[i].shape, (case.name, i, g.shape)
        assert np.all(np.isfinite(g)), (case.name, i, g)
    # The gradient w.r.t. the first argument (features / logits / maps) must not
    # vanish: every loss depends on it.
    assert np.any(np.asarray(grads[0]) != 0), case.name
    _assert_close(jit_grads, grads, JIT_RTOL, f"{case.name}: grad vs jit(grad)")


@pytest.mark.parametrize("case", CASES)
def test_vmap_matches_loop(case):
    problems = [_problem(case, seed)[0] for seed in range(1, N_PROBLEMS + 1)]
    stacked = tuple(jnp.stack(a) for a in zip(*problems))
    v_values, v_grads = jax.jit(jax.vmap(_value_and_grad(case, problems[0])))(*stacked)
    loop = [_jitted(case)[1](*a) for a in problems]  # one call per problem
    l_values = jnp.stack([value for value, _ in loop])
    _assert_close(v_values, l_values, MAP_RTOL, f"{case.name}: vmap vs loop")
    # Independent problems really differ (the check is not vacuous).
    assert not np.allclose(np.asarray(l_values[0]), np.asarray(l_values[1]))
    for i, g in enumerate(v_grads):
        _assert_close(g, jnp.stack([grads[i] for _, grads in loop]), MAP_RTOL,
                      f"{case.name}: vmap(grad) vs loop, float arg {i}")


@pytest.mark.parametrize("case", CASES)
def test_sharded_batch_matches_single_device(case, mesh):
    args, value, grads = _reference(case)
    _, roles = _problem(case)
    sharded = tuple(jax.device_put(a, NamedSharding(mesh, _spec(r)))
                    for a, r in zip(args, roles))
    assert sharded[0].sharding.spec == P("data")
    s_value, s_grads = _jitted(case)[1](*sharded)
    _assert_close(s_value, value, MAP_RTOL, f"{case.name}: sharded value")
    _assert_close(s_grads, grads, MAP_RTOL, f"{case.name}: sharded grads")
    if case.kind != "per_sample":
        # Not vacuous: the loss of one device's rows alone differs from the global one.
        local = _jitted(case)[0](*(a[: B // N_DEV] if r == BATCH else a
                                   for a, r in zip(args, roles)))
        assert not np.allclose(np.asarray(local), np.asarray(value), rtol=1e-3)


@pytest.mark.parametrize("case", CASES)
def test_shard_map(case, mesh):
    args, value, grads = _reference(case)
    _, roles = _problem(case)
    in_specs = tuple(_spec(r) for r in roles)
    if case.has_axis_name:
        kw, out_specs = {"axis_name": "data"}, P()
    elif case.kind == "per_sample":
        kw, out_specs = {}, P("data")  # purely row-wise: each device its own rows
    else:  # excluded by test_table_covers_every_public_loss
        pytest.fail(f"{case.name}: batch-level loss without axis_name")
    fn = jax.shard_map(functools.partial(case.call, **kw), mesh=mesh, in_specs=in_specs,
                       out_specs=out_specs)
    mapped = dataclasses.replace(case, call=fn)
    s_value, s_grads = jax.jit(_value_and_grad(mapped, args))(*args)
    _assert_close(s_value, value, MAP_RTOL, f"{case.name}: shard_map value")
    _assert_close(s_grads, grads, MAP_RTOL, f"{case.name}: shard_map grads")


# --------------------------------------------------------------------------- #
# `where=`: a masked row counts as if it were sliced out
# --------------------------------------------------------------------------- #

MASKED = np.array([1, 4, 7, 10, 13])   # 5 of the 16 rows; 11 stay


def _padded_problem(case: Case):
    """(padded args, sliced args, keep, roles): the masked rows carry label -1 and NaN
    features (padding a loader might leave), the sliced problem drops them."""
    args, roles = _problem(case, seed=11)
    keep = np.ones(B, bool)
    keep[MASKED] = False
    padded = []
    for a, r in zip(args, roles):
        a = np.array(a)
        if r == BATCH:
            a[~keep] = -1 if np.issubdtype(a.dtype, np.integer) else np.nan
        padded.append(jnp.asarray(a))
    sliced = tuple(a[keep] if r == BATCH else a for a, r in zip(args, roles))
    return tuple(padded), sliced, keep, roles


def _summed(case: Case, **kw):
    """``(*args) -> ((sum-type reduction, output), grads w.r.t. the float args)``."""

    def f(*a):
        out = case.call(*a, **kw)
        return (jnp.sum(out) if case.kind == "per_sample" else _reduce(case.kind, out)), out

    return f


@pytest.mark.parametrize("case", CASES)
def test_where_equals_slicing(case):
    padded, sliced, keep, roles = _padded_problem(case)
    where = jnp.asarray(keep)
    # Eager, concrete: the -1 labels of masked rows are not checked.
    eager = np.asarray(case.call(*padded, where=where))
    argnums = _float_argnums(padded)
    (_, out_m), g_m = jax.jit(jax.value_and_grad(_summed(case, where=where), argnums=argnums,
                                                 has_aux=True))(*padded)
    (_, out_s), g_s = jax.jit(jax.value_and_grad(_summed(case), argnums=argnums,
                                                 has_aux=True))(*sliced)
    out_m, out_s = np.asarray(out_m), np.asarray(out_s)
    if case.kind == "per_sample":
        np.testing.assert_array_equal(out_m[~keep], 0.0)
        np.testing.assert_array_equal(eager[~keep], 0.0)
        _assert_close(out_m[keep], out_s, MAP_RTOL, f"{case.name}: where vs slicing")
    else:
        _assert_close(out_m, out_s, MAP_RTOL, f"{case.name}: where vs slicing")
    _assert_close(eager, out_m, MAP_RTOL, f"{case.name}: eager vs jit with where")
    for i, gm, gs in zip(argnums, g_m, g_s):
        gm = np.asarray(gm)
        assert np.all(np.isfinite(gm)), (case.name, i)
        if roles[i] == BATCH:
            np.testing.assert_array_equal(gm[~keep], 0.0)
            _assert_close(gm[keep], gs, MAP_RTOL, f"{case.name}: grad {i} where vs slicing")
        else:
            _assert_close(gm, gs, MAP_RTOL, f"{case.name}: grad {i} where vs slicing")


def test_every_loss_takes_where():
    for p in CASES:
        assert "where" in inspect.signature(p.values[0].loss).parameters, p.values[0].name
    assert "where" in inspect.signature(L.center_update).parameters


# --------------------------------------------------------------------------- #
# Meshes built by jax.make_mesh: Explicit axes (JAX's default) and Auto axes
# --------------------------------------------------------------------------- #

MESH_KINDS = [("explicit", True), ("explicit", False), ("auto", True)]


@pytest.fixture(scope="module")
def made_meshes():
    if jax.device_count() < N_DEV:
        pytest.skip("needs 8 (simulated) devices, see tests/conftest.py")
    from jax.sharding import AxisType

    return {"explicit": jax.make_mesh((N_DEV,), ("data",)),
            "auto": jax.make_mesh((N_DEV,), ("data",), axis_types=(AxisType.Auto,))}


def _on_mesh(mesh, inside: bool, fn, *args):
    if inside:
        with jax.set_mesh(mesh):
            return fn(*args)
    return fn(*args)


@pytest.mark.parametrize("kind,inside", MESH_KINDS,
                         ids=[f"{k}-{'set_mesh' if i else 'no_context'}" for k, i in MESH_KINDS])
@pytest.mark.parametrize("case", CASES)
def test_make_mesh_sharded_batch_matches_single_device(case, kind, inside, made_meshes):
    args, value, grads = _reference(case)
    _, roles = _problem(case)
    mesh = made_meshes[kind]
    assert (mesh.axis_types[0].name == "Explicit") == (kind == "explicit")
    sharded = tuple(jax.device_put(a, NamedSharding(mesh, _spec(r)))
                    for a, r in zip(args, roles))
    fn = jax.jit(_value_and_grad(case, args))
    s_value, s_grads = _on_mesh(mesh, inside, fn, *sharded)
    _assert_close(s_value, value, MAP_RTOL, f"{case.name}: {kind} mesh value")
    _assert_close(s_grads, grads, MAP_RTOL, f"{case.name}: {kind} mesh grads")


@pytest.mark.parametrize("kind,inside", MESH_KINDS,
                         ids=[f"{k}-{'set_mesh' if i else 'no_context'}" for k, i in MESH_KINDS])
def test_center_update_on_a_made_mesh(kind, inside, made_meshes):
    rng = np.random.default_rng(5)
    x, y = _f32(rng.standard_normal((B, D))), _labels(rng, K)
    c = _f32(rng.standard_normal((K, D)))
    keep = jnp.asarray(np.arange(B) % 3 != 0)
    want = L.center_update(jnp.asarray(x), jnp.asarray(y), jnp.asarray(c), where=keep)
    mesh = made_meshes[kind]
    put = functools.partial(jax.device_put, device=NamedSharding(mesh, P("data")))
    fn = jax.jit(lambda a, b, cc, w: L.center_update(a, b, cc, where=w))
    got = _on_mesh(mesh, inside, fn, put(x), put(y),
                   jax.device_put(c, NamedSharding(mesh, P())), put(keep))
    _assert_close(got, want, MAP_RTOL, f"center_update on a {kind} mesh")


# --------------------------------------------------------------------------- #
# The public namespace
# --------------------------------------------------------------------------- #

_FAMILIES = ("mfd", "pod", "softmax", "cosine_margin", "l_softmax", "w_softmax", "center",
             "cot", "self_supervised")
_DOC_RE = re.compile(r"\.\. math::|\bSources?\b|\bReferences?\b")


def _is_documented_constant(name: str, value) -> bool:
    """A module constant is documented by a Sphinx ``#:`` comment right above it."""
    for family in _FAMILIES:
        module = importlib.import_module(f"mfdjax.losses.{family}")
        if getattr(module, name, None) is value:
            lines = inspect.getsource(module).splitlines()
            for i, line in enumerate(lines):
                if re.match(rf"{name}\s*(:[^=]*)?=", line):
                    return i > 0 and lines[i - 1].lstrip().startswith("#:")
    return False


# Known gaps (findings reported to the owners; strict: an XPASS fails, so the mark
# must be removed once fixed).
_DOC_GAPS: dict[str, str] = {}
_REEXPORT_GAPS: dict[str, str] = {}


def _xfail_if(gaps, key):
    return pytest.param(key, marks=pytest.mark.xfail(strict=True, reason=gaps[key])) \
        if key in gaps else key


@pytest.mark.parametrize("name", [_xfail_if(_DOC_GAPS, n) for n in sorted(L.__all__)])
def test_public_name_resolves_and_is_documented(name):
    assert name in dir(L)
    value = getattr(L, name)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        assert math.isfinite(value)
        assert _is_documented_constant(name, value), f"{name}: no '#:' doc comment"
        return
    doc = inspect.getdoc(value) or ""
    assert _DOC_RE.search(doc), (
        f"{name}: docstring has neither a '.. math::' block nor Source/References")


@pytest.mark.parametrize("family", [_xfail_if(_REEXPORT_GAPS, f) for f in _FAMILIES])
def test_family_exports_are_reexported(family):
    module = importlib.import_module(f"mfdjax.losses.{family}")
    missing = sorted(set(module.__all__) - set(L.__all__))
    assert not missing, f"mfdjax.losses does not re-export {family}.{missing}"
    for name in module.__all__:
        assert getattr(L, name) is getattr(module, name)
