"""mfd-loss.txt Table VI: Center / AM-Softmax / ArcFace (+ CM, COT) with and without MFD, FaceScrub.

    .venv/bin/python experiments/mfd_table6_margins.py dataset.data_dir=/data/facescrub
"""

from _runner import run_table

from mfdjax.configs.mfd_margins import PAPER

ROWS = []
for loss, (plain, mfd) in PAPER.items():
    ROWS.append((loss, f"mfd_margins:{loss},plain", plain))
    ROWS.append((f"{loss}_mfd", f"mfd_margins:{loss},mfd", mfd))

if __name__ == "__main__":
    run_table("mfd-loss.txt Table VI: face-recognition losses +- MFD (ResNet50, FaceScrub)",
              ROWS, default_workdir="runs/mfd_table6_margins")
