"""Host-side data feeding: which examples go into each global batch, on this process.

One job: produce this process's share of every batch as NumPy arrays. Two modes
(``config.dataset.streaming``):

* in memory (default, small datasets): ``mfdjax.data.load_dataset`` once; the
  global batch of step ``s`` of epoch ``e`` is ``batch_indices(N, B, seed, e)[s]``
  and this process gathers its contiguous slice (``process_slice``);
* streaming (large sources: ImageNet through TFDS, image folders):
  ``mfdjax.data.open_source`` + ``HostLoader`` (threaded reads, same batch order
  as ``batch_indices``, resumable at a step), with optional host transforms
  (``dataset.train_transform="random_resized_crop"``, ``dataset.eval_transform=
  "resize_center_crop"``, both at ``dataset.image_size``), the ImageNet recipe of
  the POD paper, section 4.

Both give identical batches for the same source (tested), so a run's result
does not depend on the mode.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Iterator

import jax
import numpy as np

__all__ = ["Feed"]

_TRANSFORMS = ("", "random_resized_crop", "resize_center_crop")


def _options(d) -> dict:
    return d.options.to_dict() if hasattr(d.options, "to_dict") else dict(d.options)


def _transform(name: str, size: int, *, train: bool):
    from mfdjax.data import transforms

    if name not in _TRANSFORMS:
        raise ValueError(f"dataset transform must be one of {_TRANSFORMS}, got {name!r}.")
    if not name:
        return None
    if name == "random_resized_crop":
        if not train:
            raise ValueError("random_resized_crop is a training transform; use "
                             "eval_transform='resize_center_crop'.")
        return functools.partial(transforms.random_resized_crop, size=size)
    return functools.partial(transforms.resize_center_crop, size=size,
                             resize=int(round(size * 256 / 224)))


def _local(indices: np.ndarray) -> np.ndarray:
    from mfdjax.data import process_slice

    if jax.process_count() == 1:
        return indices
    return process_slice(indices, jax.process_index(), jax.process_count())


class Feed:
    """Train/test data of ``config.dataset`` for this process.

    Attributes:
      num_train, num_test, num_classes, mean, std (per channel, 0-255),
      image_shape (H, W, C) of the batches.
    """

    def __init__(self, config: Any):
        from mfdjax.data import load_dataset, open_source

        d = config.dataset
        self.config = config
        self.streaming = bool(d.get("streaming", False))
        options = _options(d)
        size = int(d.get("image_size", 224))
        self.train_transform = _transform(d.get("train_transform", ""), size, train=True)
        self.eval_transform = _transform(d.get("eval_transform", ""), size, train=False)
        if not self.streaming and (self.train_transform or self.eval_transform):
            raise ValueError("dataset.train_transform / eval_transform need "
                             "dataset.streaming=True (they run in the HostLoader threads).")
        opener = open_source if self.streaming else load_dataset
        selection = _selection(d)
        n_val = _validation_size(d)
        train_options, test_options = dict(options), dict(options)
        if not self.streaming:
            # Read only the first N examples where the format allows it, when nothing is
            # selected before the subset (classes, fraction and validation need the split).
            whole = n_val or selection["classes"] or selection["train_fraction"]
            if d.train_subset and not whole:
                train_options["limit"] = int(d.train_subset)
            if d.test_subset and not selection["classes"]:
                test_options["limit"] = int(d.test_subset)
        self.train = opener(d.name, d.train_split, data_dir=d.data_dir, **train_options)
        self.test = opener(d.name, d.test_split, data_dir=d.data_dir, **test_options)
        self.val = None
        if self.streaming and (n_val or any(v for k, v in selection.items()
                                            if k != "fraction_seed")):
            raise ValueError("dataset.classes / train_fraction / resize / validation_size "
                             "work on in-memory datasets only (dataset.streaming=False).")
        if not self.streaming:
            # Classes, then the validation hold-out, then the fraction, then the subsets;
            # the resize (which commutes with taking the first N) last, so only the
            # images kept are resized.
            classes = dict(selection, train_fraction=0.0, resize=0)
            fraction = dict(selection, classes=(), resize=0)
            size = dict(selection, classes=(), train_fraction=0.0)
            train = _select(self.train, classes, train=True)
            if n_val:
                train, val = hold_out(train, n_val, seed=int(d.get("validation_seed", 0)))
                self.val = _select(val, size, train=False)
            train = _select(train, fraction, train=True)
            self.train = self._subset(train, d.train_subset)
            self.test = self._subset(_select(self.test, classes, train=False), d.test_subset)
            self.train = _select(self.train, size, train=True)
            self.test = _select(self.test, size, train=False)
            self._train_len, self._test_len = len(self.train.labels), len(self.test.labels)
        else:
            self._train_len = min(len(self.train), d.train_subset or len(self.train))
            self._test_len = min(len(self.test), d.test_subset or len(self.test))
        self.num_classes = int(self.train.num_classes)
        self.mean = np.asarray(self.train.mean, np.float32)
        self.std = np.asarray(self.train.std, np.float32)
        self.image_shape = tuple(self._test_image(0).shape)

    @staticmethod
    def _subset(ds, n):
        if n and n < len(ds.labels):
            return dataclasses.replace(ds, images=ds.images[:n], labels=ds.labels[:n])
        return ds

    @property
    def num_train(self) -> int:
        return self._train_len

    @property
    def num_test(self) -> int:
        return self._test_len

    @property
    def num_val(self) -> int:
        """Size of the validation split (0: none, ``dataset.validation_size=0``)."""
        return 0 if self.val is None else len(self.val.labels)

    def _test_image(self, i: int) -> np.ndarray:
        image = np.asarray(self.test[i][0])
        if self.eval_transform is not None:
            image = np.asarray(self.eval_transform(image, None))
        return image[..., None] if image.ndim == 2 else image

    def _workers(self) -> int:
        return int(self.config.dataset.get("num_workers", 8))

    def train_batches(self, epoch: int, start_step: int, batch_size: int
                      ) -> Iterator[dict[str, np.ndarray]]:
        """This process's share of the global batches ``start_step..`` of ``epoch``."""
        from mfdjax.data import HostLoader, batch_indices

        seed = int(self.config.seed)
        if not self.streaming:
            order = batch_indices(self._train_len, batch_size, seed=seed, epoch=epoch)
            for s in range(start_step, order.shape[0]):
                idx = _local(np.asarray(order[s]))
                yield {"image": self.train.images[idx], "label": self.train.labels[idx]}
            return
        source = self.train if self._train_len == len(self.train) else _Prefix(
            self.train, self._train_len)
        loader = HostLoader(source, batch_size, seed=seed, epoch=epoch, start_step=start_step,
                            process_index=jax.process_index(),
                            process_count=jax.process_count(), num_workers=self._workers(),
                            transform=self.train_transform)
        for images, labels in loader:
            yield {"image": images, "label": labels}

    def eval_batches(self, batch_size: int, split: str = "test"
                     ) -> Iterator[dict[str, np.ndarray]]:
        """The whole test (or ``split="val"``: validation) set in order, last batch padded
        (``mask`` 0 on padding rows)."""
        if split not in ("test", "val"):
            raise ValueError(f"split must be 'test' or 'val', got {split!r}.")
        if split == "val" and self.val is None:
            raise ValueError("this feed has no validation split (set "
                             "dataset.validation_size > 0).")
        ds = self.val if split == "val" else self.test
        n = self.num_val if split == "val" else self._test_len
        if not self.streaming:
            for start in range(0, n, batch_size):
                idx = np.arange(start, start + batch_size)
                mask = (idx < n).astype(np.float32)
                idx = np.where(idx < n, idx, 0)
                idx, mask = _local(idx), _local(mask)
                yield {"image": ds.images[idx], "label": ds.labels[idx], "mask": mask}
            return
        from mfdjax.data import HostLoader

        source = self.test if n == len(self.test) else _Prefix(self.test, n)
        loader = HostLoader(source, batch_size, seed=0, epoch=0, shuffle=False,
                            drop_remainder=False, process_index=jax.process_index(),
                            process_count=jax.process_count(), num_workers=self._workers(),
                            transform=self.eval_transform)
        for images, labels in loader:
            mask = (labels >= 0).astype(np.float32)
            yield {"image": images, "label": np.maximum(labels, 0), "mask": mask}

    def fixed_images(self, n: int) -> np.ndarray:
        """This process's slice of the first ``n`` test images (the correlation batch)."""
        idx = _local(np.arange(n))
        if not self.streaming:
            return self.test.images[idx]
        return np.stack([self._test_image(int(i)) for i in idx])


