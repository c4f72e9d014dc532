"""The CNN registry names: listed, buildable by the shared factory signature, unknown rejected."""

import jax
import jax.numpy as jnp
import pytest

from mfdjax import models
from mfdjax.models.heads import Classifier


FULL = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
        "densenet121", "mobilenet_v2", "lsoftmax_cnn", "resnet_cifar_small"]
MINI = ["resnet_mini", "resnet_bottleneck_mini", "resnext_mini", "densenet_mini",
        "mobilenet_v2_mini", "lsoftmax_cnn_mini"]


def test_all_cnn_names_listed():
    names = models.list_models()
    assert names == sorted(names)
    for name in FULL + MINI:
        assert name in names


@pytest.mark.parametrize("name", FULL + MINI)
def test_factory_signature(name):
    stem = "cifar"
    model = models.get(name, num_classes=7, stem=stem, head="linear", head_kwargs={},
                       dtype=jnp.float32)
    assert isinstance(model, Classifier)
    if name in MINI:
        x = jnp.ones((2, 16, 16, 3))
        v = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), x)
        logits, out = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), v, x)
        assert logits.shape == (2, 7) and out["pre_logits"].shape[0] == 2


def test_unknown_name_and_double_registration():
    with pytest.raises(ValueError, match="unknown model name"):
        models.get("resnet51", num_classes=10)
    with pytest.raises(ValueError, match="registered twice"):
        models.register("resnet50")(lambda **kw: None)
