"""mfd-loss.txt Table II (lambda sweep) and the placement study (stages / blocks / layers).

    .venv/bin/python experiments/mfd_table2_placement.py dataset.data_dir=/data/cifar100
"""

from _runner import run_table

ROWS = [("softmax", "mfd_cifar:resnet50,cifar100,softmax", 76.42)]
ROWS += [(f"stages_lg{lg}", f"mfd_placement:stages,{lg}", p)
         for lg, p in ((-2, 76.91), (-1, 78.27), (0, 79.18), (1, 76.86), (2, 72.20))]
ROWS += [("blocks_lg0", "mfd_placement:blocks,0", None),
         ("layers_lg0", "mfd_placement:layers,0", None)]

if __name__ == "__main__":
    run_table("mfd-loss.txt Table II + MFD placement (ResNet50, CIFAR-100)", ROWS,
              default_workdir="runs/mfd_table2_placement")
