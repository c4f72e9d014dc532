"""Table VII helpers of the MFD scripts: epoch time from a run's log, the ratio section."""

from __future__ import annotations

import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "experiments"))

import _mfd_tools  # noqa: E402


def _run(tmp_path, windows):
    (tmp_path / "config.json").write_text(json.dumps({"batch_size": 100}))
    (tmp_path / "summary.json").write_text(json.dumps({"steps_per_epoch": 50}))
    rows = []
    for i, ips in enumerate(windows):
        rows.append({"step": 10 * (i + 1), "train/loss": 1.0, "train/images_per_sec": ips})
        if i == 2:   # an evaluation row between windows carries no training speed
            rows.append({"step": 30, "test/accuracy": 0.5})
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(tmp_path)


def test_epoch_time_is_the_median_step_after_the_compiling_window(tmp_path):
    # 100 images per step: 10 img/s -> 10 s/step (compilation), then 0.5, 0.4, 2.0 (a
    # window holding an evaluation), 0.5 s per step: median 0.5 s, x 50 steps = 25 s.
    out = _mfd_tools.epoch_seconds_from_log(_run(tmp_path, [10.0, 200.0, 250.0, 50.0, 200.0]))
    assert out["step_ms"] == pytest.approx(500.0)
    assert out["epoch_seconds"] == pytest.approx(25.0)
    assert out["timing_windows"] == 4


def test_ratio_section_puts_ours_beside_the_papers():
    res = {"rows": [
        {"label": "s", "metric": "epoch_seconds", "values": [10.0, 12.0],
         "extra": {"peak_mib": {"values": [100.0]}}},
        {"label": "m", "metric": "epoch_seconds", "values": [16.5, 16.5],
         "extra": {"peak_mib": {"values": [110.0]}}},
        {"label": "s2", "metric": "epoch_seconds", "values": [], "extra": {}}]}
    section = _mfd_tools.ratio_section(
        "T", [("net A", "s", "m"), ("net B", "s2", "missing")],
        [("epoch_seconds", "time"), ("peak_mib", "memory")],
        {("net A", "epoch_seconds"): 52.17})
    text = section(res)
    assert "| net A | +50.0 % | +52.17 % | +10.0 % | n/a |" in text
    assert "| net B | – | n/a | – | n/a |" in text