def _selection(d) -> dict:
    """The in-memory selection fields of ``config.dataset`` (absent fields = off)."""
    classes = tuple(int(c) for c in (d.get("classes", ()) or ()))
    fraction = float(d.get("train_fraction", 0.0) or 0.0)
    resize = int(d.get("resize", 0) or 0)
    if len(set(classes)) != len(classes) or any(c < 0 for c in classes) or len(classes) == 1:
        raise ValueError(f"dataset.classes must be distinct class ids >= 0 (at least two), "
                         f"got {classes}; () keeps every class.")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"dataset.train_fraction must be in (0, 1] (0 = all), got {fraction}.")
    if resize < 0:
        raise ValueError(f"dataset.resize must be a size in pixels >= 1 (0 = off), got {resize}.")
    return {"classes": classes, "train_fraction": fraction, "resize": resize,
            "fraction_seed": int(d.get("fraction_seed", 0) or 0)}


def _validation_size(d) -> int:
    n = d.get("validation_size", 0) or 0
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"dataset.validation_size must be an integer >= 0 (0 = no "
                         f"validation split), got {n!r}.")
    return n


def hold_out(ds, n: int, *, seed: int):
    """Splits ``ds`` into (the rest, a class-stratified sample of ``n`` examples).

    Each class gives its share of ``n`` in proportion to its size (largest remainders
    round the shares to exactly ``n``), drawn with ``numpy.random.default_rng(seed)``;
    both parts keep the split's order. The draw depends only on the labels and the
    seed, so every run seed and every arm of a study holds out the same images.
    """
    labels = np.asarray(ds.labels)
    total = labels.size
    if not 0 < n < total:
        raise ValueError(f"dataset.validation_size ({n}) must be between 1 and the training "
                         f"split's size minus 1 ({total - 1}); lower it.")
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * (n / total)
    share = np.floor(exact).astype(np.int64)
    extra = n - int(share.sum())
    share[np.argsort(-(exact - share), kind="stable")[:extra]] += 1
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(labels == c), size=int(k), replace=False)
              for c, k in zip(classes, share)]
    val = np.sort(np.concatenate(picked))
    keep = np.ones(total, bool)
    keep[val] = False
    rest = np.flatnonzero(keep)
    return (dataclasses.replace(ds, images=ds.images[rest], labels=ds.labels[rest]),
            dataclasses.replace(ds, images=ds.images[val], labels=ds.labels[val]))


