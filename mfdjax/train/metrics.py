"""Metric sinks: a JSONL log and TensorBoard event files (process 0 only).

One job: write scalars. ``MetricWriter.write(step, {"train/loss": ..., ...})``
appends one JSON object per call to ``metrics.jsonl`` (``{"step": s, name:
value, ...}``) and the same scalars to TensorBoard (tensorboardX
``SummaryWriter`` in ``tb/``). :func:`read_jsonl` reads the log back (for the
report). In a multi-process run only process 0 writes.
"""

from __future__ import annotations

import json
import logging
import math
import os
from typing import Any, Mapping

import jax
import numpy as np

__all__ = ["MetricWriter", "read_jsonl", "to_python"]


def to_python(value: Any) -> Any:
    """Scalars (NumPy/JAX) -> float/int; arrays -> lists; NaN/inf kept as strings."""
    if isinstance(value, Mapping):
        return {k: to_python(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_python(v) for v in value]
    if hasattr(value, "shape") or isinstance(value, (np.generic,)):
        arr = np.asarray(jax.device_get(value))
        if arr.ndim == 0:
            value = arr.item()
        else:
            return [to_python(v) for v in arr.tolist()]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class MetricWriter:
    """JSONL + TensorBoard scalar writer for one run directory."""

    def __init__(self, workdir: str, *, tensorboard: bool = True):
        self.active = jax.process_index() == 0
        self.path = os.path.join(workdir, "metrics.jsonl")
        self._tb = None
        if self.active:
            os.makedirs(workdir, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")
            if tensorboard:
                from tensorboardX import SummaryWriter

                self._tb = SummaryWriter(os.path.join(workdir, "tb"))

    def write(self, step: int, scalars: Mapping[str, Any]) -> None:
        if not self.active:
            return
        row = {"step": int(step)}
        row.update({k: to_python(v) for k, v in scalars.items()})
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        if self._tb is not None:
            for k, v in row.items():
                if (k not in ("step", "window_steps") and isinstance(v, (int, float))
                        and not isinstance(v, bool)):
                    self._tb.add_scalar(k, v, int(step))
            self._tb.flush()

    def close(self) -> None:
        if self.active:
            self._file.close()
            if self._tb is not None:
                self._tb.close()


def read_jsonl(path: str) -> list[dict]:
    """All rows of a metrics.jsonl (empty list if the file is missing).

    A line that is not a JSON object (a crash in the middle of a write leaves a
    torn last line) is skipped with a one-line warning.
    """
    if not os.path.exists(path):
        return []
    rows = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            if not isinstance(row, dict) or not isinstance(row.get("step"), int):
                logging.getLogger(__name__).warning(
                    "%s line %d is not a complete metrics row (a torn write?); skipped",
                    path, n)
                continue
            rows.append(row)
    return rows
