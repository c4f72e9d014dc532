"""The MFD paper (Zhu, Wang, Zu, Liu, "Multi-stage feature decorrelation constraints for
improving CNN classification performance"), Table VI: losses for face recognition with and
without MFD, ResNet50 on FaceScrub.

Rows = losses (Center loss, AM-Softmax m = 0.35, ArcFace m = 0.5), columns = without /
with MFD (five stages, lambda = 1); each +MFD cell is compared with its plain cell.
(Combined margin and COT, which the POD paper's Table IV adds without MFD, are in
experiments/pod_table4_losses.py.)

Recipe: the paper's (``mfdjax.configs._presets.paper_recipe``), 100 epochs, 64x64 with
the max-pool kept, mean of 3 runs.

    python experiments/mfd_table6_margins.py --data-dir facescrub=/data/facescrub

Data: FaceScrub as an image folder train/<person>/*, test/<person>/* (100 identities,
64x64; the paper's split, 15,896 / 3,896 images, is not published).
"""

from _runner import Comparison, Experiment, Row, main

from mfdjax.configs.mfd_margins import PAPER

T6 = "Table VI: ResNet50 FaceScrub, top-1 (%) without / with MFD"
LOSSES = {"center": "Center loss", "am_softmax": "AM-Softmax (m = 0.35)",
          "arcface": "ArcFace (m = 0.5)"}

ROWS, COMPARISONS = [], []
for loss, name in LOSSES.items():
    plain, mfd = PAPER[loss]
    ROWS.append(Row(loss, f"mfd_margins:{loss},plain", T6, name, "without MFD", paper=plain,
                    data="facescrub", input_size=64))
    ROWS.append(Row(f"{loss}_mfd", f"mfd_margins:{loss},mfd", T6, name, "with MFD", paper=mfd,
                    data="facescrub", input_size=64))
    COMPARISONS.append(Comparison(T6, loss, f"{loss}_mfd",
                                  claim=f"{name}: adding MFD raises top-1 (paper: {plain} -> "
                                        f"{mfd})"))

EXPERIMENT = Experiment(
    ci_rows=('arcface', 'arcface_mfd'),   # CI smoke: every figure/analysis/section once
    title="MFD paper, Table VI: face-recognition losses with and without MFD "
          "(ResNet50, FaceScrub)",
    script="mfd_table6_margins.py", rows=ROWS, comparisons=COMPARISONS,
    default_workdir="mfd_table6_margins",
    needs="facescrub (image folder train/<person>, test/<person>, 64x64)",
    notes="The paper gives the margins but not the scales s of AM-Softmax / ArcFace nor the "
          "Center loss weight: see mfdjax.configs.mfd_margins for the values used.")

if __name__ == "__main__":
    raise SystemExit(main(EXPERIMENT))
