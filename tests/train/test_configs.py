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
EXPERIMENTS = ["mfd_table4_5", "mfd_table2_placement", "mfd_table6_margins",
               "pod_table4_losses", "pod_table6_8_scale", "w_softmax_tables"]


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


def test_experiment_rows_load():
    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    try:
        n = 0
        for mod in EXPERIMENTS:
            rows = importlib.import_module(mod).ROWS
            for label, spec, _ in rows:
                c = load_config(spec)
                assert not len(c.comparison), spec
                check_loss_config(c)
                n += 1
        assert n > 80
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
