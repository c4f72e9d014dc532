"""pod-loss.txt Table IV: ten losses on CIFAR-10 / CIFAR-100 / Tiny ImageNet / FaceScrub.

    .venv/bin/python experiments/pod_table4_losses.py --only pod_cifar10,softmax_cifar10 \
        dataset.data_dir=/data/cifar10
"""

from _runner import run_table

from mfdjax.configs.pod_losses import LOSSES, PAPER, _COL

ROWS = [(f"{loss}_{ds}", f"pod_losses:{loss},{ds}", PAPER[loss][col])
        for ds, col in _COL.items() for loss in LOSSES]

if __name__ == "__main__":
    run_table("pod-loss.txt Table IV: loss functions on small datasets (ResNet50)", ROWS,
              default_workdir="runs/pod_table4_losses")
