"""w-softmax.txt Tables 1 and 2: W-Softmax with alpha = 0 (normalised softmax), 0.5, 1, 1.5.

    .venv/bin/python experiments/w_softmax_tables.py --only cifar10_a1.0 dataset.data_dir=/data/c10
"""

from _runner import run_table

from mfdjax.configs.w_softmax import PAPER

ROWS = [(f"{ds}_a{alpha}", f"w_softmax:{ds},{alpha}", acc)
        for ds, table in PAPER.items() for alpha, acc in sorted(table.items())]

if __name__ == "__main__":
    run_table("w-softmax.txt Tables 1/2: W-Softmax", ROWS, default_workdir="runs/w_softmax")
