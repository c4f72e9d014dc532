"""Shared pieces of the POD-paper scripts: analyses of finished runs and their figures.

The POD paper: Qiuyu Zhu and Xuewen Zu, "A Softmax-free Loss Function Based on Predefined
Optimal-distribution of Latent Features for CNN Classifier". Every analysis is a
``f(run_dir, smoke) -> dict`` for :class:`_runner.Row` (cached by the runner in
``run_dir/analysis.json``); under --smoke it reads at most a few hundred images.
"""

from __future__ import annotations

import os

import numpy as np

from _figures import plt, run_dirs, save, series

SMOKE_IMAGES = 200

# The paper's names of the losses of its Table IV (config loss name -> row name).
LOSS_NAMES = {
    "softmax": "Softmax Loss", "center": "Center Loss", "am_softmax": "AM-Softmax (m=0.35)",
    "arcface": "ArcFace (m=0.5)", "combined_margin": "CM (m1=0.9, m2=0.4, m3=0.15)",
    "cot": "COT", "pedcc": "PEDCC-Loss (m=0.5)", "cosine": "Cosine Loss",
    "nac": "NaC Loss (alpha=0.01)", "pod": "POD Loss (alpha=0.01, lambda=1)",
}
DATASET_NAMES = {"cifar10": "CIFAR10", "cifar100": "CIFAR100", "tiny_imagenet": "Tiny ImageNet",
                 "facescrub": "FaceScrub"}
INPUT_SIZE = {"cifar10": 32, "cifar100": 32, "tiny_imagenet": 64, "facescrub": 64}
NEEDS_SMALL = ("CIFAR-10 / CIFAR-100 (the python archives: --data-dir cifar10=DIR "
               "cifar100=DIR), Tiny ImageNet and FaceScrub as image folders "
               "(DIR/train/<class>/*.jpg, DIR/test/<class>/*.jpg, 64x64; --data-dir "
               "tiny_imagenet=DIR facescrub=DIR)")


def _limit(smoke: bool, n: int | None) -> int | None:
    return SMOKE_IMAGES if smoke else n


def norm_analysis(*, n_test: int | None = None):
    """Table I: top-1 of the test samples with latent-feature norm below / above the mean."""

    def analysis(run_dir: str, smoke: bool) -> dict:
        from mfdjax.train.analysis import extract_features, norm_split_accuracy
        from mfdjax.train.loop import restore_run

        te = extract_features(restore_run(run_dir), "test", limit=_limit(smoke, n_test))
        return norm_split_accuracy(te["features"], te["logits"], te["labels"])

    return analysis


def eigen_analysis(*, n_test: int | None = None):
    """Table V: variance (x 1e8) of the eigenvalues of the covariance of the L2-normalised
    backbone features (the 2048-d input of FC1 for ResNet50), on the test images."""

    def analysis(run_dir: str, smoke: bool) -> dict:
        from mfdjax.train.analysis import eigen_variance, extract_features
        from mfdjax.train.loop import restore_run

        te = extract_features(restore_run(run_dir), "test", limit=_limit(smoke, n_test),
                              backbone=True)
        return {"eig_var_x1e8": 1e8 * eigen_variance(te["backbone"]),
                "eig_dim": int(te["backbone"].shape[1])}

    return analysis


def gda_analysis(*, n_train: int | None = None, n_test: int | None = None):
    """Table IX: GDA (fitted on the training features) vs the cosine (PEDCC) classifier."""

    def analysis(run_dir: str, smoke: bool) -> dict:
        from mfdjax.train.analysis import gda_evaluate
        from mfdjax.train.loop import restore_run

        r = gda_evaluate(restore_run(run_dir), train_limit=(600 if smoke else n_train),
                         test_limit=_limit(smoke, n_test))
        return {"gda_top1": 100.0 * r["test/accuracy_gda"],
                "cosine_top1": 100.0 * r["test/accuracy_head"],
                "gda_train_top1": 100.0 * r["train/accuracy_gda"],
                "gda_num_train": r["gda/num_train"]}

    return analysis


def train_loss_analysis(run_dir: str, smoke: bool) -> dict:
    """Figure 5: the total training loss at the end of training (mean of the last epoch's
    logged values), read from the run's metrics.jsonl."""
    epoch, loss = series(run_dir, "train/loss")
    if not loss.size:
        return {"train_loss_final": float("nan")}
    last = loss[epoch > epoch.max() - 1.0]
    return {"train_loss_final": float(np.mean(last if last.size else loss[-1:]))}


