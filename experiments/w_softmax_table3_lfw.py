"""The W-Softmax paper, Table 3: face verification accuracy on LFW of a network trained on
CASIA-WebFace with softmax, L-Softmax and W-Softmax.

Paper: Xiaobin Li and Weiqiang Wang, "Learning Discriminative Features Via Weights-biased
Softmax Loss", section 5.5. Each row trains on the user's CASIA-WebFace folder
(``--data-dir webface=DIR``: ``DIR/train/<identity>/*.jpg``, faces aligned and cropped to
160x160, e.g. with MTCNN) and is scored with LFW's protocol on the user's LFW folder
(``--data-dir lfw=DIR``: ``DIR/<Name>/<Name>_0001.jpg`` aligned the same way, plus LFW's
``DIR/pairs.txt``): cosine similarity of the two images' features, ten folds, the threshold
of each fold chosen on the other nine, accuracy mean ± std over folds
(``mfdjax.eval.verification``). The cell's value is that mean (%); the paper's other rows
(FaceNet, Deep FR, DeepID2+) are other systems and are not rerun.

Neither dataset can be downloaded by this script (licences; CASIA-WebFace is distributed
on request). The rows follow the paper's input normalisation, pixels (x - 127.5) / 128 for
the training and the LFW images alike, and its xavier (Glorot-uniform) classifier
initialisation; the setting the paper does not give (the network: resnet18 with the
ImageNet stem) and the named alternative normalisation (``w_softmax:webface,METHOD,folder``:
the folder's channel statistics, the setting of runs made before mfdjax 1.0) are in
``mfdjax/configs/w_softmax.py`` (dataset ``webface``). ``--smoke`` trains on Fashion-MNIST
and scores LFW-shaped pairs drawn from its test images.

    python experiments/w_softmax_table3_lfw.py --data-dir webface=/data/casia_webface \\
        --data-dir lfw=/data/lfw_mtcnn160
"""

from _runner import Comparison, Experiment, Row, main
from _wsoftmax import verification_analysis

from mfdjax.configs.w_softmax import TABLE3

T = "Table 3: LFW verification accuracy (%), trained on CASIA-WebFace"
VERIFY = verification_analysis(data_name="lfw")
METHODS = (("softmax", "softmax", "original softmax"), ("lsoftmax", "lsoftmax", "L-Softmax (m=4)"),
           ("a0.5", "0.5", "W-Softmax (alpha=0.5)"), ("a1.0", "1.0", "W-Softmax (alpha=1)"),
           ("a1.5", "1.5", "W-Softmax (alpha=1.5)"))
# --smoke: the three alpha rows as one run (the runner trains each distinct config once).
SMOKE_ALPHA = ("loss.kwargs.alpha=1.0",)

ROWS = [
    Row(f"lfw_{s}", f"w_softmax:webface,{method}", T, name, "LFW accuracy",
        paper=TABLE3[method if method in ("softmax", "lsoftmax") else float(method)],
        data="webface", input_size=160, metric="verif_acc", analysis=VERIFY,
        analysis_data=("lfw",), extra_metrics=("verif_std", "top1"),
        smoke_overrides=SMOKE_ALPHA if s.startswith("a") else ())
    for s, method, name in METHODS
]

COMPARISONS = [
    Comparison(T, "lfw_softmax", f"lfw_{s}",
               claim=f"{name} raises LFW verification accuracy over the original softmax")
    for s, _, name in METHODS if s != "softmax"
]

EXPERIMENT = Experiment(
    ci_rows=('lfw_softmax', 'lfw_a1.5'),   # CI smoke: every figure/analysis once
    title="W-Softmax paper, Table 3: LFW verification after CASIA-WebFace training",
    script="w_softmax_table3_lfw.py", rows=ROWS, comparisons=COMPARISONS,
    default_workdir="w_softmax/table3",
    needs="CASIA-WebFace aligned 160x160 (--data-dir webface=DIR with DIR/train/<id>/) and "
          "LFW aligned the same way with pairs.txt (--data-dir lfw=DIR); neither is reachable "
          "here.",
    notes="Metric: LFW 10-fold verification accuracy (mean over folds; verif_std is the std "
          "over folds of one run). top1 is a sanity check on the first 1,000 WebFace "
          "training images, not a test accuracy.")

if __name__ == "__main__":
    raise SystemExit(main(EXPERIMENT))
