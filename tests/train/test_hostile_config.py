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
    assert [seg["status"] for seg in run["segments"]] == ["failed", "completed"]
    # Once a step is trained, a different config is refused as before.
    with pytest.raises(ValueError, match="different config"):
        train_and_evaluate(tiny_config(max_steps=3, correlation__enabled=False, seed=7),
                           str(work))
    assert os.path.exists(work / "summary.json")


@pytest.mark.parametrize("text,match", [
    ("dataset.name=" + "a" * 100_000, "100,000 characters"),
    ("optimizer.boundaries_epochs=" + "(" * 1000 + ")" * 1000, "nested 1000 deep"),
])
def test_huge_or_deep_override_values_are_refused(text, match):
    from mfdjax.configs import parse_overrides

    with pytest.raises(ValueError, match=match):
        parse_overrides([text])


def test_a_seed_out_of_range_is_named():
    from mfdjax.configs.base import validate_config

    for seed in (10 ** 38, -1):
        cfg = tiny_config()
        cfg.seed = seed
        with pytest.raises(ValueError, match=r"`seed` must be an integer in \[0, 2\*\*31\)"):
            validate_config(cfg)


def test_config_files_that_are_not_python_configs(tmp_path):
    from mfdjax.configs import load_config

    with pytest.raises(ValueError, match="must be a Python file"):
        load_config(str(tmp_path))
    text = tmp_path / "conf.txt"
    text.write_text("x = 1\n")
    with pytest.raises(ValueError, match="must be a Python file"):
        load_config(str(text))
    as_dict = tmp_path / "as_dict.py"
    as_dict.write_text("def get_config():\n    return {'seed': 0}\n")
    with pytest.raises(ValueError, match="returned a dict; it must return an "
                                         "ml_collections.ConfigDict"):
        load_config(str(as_dict))


@pytest.mark.parametrize("field,value,match", [
    ("x", 1, r"`model.kwargs` \['x'\]"),
    ("widths", "abc", "cannot be built"),
])
def test_bad_model_kwargs_are_refused_before_anything_is_written(tmp_path, field, value,
                                                                   match):
    work = tmp_path / "run"
    cfg = tiny_config()
    cfg.model.kwargs[field] = value
    with pytest.raises(ValueError, match=match):
        train_and_evaluate(cfg, str(work))
    assert not work.exists()
