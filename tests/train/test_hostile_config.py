"""Config mistakes are caught before anything is written, and a run directory whose
attempts never trained a step can be started again with a corrected config."""

from __future__ import annotations

import json
import os

import pytest

from mfdjax.train.loop import train_and_evaluate
from tests.train._tiny import tiny_config


@pytest.mark.parametrize("overrides,match", [
    ({"loss__name": "am_softmax", "model__head": "cosine", "loss__kwargs__margn": 0.2},
     r"\['margn'\].*takes \[.*'margin'"),
    ({"loss__name": "am_softmax", "model__head": "cosine", "loss__kwargs__margin": "abc"},
     "`margin` must be a number"),
    ({"loss__name": "arcface", "model__head": "cosine", "loss__kwargs__margin": 9.0},
     r"`margin` must be finite and >= 0.0 and < 3.14"),
    ({"loss__name": "softmax", "loss__kwargs__scale": 3.0}, "takes no `loss.kwargs`"),
    ({"loss__name": "l_softmax", "loss__kwargs__margin": 0,
      "model__head_kwargs__use_bias": False}, "margin"),
])
def test_bad_loss_kwargs_are_refused_before_anything_is_written(tmp_path, overrides, match):
    work = tmp_path / "run"
    with pytest.raises(ValueError, match=match):
        train_and_evaluate(tiny_config(**overrides), str(work))
    assert not work.exists()


def test_a_directory_with_no_trained_step_starts_again_with_a_corrected_config(tmp_path):
    work = tmp_path / "run"
    work.mkdir()
    # What a first attempt leaves when it dies at step 0: its config and a failed segment.
    old = tiny_config(loss__name="am_softmax", model__head="cosine")
    (work / "config.json").write_text(old.to_json_best_effort())
    (work / "run.json").write_text(json.dumps({"segments": [
        {"start_step": 0, "end_step": 0, "status": "failed", "wall_seconds": 1.0,
         "changes": []}]}))
    fixed = tiny_config(max_steps=3, correlation__enabled=False)
    summary = train_and_evaluate(fixed, str(work))
    assert summary["steps"] == 3 and summary["loss"] == "softmax"
    run = json.loads((work / "run.json").read_text())
    assert [seg["status"] for seg in run["segments"]] == ["completed"]
    # Once a step is trained, a different config is refused as before.
    with pytest.raises(ValueError, match="different config"):
        train_and_evaluate(tiny_config(max_steps=3, correlation__enabled=False, seed=7),
                           str(work))
    assert os.path.exists(work / "summary.json")
