"""The named options that keep the pre-1.0 settings, and the fields that choose them."""

from __future__ import annotations

import pytest

from mfdjax.configs import load_config
from mfdjax.train.objective import check_loss_config


def test_pod_transformers_table3_option_and_both_losses():
    c = load_config("pod_transformers:vit_b16,cifar100,both,table3")
    assert set(c.comparison) == {"softmax", "pod"}
    assert c.comparison.pod.endswith("model.head_kwargs.dim=512")
    c = load_config("pod_transformers:swin_b,imagenet1000,pod,table3")
    assert c.model.head_kwargs.dim == 2048                      # Table III, ImageNet(1000)
    assert load_config("pod_transformers:swin_b,imagenet1000,pod").model.head_kwargs.dim == 1024


@pytest.mark.parametrize("n", [30, 100, 200, 500, 1000])
def test_pod_transformers_accepts_the_imagenet_subsets(n):
    c = load_config(f"pod_transformers:vit_b16,imagenet{n},pod")
    assert c.dataset.name == "tfds:imagenet2012" and c.dataset.test_split == "validation"
    assert c.dataset.options.num_classes_subset == n
    assert (c.dataset.image_size, c.model.kwargs.image_size) == (224, 224)
    check_loss_config(c)


@pytest.mark.parametrize("arg, match", [("vit_b16,imagenet7,pod", "dataset must be one of"),
                                        ("vit_b16,cifar10,pod", "dataset must be one of"),
                                        ("resnet50,cifar100,pod", "model must be one of"),
                                        ("vit_b16,cifar100,pod,512", "PEDCC dimension field")])
def test_pod_transformers_bad_fields_are_named(arg, match):
    with pytest.raises(ValueError, match=match):
        load_config(f"pod_transformers:{arg}")


def test_webface_folder_option_and_bad_normalisation():
    paper = load_config("w_softmax:webface,1.0")
    folder = load_config("w_softmax:webface,1.0,folder")
    assert (paper.dataset.options.mean, paper.dataset.options.std) == (127.5, 128.0)
    assert "mean" not in folder.dataset.options and "std" not in folder.dataset.options
    assert folder.loss.switch_steps == paper.loss.switch_steps == 15000
    with pytest.raises(ValueError, match="normalisation"):
        load_config("w_softmax:webface,1.0,7")
