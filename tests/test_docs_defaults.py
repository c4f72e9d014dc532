"""The defaults that docs/decisions.rst (and docs/reference-code.rst) state are the code's.

Each test reads the value from the text of the documentation, not from a copy of it
here, and compares it with the function signature or the shipped config, so a change
to either side without the other fails.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import pathlib
import re

import pytest

from mfdjax.configs import load_config

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"


def _bullet(title: str, page: str = "decisions.rst") -> str:
    """The text of the bullet ``* **TITLE...`` of a docs page, on one line."""
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines()
    start = [i for i, line in enumerate(lines) if line.startswith(f"* **{title}")]
    assert len(start) == 1, f"{page}: expected one bullet '* **{title}', found {len(start)}"
    out = [lines[start[0]]]
    for line in lines[start[0] + 1:]:
        if not line.startswith("  "):       # the next bullet, a blank line or a heading
            break
        out.append(line)
    return " ".join(part.strip() for part in out)


def _find(pattern: str, text: str, what: str) -> tuple[str, ...]:
    m = re.search(pattern, text)
    assert m, f"the docs no longer state {what} (pattern {pattern!r} not found in: {text})"
    return m.groups()


def _literal(text: str):
    return ast.literal_eval(text)


# --------------------------------------------------------------------------- MFD


def test_mfd_dead_tol_default_matches_the_signatures():
    from mfdjax.losses import feature_correlation, mean_abs_correlation, mfd_loss

    text = _bullet("Dead channels")
    (value,) = _find(r"``dead_tol`` \(default ``([^`]+)``\)", text, "the default of dead_tol")
    for fn in (mfd_loss, feature_correlation, mean_abs_correlation):
        default = inspect.signature(fn).parameters["dead_tol"].default
        assert default == _literal(value), (fn.__name__, default, value)


def test_mfd_dead_channel_rule_and_reference_clamp_match_the_code():
    from mfdjax.losses import mfd

    (factor,) = _find(r"G_\{ii\} \\le (\d+)\\, N", _bullet("Dead channels"),
                      "the factor of the rounding test")
    assert float(factor) == mfd._NOISE_FACTOR
    row = (DOCS / "reference-code.rst").read_text(encoding="utf-8")
    (exponent,) = _find(r"\\max\(n_i n_j, 10\^\{(-\d+)\}\)", row, "the authors' MFD clamp")
    assert 10.0 ** int(exponent) == mfd._REFERENCE_CLAMP


# --------------------------------------------------------------------------- heads


def _field_default(cls, name):
    return {f.name: f.default for f in dataclasses.fields(cls)}[name]


def test_head_kernel_init_defaults_and_the_w_softmax_configs():
    from mfdjax.configs.w_softmax import PAPER
    from mfdjax.models.heads import CosineHead, LinearHead, PODHead

    text = _bullet("Head initialisation")
    (default,) = _find(r'``kernel_init`` \(default ``"(\w+)"``\)', text,
                       "the heads' default kernel_init")
    for cls in (LinearHead, CosineHead, PODHead):
        assert _field_default(cls, "kernel_init") == default, cls.__name__
    (w_init,) = _find(r'the ``w_softmax`` configs set ``kernel_init="(\w+)"``', text,
                      "the W-Softmax configs' kernel_init")
    specs = [f"{ds},{m}" for ds in PAPER for m in ("softmax", "lsoftmax", "0", "1.5")]
    specs += ["webface,1.0", "webface,softmax,folder", "cifar10,1.5,7"]
    for spec in specs:
        assert load_config(f"w_softmax:{spec}").model.head_kwargs.kernel_init == w_init, spec
    for spec in ("pod_losses:pod,cifar100", "mfd_cifar:resnet50,cifar100,mfd", "default"):
        assert "kernel_init" not in load_config(spec).model.head_kwargs, spec


def test_vit_position_embedding_antialias_default():
    from mfdjax.models.vit import VisionTransformer, load_official_npz

    (value,) = _find(r"``pos_embedding_antialias`` default ``(\w+)``",
                     _bullet("ViT position-embedding resize"),
                     "the default of pos_embedding_antialias")
    assert _field_default(VisionTransformer, "pos_embedding_antialias") is _literal(value)
    assert inspect.signature(load_official_npz).parameters["antialias"].default is \
        _literal(value)


# --------------------------------------------------------------------------- configs


def test_pod_transformer_pedcc_dimension_is_the_documented_width():
    from mfdjax.configs.pod_transformers import DATASETS, MODELS

    text = _bullet("POD on ViT-B/16 and Swin-B")
    vit, swin = _find(r"(\d+) for ViT-B/16 and (\d+) for Swin-B", text,
                      "the PEDCC dimension of the transformer rows")
    (table3,) = _find(r"\((\d+) for CIFAR-100 and FaceScrub\)", text,
                      "the Table III option's dimension")
    width = {"vit_b16": int(vit), "swin_b": int(swin)}
    assert set(width) == set(MODELS)
    for net in MODELS:
        for ds in DATASETS:
            c = load_config(f"pod_transformers:{net},{ds},pod")
            assert (c.model.head, c.model.head_kwargs.dim) == ("pod", width[net]), (net, ds)
            both = load_config(f"pod_transformers:{net},{ds}")
            assert f"model.head_kwargs.dim={width[net]}" in both.comparison.pod, (net, ds)
        for ds in ("cifar100", "facescrub"):
            c = load_config(f"pod_transformers:{net},{ds},pod,table3")
            assert c.model.head_kwargs.dim == int(table3), (net, ds)
    # The ImageNet subsets the bullet names are accepted by the config itself.
    for name in re.findall(r"``(imagenet\d+)``", text):
        assert name in DATASETS, name


def test_lfw_normalisation_is_the_documented_one():
    from mfdjax.configs.w_softmax import WEBFACE_NORMS

    text = _bullet("LFW normalisation")
    mean, std = _find(r"``\(x - ([\d.]+)\) / ([\d.]+)``", text, "the LFW normalisation")
    for method in ("softmax", "lsoftmax", "0.5", "1.0", "1.5"):
        options = load_config(f"w_softmax:webface,{method}").dataset.options
        assert (options.mean, options.std) == (float(mean), float(std)), method
        folder = load_config(f"w_softmax:webface,{method},folder").dataset.options
        assert "mean" not in folder and "std" not in folder, method
    (option,) = _find(r"``w_softmax:webface,METHOD,(\w+)``", text, "the folder option")
    assert WEBFACE_NORMS[option] is None


@pytest.mark.parametrize("page", ["decisions.rst", "reference-code.rst", "losses.rst"])
def test_no_page_says_the_pod_authors_iterate_a_repulsion_model(page):
    text = " ".join((DOCS / page).read_text(encoding="utf-8").split())
    assert "authors' iterative repulsion" not in text
    assert "authors' iterative charge-repulsion" not in text


# --------------------------------------------------------------------------- loss defaults

def _default(fn, name):
    return inspect.signature(fn).parameters[name].default


# (bullet title, pattern whose groups are the documented values, [(function, parameter)])
LOSS_DEFAULTS = [
    ("Scales", r"AM-Softmax uses :math:`s = (\d+)`", [("am_softmax_loss", "scale")]),
    ("Scales", r"ArcFace and the combined margin :math:`s = (\d+)`",
     [("arcface_loss", "scale"), ("combined_margin_loss", "scale")]),
    ("ArcFace past", r"``overflow=\"easy_margin\"`` and ``\"none\"``", []),
    ("PEDCC-Loss constants", r"``scale=(\d+)``", [("pedcc_loss", "scale")]),
    ("PEDCC-Loss constants", r"``root=(\d+)``", [("pedcc_loss", "root")]),
    ("L-Softmax", r"``lam`` \(default (\d+)", [("l_softmax_loss", "lam")]),
]


@pytest.mark.parametrize("title,pattern,targets", LOSS_DEFAULTS,
                         ids=[f"{t}:{p[:20]}" for t, p, _ in LOSS_DEFAULTS])
def test_documented_loss_defaults_are_the_signatures(title, pattern, targets):
    import mfdjax.losses as L

    values = _find(pattern, _bullet(title), f"the {title} default")
    for name, param in targets:
        assert float(values[0]) == float(_default(getattr(L, name), param)), (name, param)
    if title == "ArcFace past":   # the default treatment is insightface's
        assert _default(L.arcface_loss, "overflow") == "insightface"
