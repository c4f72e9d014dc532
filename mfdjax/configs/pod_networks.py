# The POD paper, Table VII: Softmax vs POD on ResNet50 / DenseNet121 / MobileNetV2.
#
# Command:   mfdjax train --config pod_networks:densenet121,cifar100 dataset.data_dir=DIR
# Hardware:  one modern GPU (~1-3 h per run).
# Paper:     see the POD paper, Table VII (softmax vs POD per network and dataset); e.g.
#            ResNet50 CIFAR-100 76.42 -> 79.17 (Table VI).
"""Softmax vs POD on several CNNs: get_config("model,dataset[,softmax|pod]")."""

from mfdjax.configs._presets import DATASETS, paper_recipe, parse_arg, set_loss


def get_config(arg=None):
    model, dataset, loss = parse_arg(arg, 3, ("resnet50", "cifar100", ""))
    dim = DATASETS[dataset][3]
    c = paper_recipe(dataset, model)
    c.description = f"{model} {dataset}: softmax vs POD (the POD paper, Table VII)"
    if loss == "":
        c.comparison.softmax = "loss.name=softmax,model.head=linear"
        c.comparison.pod = f"loss.name=pod,model.head=pod,model.head_kwargs.dim={dim}"
    else:
        set_loss(c, loss, dim=dim)
    return c