def features2d_analysis(*, n_test: int | None = 2500):
    """Figure 6: saves the 2-D latent features of the test images (and the PEDCC points of a
    POD head) to run_dir/features2d.npz for the scatter figure."""

    def analysis(run_dir: str, smoke: bool) -> dict:
        from mfdjax.train.analysis import extract_features
        from mfdjax.train.loop import restore_run

        run = restore_run(run_dir)
        te = extract_features(run, "test", limit=_limit(smoke, n_test))
        f = te["features"]
        if f.shape[1] != 2:
            raise ValueError(f"Figure 6 needs 2-D latent features, got dimension {f.shape[1]}.")
        cfg = run["config"]
        centroids = np.zeros((0, 2))
        if cfg.model.head == "pod":
            from mfdjax.pedcc import pedcc

            centroids = pedcc(int(run["feed"].num_classes), 2,
                              seed=int(cfg.model.head_kwargs.get("seed", 0)))
        np.savez(os.path.join(run_dir, "features2d.npz"), features=f, labels=te["labels"],
                 centroids=centroids)
        acc = float(100.0 * np.mean(np.argmax(te["logits"], 1) == te["labels"]))
        return {"fig6_points": int(f.shape[0]), "fig6_top1": acc}

    return analysis


def scatter_figure(panels, *, names: dict):
    """Figure 6: one scatter panel per row (first seed): test features coloured by class,
    the class means in black, the PEDCC points (POD heads) as black circles."""

    def draw(ctx: dict, path: str) -> None:
        found = []
        for label in panels:
            dirs = run_dirs(ctx, label)
            if dirs and os.path.exists(os.path.join(dirs[0], "features2d.npz")):
                found.append((label, np.load(os.path.join(dirs[0], "features2d.npz"))))
        if not found:
            return
        p = plt()
        cols = min(4, len(found))
        rows = (len(found) + cols - 1) // cols
        fig, axes = p.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
        for ax in axes.flat[len(found):]:
            ax.axis("off")
        for ax, (label, d) in zip(axes.flat, found):
            f, y = d["features"], d["labels"]
            for c in np.unique(y):
                ax.scatter(f[y == c, 0], f[y == c, 1], s=2, alpha=0.5, label=str(c))
                m = f[y == c].mean(0)
                ax.plot(m[0], m[1], "ko", ms=4)
            cen = d["centroids"]
            if cen.size:
                scale = 0.25 * float(np.median(np.linalg.norm(f, axis=1)) or 1.0)
                ax.scatter(scale * cen[:, 0], scale * cen[:, 1], s=40, facecolors="none",
                           edgecolors="k", linewidths=1.2)
            ax.set_title(names.get(label, label), fontsize=8)
            ax.tick_params(labelsize=6)
            ax.set_aspect("equal", adjustable="datalim")
        save(p, fig, path)

    return draw


def pair_bars(pairs, *, metric_a: str, metric_b: str, name_a: str, name_b: str,
              ylabel: str, paper: dict | None = None):
    """Two bars per row (two metrics of the same runs, mean ± std over seeds), the paper's
    numbers as markers: e.g. Table I (low / high norm) or Table IX (cosine / GDA)."""

    def draw(ctx: dict, path: str) -> None:
        rows = ctx["rows"]
        data = []
        for label, name in pairs:
            vals = []
            for metric in (metric_a, metric_b):
                found = [r for r in rows.values()
                         if (r.get("runs_of") or r["label"]) == label and r["metric"] == metric]
                v = found[0]["values"] if found and found[0]["n"] else []
                vals.append((np.mean(v) if v else np.nan, np.std(v, ddof=1) if len(v) > 1 else 0))
            if not all(np.isnan(v[0]) for v in vals):
                data.append((label, name, vals))
        if not data:
            return
        p = plt()
        fig, ax = p.subplots(figsize=(1.6 + 1.3 * len(data), 3.6))
        x = np.arange(len(data))
        for i, (nm, off) in enumerate(((name_a, -0.2), (name_b, 0.2))):
            ax.bar(x + off, [d[2][i][0] for d in data], 0.4,
                   yerr=[d[2][i][1] for d in data], capsize=2, label=f"ours: {nm}")
            if paper:
                py = [paper.get(d[0], (np.nan, np.nan))[i] for d in data]
                ax.plot(x + off, py, "k_", ms=18, mew=2, label="paper" if i == 0 else None)
        ax.set_xticks(x, [d[1] for d in data], fontsize=8)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
        save(p, fig, path)

    return draw


def curves_figure(curve_fns, *, xlabel: str, ylabel: str, title: str = "",
                  marks: tuple = ()):
    """An analytic figure (no runs): ``curve_fns`` = [(label, x, y)], optional vertical marks."""

    def draw(ctx: dict, path: str) -> None:
        p = plt()
        fig, ax = p.subplots(figsize=(5.2, 3.6))
        for label, x, y in curve_fns:
            ax.plot(x, y, label=label)
        for xm, text in marks:
            ax.axvline(xm, color="gray", ls=":", lw=0.8)
            ax.text(xm, ax.get_ylim()[1] * 0.95, text, fontsize=7, ha="center")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        save(p, fig, path)

    return draw

