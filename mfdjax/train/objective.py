"""Loss composition: the classification loss of the config plus lambda * MFD.

One job: given the model outputs of a training forward pass, return the scalar
training objective. The full objective (the MFD paper, eq. 7) is

.. math::

   L = L_{cls}(\\text{logits}, \\text{out}, y) + \\lambda
       \\sum_{s \\in \\text{maps}} L_{MFD}(A_s)

with ``maps`` the feature maps sown at ``config.mfd.features`` ("stages": the
five-stage split of the MFD paper, section III; "layers": the 49 places of the
authors' reference code; "blocks" in between), ``lambda = config.mfd.weight``.

``L_cls`` by ``config.loss.name`` (and the head each needs):

=================  ========  ====================================================
name               head      L_cls (mean over the batch unless noted)
=================  ========  ====================================================
softmax            linear    softmax cross entropy (the MFD paper, eq. 1)
center             linear    CE + w_c * 1/2 ||x - c_y||^2 (Wen et al. 2016)
cot                linear    CE step, then a complement-entropy step (step.py)
am_softmax         cosine    s (cos theta_y - m) margin CE, m = 0.35
arcface            cosine    s cos(theta_y + m), m = 0.5
combined_margin    cosine    s (cos(m1 theta_y + m2) - m3), (0.9, 0.4, 0.15)
w_softmax          cosine    W-Softmax (the W-Softmax paper, section 4); alpha = 0 for
                             the first ``loss.switch_steps`` steps (plain softmax
                             on normalised, bias-free weights), then ``alpha``
l_softmax          linear    L-Softmax (Liu et al. 2016) on the FC kernel
                             (use ``head_kwargs.use_bias=False``); optional
                             ``loss.lam_anneal = (base, gamma, power, lam_min)``:
                             lam = max(base (1 + gamma t)^-power, lam_min) at
                             iteration t (the authors' Caffe schedule)
cosine             pod       (1 - cos(x, p_y))^2 (the POD paper, eq. 9)
nac                pod       (1 - x.p_y / (||x|| + delta))^2 (eqs. 16-17)
pod                pod       NaC + lam * SC (eq. 20), scalar
pedcc              pod       AM-Softmax on PEDCC + lam * MSE^(1/n) (eqs. 2-4)
=================  ========  ====================================================

``config.loss.kwargs`` is forwarded to the loss function (its keyword names).

References:
  the MFD paper: Qiuyu Zhu et al., "Multi-stage feature decorrelation constraints
  for improving CNN classification performance". The POD paper: Qiuyu Zhu and
  Xuewen Zu, "A Softmax-free Loss Function Based on Predefined
  Optimal-distribution of Latent Features for Deep Learning Classifier". The
  W-Softmax paper: Xiaobin Li and Weiqiang Wang, "Learning Discriminative
  Features Via Weights-biased Softmax Loss".
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

__all__ = ["LOSSES", "REQUIRED_HEAD", "check_loss_config", "classification_loss",
           "mfd_term"]

REQUIRED_HEAD = {
    "softmax": None, "center": None, "cot": None,
    "am_softmax": "cosine", "arcface": "cosine", "combined_margin": "cosine",
    "w_softmax": "cosine", "l_softmax": "linear",
    "cosine": "pod", "nac": "pod", "pod": "pod", "pedcc": "pod",
}
LOSSES = tuple(REQUIRED_HEAD)
_READS = {"cosine": "the unit class weights", "pod": "the PEDCC centroids",
          "linear": "the FC kernel"}


# The loss function each name hands `loss.kwargs` to (None: it takes no loss.kwargs),
# and the keywords the trainer sets itself.
_KWARGS_TO = {
    "softmax": None, "center": None, "cot": None, "cosine": None,
    "am_softmax": "am_softmax_loss", "arcface": "arcface_loss",
    "combined_margin": "combined_margin_loss", "w_softmax": "w_softmax_loss",
    "l_softmax": "l_softmax_loss", "nac": "nac_loss", "pod": "pod_loss",
    "pedcc": "pedcc_loss",
}
_SET_BY_TRAINER = {"where", "axis_name", "variant"}


def _check_loss_kwargs(name: str, kw: dict) -> None:
    """Every `loss.kwargs` key is a keyword of the loss and every value passes the
    loss's own checks (one trace on a tiny batch): a typo or a bad value fails
    here, before the run directory is written, not at step 0."""
    import inspect

    import numpy as np

    from mfdjax import losses as L

    target = _KWARGS_TO[name]
    if target is None:
        if kw:
            raise ValueError(f"loss {name!r} takes no `loss.kwargs`, got {sorted(kw)}; "
                             "remove them (see the loss table in mfdjax.train.objective).")
        return
    fn = getattr(L, target)
    params = inspect.signature(fn).parameters
    allowed = sorted(k for k, p in params.items()
                     if p.kind is inspect.Parameter.KEYWORD_ONLY and k not in _SET_BY_TRAINER)
    unknown = sorted(set(kw) - set(allowed))
    if unknown:
        raise ValueError(f"`loss.kwargs` {unknown} are not keywords of {target} (loss "
                         f"{name!r}); it takes {allowed}. Check the spelling.")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    y = np.array([0, 1, 2, 0], np.int32)
    w = L.pedcc(3, 3).astype(np.float32)
    args = (x, y, w) + ((np.float32(0.1),) if name in ("nac", "pod") else ())
    call_kw = dict(kw)
    if name == "w_softmax":
        call_kw.setdefault("alpha", 1.0)
    try:   # traced, not run: the argument checks are trace-time, nothing is computed
        jax.eval_shape(lambda *a: fn(*a, **call_kw), *args)
    except (ValueError, TypeError) as e:
        raise ValueError(f"`loss.kwargs` of loss {name!r}: {e}") from None


def check_loss_config(config: Any) -> None:
    """Raises ValueError when the loss name is unknown, the head does not fit it, or a
    `loss.kwargs` entry is not a keyword of the loss or has a value it refuses."""
    name = config.loss.name
    if name not in REQUIRED_HEAD:
        raise ValueError(f"`loss.name` must be one of {LOSSES}, got {name!r}.")
    _check_loss_kwargs(name, _kw(config))
    need = REQUIRED_HEAD[name]
    if need is not None and config.model.head != need:
        raise ValueError(
            f"loss {name!r} needs `model.head={need!r}` (it reads "
            f"{_READS[need]}),"
            f" got model.head={config.model.head!r}.")
    if config.mfd.weight < 0:
        raise ValueError(f"`mfd.weight` must be >= 0, got {config.mfd.weight}.")
    if config.mfd.weight > 0 and config.mfd.features not in ("stages", "blocks", "layers"):
        raise ValueError("`mfd.features` must be 'stages', 'blocks' or 'layers' when "
                         f"mfd.weight > 0, got {config.mfd.features!r}.")


def _kw(config: Any) -> dict:
    kw = config.loss.kwargs
    return dict(kw.to_dict() if hasattr(kw, "to_dict") else kw)


def _fc_weights(params: Any) -> jax.Array:
    """(K, D) class weights of the linear head (its kernel is (D, K))."""
    try:
        return params["head"]["fc"]["kernel"].T
    except (KeyError, TypeError):
        raise ValueError("loss 'l_softmax' needs the linear head's kernel at "
                         "params['head']['fc']['kernel']; use model.head='linear'.") from None


def classification_loss(config: Any, *, logits: jax.Array, out: dict, labels: jax.Array,
                        params: Any, loss_state: dict, step: jax.Array) -> jax.Array:
    """The scalar classification term ``L_cls`` of the config (see module docstring).

    Args:
      config: run config (``loss.*`` read).
      logits: (B, K) float.
      out: model output dict (``pre_logits`` (B, D); ``weights`` (K, D) for the
        cosine head; ``centroids`` (K, n) for the POD head).
      labels: (B,) int.
      params: model params (for L-Softmax's FC kernel).
      loss_state: the train state's loss state (``delta``, ``centers``).
      step: current step (int32 scalar, for the W-Softmax switch).
    """
    from mfdjax import losses as L

    name = config.loss.name
    kw = _kw(config)
    logits = logits.astype(jnp.float32)
    x = out["pre_logits"]
    if name in ("softmax", "cot"):
        return jnp.mean(L.softmax_cross_entropy(logits, labels))
    if name == "center":
        ce = jnp.mean(L.softmax_cross_entropy(logits, labels))
        cl = jnp.mean(L.center_loss(x.astype(jnp.float32), labels,
                                    jax.lax.stop_gradient(loss_state["centers"])))
        return ce + float(config.loss.center_weight) * cl
    if name in ("am_softmax", "arcface", "combined_margin"):
        fn: Callable = getattr(L, f"{name}_loss")
        return jnp.mean(fn(x, labels, out["weights"], **kw))
    if name == "w_softmax":
        alpha = float(kw.pop("alpha", 1.0))
        alpha_t = jnp.where(step < int(config.loss.switch_steps), 0.0, alpha)
        return jnp.mean(L.w_softmax_loss(x, labels, out["weights"], alpha=alpha_t, **kw))
    if name == "l_softmax":
        anneal = tuple(config.loss.get("lam_anneal", ()) or ())
        if anneal:  # the L-Softmax authors' lambda descent, step = their iteration - 1
            base, gamma, power, lam_min = (float(v) for v in anneal)
            it = step.astype(jnp.float32) + 1.0
            kw["lam"] = jnp.maximum(base * (1.0 + gamma * it) ** (-power), lam_min)
        return jnp.mean(L.l_softmax_loss(x, labels, _fc_weights(params), **kw))
    if name == "cosine":
        return jnp.mean(L.cosine_loss(x, labels, out["centroids"]))
    if name == "nac":
        return jnp.mean(L.nac_loss(x, labels, out["centroids"], loss_state["delta"],
                                     variant=config.loss.delta_variant, **kw))
    if name == "pod":
        return L.pod_loss(x, labels, out["centroids"], loss_state["delta"],
                            variant=config.loss.delta_variant, **kw)
    if name == "pedcc":
        return L.pedcc_loss(x, labels, out["centroids"], **kw)
    raise ValueError(f"`loss.name` must be one of {LOSSES}, got {name!r}.")


def mfd_term(maps: list) -> jax.Array:
    """``sum_s L_MFD(A_s)`` over the sown maps (the MFD paper, eqs. 5-7), float32 scalar."""
    from mfdjax.losses.mfd import mfd_loss

    if not maps:
        raise ValueError("mfd.weight > 0 but the model sowed no feature maps; check that "
                         "the model supports `features=` at the configured level.")
    return mfd_loss(list(maps)).astype(jnp.float32)
