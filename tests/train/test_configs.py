"""Every shipped config and experiments row loads, and its loss fits its head."""

from __future__ import annotations

import copy
import importlib
import os
import sys

import pytest

from mfdjax.configs import apply_overrides, list_configs, load_config, parse_overrides
from mfdjax.train.objective import check_loss_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Every runnable experiments/ script (the ones starting with "_" are helpers).
EXPERIMENTS = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "experiments"))
                     if f.endswith(".py") and not f.startswith("_"))


def _variants(config):
    if not len(config.comparison):
        return [config]
    out = []
    for name in config.comparison:
        c = copy.deepcopy(config)
        apply_overrides(c, config.comparison[name])
        out.append(c)
    return out


@pytest.mark.parametrize("name", list_configs())
def test_config_loads_and_validates(name):
    for c in _variants(load_config(name)):
        check_loss_config(c)
        assert c.batch_size > 0 and c.num_epochs > 0


@pytest.mark.parametrize("mod", EXPERIMENTS)
def test_experiment_rows_load(mod):
    """Every row of every script names a single-run config whose loss fits its head."""
    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    try:
        exp = importlib.import_module(mod).EXPERIMENT
        assert exp.rows, mod
        for row in exp.rows:
            c = load_config(row.spec)
            assert not len(c.comparison), (mod, row.label, row.spec)
            apply_overrides(c, list(row.overrides))
            check_loss_config(c)
    finally:
        sys.path.remove(os.path.join(ROOT, "experiments"))


def test_overrides_parse_and_type():
    c = load_config("default")
    apply_overrides(c, parse_overrides("optimizer.boundaries_epochs=(1,2),mfd.weight=2,"
                                       "loss.kwargs.margin=0.2,model.stem=cifar"))
    assert c.optimizer.boundaries_epochs == (1, 2)
    assert c.mfd.weight == 2.0 and isinstance(c.mfd.weight, float)
    assert c.loss.kwargs.margin == 0.2 and c.model.stem == "cifar"
    with pytest.raises(ValueError, match="no field"):
        apply_overrides(c, ["optimizer.nope=1"])
    with pytest.raises(ValueError, match="unknown config"):
        load_config("no_such_config")


@pytest.mark.parametrize("spec", ["mfd_cifar:resnet50,cifar10", "mfd_facescrub:resnet50",
                                  "mfd_tiny_imagenet:resnet50"])
def test_mfd_table_configs_parse_the_loss_field_alike(spec):
    from mfdjax.configs import load_config

    assert load_config(spec + ",softmax").mfd.weight == 0.0
    for on in ("mfd", "softmax_mfd"):
        assert load_config(f"{spec},{on}").mfd.weight == 1.0
    both = load_config(spec)
    assert set(both.comparison) == {"softmax", "softmax_mfd"}
    with pytest.raises(ValueError, match="softmax or mfd"):
        load_config(spec + ",sofmax")


def test_mfd_stems_follow_the_paper_with_a_named_option():
    # The MFD paper adapts ResNet50, ResNeXt50 and DenseNet121 only; MobileNetV2 keeps
    # its ImageNet stem unless the named deviation "adapted" is asked for.
    for m in ("resnet50", "resnext50_32x4d", "densenet121"):
        assert load_config(f"mfd_cifar:{m},cifar100,mfd").model.stem == "cifar"
        assert load_config(f"mfd_tiny_imagenet:{m},mfd").model.stem == "cifar_pool"
    assert load_config("mfd_cifar:mobilenet_v2,cifar10,mfd").model.stem == "imagenet"
    assert load_config("mfd_facescrub:mobilenet_v2,softmax").model.stem == "imagenet"
    assert load_config("mfd_cifar:mobilenet_v2,cifar10,mfd,adapted").model.stem == "cifar"
    assert load_config("mfd_facescrub:mobilenet_v2,mfd,adapted").model.stem == "cifar_pool"
    with pytest.raises(ValueError, match="stem must be one of"):
        load_config("mfd_cifar:mobilenet_v2,cifar10,mfd,adaptd")
    with pytest.raises(ValueError, match="plain or mfd"):
        load_config("mfd_margins:arcface,mdf")
    assert load_config("mfd_tiny_imagenet:resnet50,mfd").dataset.test_split == "val"