def _select(ds, sel: dict, *, train: bool):
    """Class subset (labels remapped to 0..k-1 in the given order), a class-balanced
    fraction of the training set (fixed by ``fraction_seed``, not by the run's seed, so
    every seed and every arm sees the same images) and a bilinear resize."""
    images, labels, num_classes = ds.images, ds.labels, int(ds.num_classes)
    if sel["classes"]:
        bad = [c for c in sel["classes"] if c >= num_classes]
        if bad:
            raise ValueError(f"dataset.classes {bad} out of range: {ds.name} has "
                             f"{num_classes} classes (ids 0..{num_classes - 1}).")
        lut = np.full(num_classes, -1, np.int64)
        lut[list(sel["classes"])] = np.arange(len(sel["classes"]))
        keep = lut[labels] >= 0
        images, labels = images[keep], lut[labels[keep]].astype(np.int32)
        num_classes = len(sel["classes"])
    if train and 0.0 < sel["train_fraction"] < 1.0:
        rng = np.random.default_rng(sel["fraction_seed"])
        picked = []
        for c in range(num_classes):
            idx = np.flatnonzero(labels == c)
            n = max(1, int(round(sel["train_fraction"] * idx.size)))
            picked.append(np.sort(rng.choice(idx, size=min(n, idx.size), replace=False)))
        order = np.sort(np.concatenate(picked))
        images, labels = images[order], labels[order]
    if sel["resize"] and images.shape[1:3] != (sel["resize"],) * 2:
        from PIL import Image

        size = sel["resize"]
        out = np.empty((images.shape[0], size, size) + images.shape[3:], np.uint8)
        for i, img in enumerate(images):
            sq = img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img
            r = np.asarray(Image.fromarray(sq).resize((size, size), Image.BILINEAR))
            out[i] = r.reshape(out.shape[1:])
        images = out
    if images is ds.images and labels is ds.labels:
        return ds
    names = getattr(ds, "class_names", None)
    if names and sel["classes"]:
        names = [names[c] for c in sel["classes"]]
    return dataclasses.replace(ds, images=images, labels=labels, num_classes=num_classes,
                               class_names=names)


class _Prefix:
    """The first ``n`` examples of a source (``dataset.train_subset`` for streamed data)."""

    def __init__(self, source, n: int):
        self.source, self.n = source, int(n)
        self.num_classes, self.mean, self.std = source.num_classes, source.mean, source.std

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return self.source[i]
