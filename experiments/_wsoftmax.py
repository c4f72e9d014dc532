"""Shared pieces of the W-Softmax scripts: Figure 5's angle analysis and its figure, Table 3's
verification analysis.

The W-Softmax paper: Xiaobin Li and Weiqiang Wang, "Learning Discriminative Features Via
Weights-biased Softmax Loss". Figure 5 plots, per class, the mean angle between the learned
features and the weight vector of their own class (eq. 14), on the training and the test
set, for the original softmax and W-Softmax with several alpha.
"""

from __future__ import annotations

import os

import numpy as np

from _figures import plt, run_dirs, save

ANGLE_MEANS = ("angle/train/mean", "angle/test/mean")


def angle_analysis(*, n_train: int = 10000, n_test: int = 0, smoke_n: int = 200):
    """``f(run_dir, smoke)`` -> mean angle per class (degrees), train and test images.

    Keys ``angle/{train,test}/{c}`` for every class c and ``angle/{train,test}/mean`` (the
    mean over classes). ``n_train`` / ``n_test``: the first so many images of each split
    (0 = all); ``smoke_n`` replaces both under --smoke.
    """

    def analysis(run_dir: str, smoke: bool) -> dict:
        from mfdjax.eval import class_weights, mean_class_angles
        from mfdjax.train.analysis import extract_features
        from mfdjax.train.loop import restore_run

        run = restore_run(run_dir)
        w = class_weights(run)
        out = {}
        for split, n in (("train", n_train), ("test", n_test)):
            n = smoke_n if smoke else n
            got = extract_features(run, split, limit=n or None)
            ang = mean_class_angles(got["features"], got["labels"], w)
            out.update({f"angle/{split}/{c}": float(a) for c, a in enumerate(ang)})
            out[f"angle/{split}/mean"] = float(np.nanmean(ang))
            out[f"angle/{split}/n"] = int(len(got["labels"]))
        return out

    return analysis


def angle_figure(labels, *, names: dict | None = None, title: str = ""):
    """Figure 5: mean angle per class (mean ± std over seeds), one bar group per class,
    one bar per row; left panel training images, right panel test images."""

    def draw(ctx: dict, path: str) -> None:
        runner = ctx["runner"]
        data = {}
        for label in labels:
            if not run_dirs(ctx, label):
                continue
            per = {}
            for split in ("train", "test"):
                c, vals = 0, []
                while True:
                    v = runner.metric_values(label, f"angle/{split}/{c}")
                    if not v:
                        break
                    vals.append(v)
                    c += 1
                per[split] = vals
            if per["test"]:
                data[label] = per
        if not data:
            return
        p = plt()
        fig, axes = p.subplots(1, 2, figsize=(11, 3.8), sharey=True)
        w = 0.8 / len(data)
        for ax, split in zip(axes, ("train", "test")):
            for i, (label, per) in enumerate(data.items()):
                vals = per[split]
                if not vals:
                    continue
                m = [float(np.mean(v)) for v in vals]
                s = [float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for v in vals]
                x = np.arange(len(m)) + i * w
                ax.bar(x, m, w, yerr=s, capsize=2, label=(names or {}).get(label, label))
            k = max(len(per[split]) for per in data.values())
            ax.set_xticks(np.arange(k) + 0.4 - w / 2, [str(c) for c in range(k)])
            ax.set_xlabel("class")
            ax.set_title(f"{split} images", fontsize=9)
            ax.grid(alpha=0.3, axis="y")
        axes[0].set_ylabel("mean angle to own class weight (deg)")
        axes[1].legend(fontsize=7)
        if title:
            fig.suptitle(title, fontsize=9)
        save(p, fig, path)

    return draw


def verification_analysis(*, data_name: str, pairs_name: str = "pairs.txt", folds: int = 10,
                          smoke_per_fold: int = 10):
    """``f(run_dir, smoke, data_dirs)`` -> LFW-protocol accuracy (%) of the run's features.

    Full runs read ``data_dirs[data_name]``: an LFW-layout folder (``NAME/NAME_0001.jpg``)
    holding the pairs file ``pairs_name``. Under --smoke the pairs are drawn from the run's
    own test images and labels (``smoke_per_fold`` matched + mismatched pairs per fold).
    Keys: ``verif_acc`` (mean over folds, %), ``verif_std`` (%), ``verif_pairs``.
    """

    def analysis(run_dir: str, smoke: bool, data_dirs: dict | None = None) -> dict:
        from mfdjax.eval import pairs_from_labels, run_features
        from mfdjax.eval.verification import verify_folder, verify_pairs
        from mfdjax.train.loop import restore_run

        run = restore_run(run_dir)
        feed = run["feed"]
        h, w, c = feed.image_shape

        def embed(images):
            return run_features(run, images)["features"]

        if smoke:
            labels = np.asarray(feed.test.labels)
            index, same, fold = pairs_from_labels(labels, per_fold=smoke_per_fold, folds=folds)
            res = verify_pairs(embed, feed.test.images, index, same, fold)
            n = len(same)
        else:
            root = (data_dirs or {}).get(data_name)
            if not root:
                raise ValueError(f"the verification needs --data-dir {data_name}=PATH: an "
                                 f"LFW-layout image folder holding {pairs_name}.")
            res = verify_folder(embed, root, os.path.join(root, pairs_name), size=(h, w),
                                channels=c, folds=folds)
            n = res["pairs"]
        return {"verif_acc": 100.0 * res["mean"], "verif_std": 100.0 * res["std"],
                "verif_pairs": int(n)}

    return analysis
