"""Image folders: ``data_dir/<split>/<class>/**/<image>``, decoded with PIL."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from mfdjax.data.sources.common import (CorruptDatasetError, DatasetNotFoundError,
                                        _channel_tuple, _sampled_stats)


_IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".ppm", ".pgm")


def _size_pair(image_size) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if isinstance(image_size, (int, np.integer)):
        return int(image_size), int(image_size)
    h, w = image_size
    return int(h), int(w)


class ImageFolderSource:
    """Random-access source over ``data_dir/<split>/<class>/**/<image>`` (decoded with PIL).

    Classes are the sorted sub-folder names of ``data_dir/train`` when it exists
    (so train and test share one label order even if a test folder lacks a
    class), else of ``data_dir/<split>``; ``classes=`` overrides. Files are
    sorted within a class. ``image_size`` (int or (H, W)) resizes with bilinear
    filtering; ``mode`` is a PIL mode ("RGB" or "L").

    Images may sit at any depth below the class folder (Tiny ImageNet's
    ``train/<wnid>/images/*.JPEG``). A split folder holding ``images/`` and
    ``<split>_annotations.txt`` (Tiny ImageNet's ``val/``: tab-separated file
    name, class id, box) is read through the annotations.
    """

    def __init__(self, data_dir, split: str, *, image_size=None, mode: str = "RGB",
                 classes: Sequence[str] | None = None, mean=None, std=None,
                 name: str = "image_folder", stats_sample: int = 2000):
        if data_dir is None:
            raise DatasetNotFoundError(
                "image_folder: data_dir is required: a folder with <split>/<class>/*.png|jpg "
                "(e.g. data_dir/train/cat/0001.png).")
        if mode not in ("RGB", "L"):
            raise ValueError(f"image_folder: mode must be 'RGB' or 'L', got {mode!r}.")
        self.root = Path(data_dir)
        split_dir = self.root / split
        if not split_dir.is_dir():
            raise DatasetNotFoundError(
                f"image_folder: {split_dir} does not exist; expected data_dir/<split>/<class>/"
                "<image> (e.g. data_dir/train/cat/0001.png).")
        # Tiny ImageNet's val/ layout: val/images/*.JPEG + val/val_annotations.txt
        # (tab-separated: file name, class id, box).
        annotations = split_dir / f"{split}_annotations.txt"
        annotated = annotations.is_file() and (split_dir / "images").is_dir()
        pairs: list[tuple[Path, str]] = []
        if annotated:
            for line in annotations.read_text().splitlines():
                parts = line.split("\t")
                if len(parts) >= 2:
                    pairs.append((split_dir / "images" / parts[0], parts[1]))
        if classes is None:
            if (self.root / "train").is_dir():
                ref = self.root / "train"
                classes = sorted(p.name for p in ref.iterdir() if p.is_dir())
            elif annotated:
                classes = sorted({c for _, c in pairs})
            else:
                classes = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
        self.class_names = tuple(classes)
        if not self.class_names:
            raise DatasetNotFoundError(f"image_folder: no class folders in {split_dir}.")
        index = {c: i for i, c in enumerate(self.class_names)}
        if not annotated:
            # data_dir/<split>/<class>/**/<image>, any depth (Tiny ImageNet's train/<wnid>/images)
            for c in sorted(p.name for p in split_dir.iterdir() if p.is_dir()):
                for f in sorted((split_dir / c).rglob("*")):
                    if f.suffix.lower() in _IMAGE_EXTS and f.is_file():
                        pairs.append((f, c))
        files, labels = [], []
        for f, c in sorted(pairs, key=lambda fc: (index.get(fc[1], -1), str(fc[0]))):
            if c not in index:
                raise CorruptDatasetError(
                    f"image_folder: class {c!r} of {f} is not among the training classes "
                    f"{list(self.class_names)[:10]}{'...' if len(self.class_names) > 10 else ''}.")
            files.append(f)
            labels.append(index[c])
        if not files:
            raise DatasetNotFoundError(f"image_folder: no images ({', '.join(_IMAGE_EXTS)}) "
                                       f"under {split_dir}/<class>/.")
        self.files = files
        self.labels = np.asarray(labels, dtype=np.int32)
        self.num_classes = len(self.class_names)
        self.name = name
        self.split = split
        self.mode = mode
        self.image_size = _size_pair(image_size)
        if mean is None or std is None:
            stats_src = self
            if split != "train" and (self.root / "train").is_dir():
                stats_src = ImageFolderSource(self.root, "train", image_size=image_size,
                                              mode=mode, classes=self.class_names,
                                              mean=0.0, std=1.0, name=name)
            m, s = _sampled_stats(stats_src, stats_sample)
            mean = m if mean is None else mean
            std = s if std is None else std
        channels = 3 if mode == "RGB" else 1
        self.mean = _channel_tuple(mean, "mean", channels)
        self.std = _channel_tuple(std, "std", channels)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        from PIL import Image, UnidentifiedImageError

        path = self.files[int(index)]
        try:
            with Image.open(path) as im:
                im = im.convert(self.mode)
                if self.image_size is not None and im.size != self.image_size[::-1]:
                    im = im.resize(self.image_size[::-1], Image.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
        except (UnidentifiedImageError, OSError) as err:
            raise CorruptDatasetError(f"{path}: cannot decode image ({err}).") from err
        if arr.ndim == 2:
            arr = arr[..., None]
        return arr, int(self.labels[int(index)])
