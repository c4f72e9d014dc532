"""mfd-loss.txt Tables IV and V: Softmax vs Softmax + MFD, four CNNs x four datasets.

    .venv/bin/python experiments/mfd_table4_5.py dataset.data_dir=/data/cifar100 --only \
        resnet50_cifar100_softmax,resnet50_cifar100_mfd

Tiny ImageNet / FaceScrub rows need their own data_dir (image folders): run them with --only.
"""

from _runner import run_table

from mfdjax.configs._presets import MFD_TABLE

ROWS = []
for (model, dataset), (soft, mfd) in MFD_TABLE.items():
    cfg = {"cifar10": "mfd_cifar:{m},cifar10", "cifar100": "mfd_cifar:{m},cifar100",
           "tiny_imagenet": "mfd_tiny_imagenet:{m}", "facescrub": "mfd_facescrub:{m}"}[dataset]
    ROWS.append((f"{model}_{dataset}_softmax", cfg.format(m=model) + ",softmax", soft))
    ROWS.append((f"{model}_{dataset}_mfd", cfg.format(m=model) + ",mfd", mfd))

if __name__ == "__main__":
    run_table("mfd-loss.txt Tables IV/V: Softmax vs Softmax + MFD", ROWS,
              default_workdir="runs/mfd_table4_5")
