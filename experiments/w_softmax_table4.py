"""The W-Softmax paper, Table 4: softmax vs W-Softmax on the first k classes (k = 5..10) of
MNIST and CIFAR-10.

Paper: Xiaobin Li and Weiqiang Wang, "Learning Discriminative Features Via Weights-biased
Softmax Loss", section 5.6. Each cell trains the L-Softmax CNN on the first k classes only
(``w_softmax:<ds>,<method>,<k>`` sets ``dataset.classes = (0, ..., k-1)`` for the training
and the test split, relabelled 0..k-1).

Decisions where the paper is silent or contradicts itself:

* the text says both "randomly select k classes" and "select the first k classes": we take
  the first k (reproducible, and what the numbers' k = 10 column equals: Tables 1/2);
* "softmax" is the conventional softmax of Tables 1/2 (its k = 10 numbers, 99.58 and
  90.95, are the tables' original-softmax numbers);
* the alpha of the W-Softmax column was lost from the text; we use alpha = 1.5, whose
  Table 1 number (99.69) is the MNIST k = 10 cell (the CIFAR-10 k = 10 cell, 92.44,
  matches no Table 2 row). ``W_ALPHA`` below changes it;
* the k = 10 rows list all ten classes explicitly (the same data as Tables 1/2).

    python experiments/w_softmax_table4.py --data-dir mnist=/data/mnist \\
        --data-dir cifar10=/data/cifar10
"""

from _runner import Comparison, Experiment, Row, main

from mfdjax.configs.w_softmax import TABLE4

T = "Table 4: test accuracy (%) on the first k classes"
W_ALPHA = "1.5"
DATASETS = (("mnist", "MNIST", 0), ("cifar10", "CIFAR-10", 32))
KS = range(5, 11)
# --smoke trains every k of a (dataset, method) as one run on 5 Fashion-MNIST classes: the
# runner trains each distinct smoke config once, and the class selection is what it tests.
SMOKE = ("dataset.classes=(0,1,2,3,4)",)

ROWS = [
    Row(f"{ds}_k{k}_{m}", f"w_softmax:{ds},{method},{k}", T, f"k={k}", f"{col} {name}",
        paper=TABLE4[ds][k][i], data=ds, input_size=size, smoke_overrides=SMOKE)
    for ds, col, size in DATASETS for k in KS
    for i, (m, method, name) in enumerate((("softmax", "softmax", "softmax"),
                                           ("w", W_ALPHA, "W-Softmax")))
]

COMPARISONS = [
    Comparison(T, f"{ds}_k{k}_softmax", f"{ds}_k{k}_w",
               claim=f"W-Softmax (alpha={W_ALPHA}) raises test top-1 over softmax ({col}, k={k})")
    for ds, col, _ in DATASETS for k in KS
]

EXPERIMENT = Experiment(
    ci_rows=('mnist_k5_softmax', 'mnist_k5_w'),   # CI smoke: every figure/analysis once
    title="W-Softmax paper, Table 4: softmax vs W-Softmax on the first k classes",
    script="w_softmax_table4.py", rows=ROWS, comparisons=COMPARISONS,
    default_workdir="w_softmax/table4",
    needs="MNIST (the four IDX files) and CIFAR-10 (python archive): --data-dir mnist=... "
          "cifar10=...",
    notes=f"First k classes (dataset.classes), conventional softmax vs W-Softmax alpha = "
          f"{W_ALPHA} (the paper's alpha for this table was lost from the text; see the "
          "script's docstring).")

if __name__ == "__main__":
    raise SystemExit(main(EXPERIMENT))
