"""The command line: the default comparison on a tiny slice, eval, correlations, info."""

from __future__ import annotations

import json
import os

import jax
import pytest

from mfdjax import cli
from tests.train import _tiny  # noqa: F401  (registers the tiny model)


@pytest.mark.slow
def test_train_default_tiny_writes_reports(tmp_path, capsys, compile_cache):
    workdir = tmp_path / "default"
    # --jobs 1: the tiny model is registered in this process only.
    rc = cli.main(["train", "--config", "default", "--workdir", str(workdir), "--jobs", "1",
                   f"model.name={_tiny.NAME}", "model.stem=", "prng_impl=rbg",
                   "dataset.train_subset=256", "dataset.test_subset=128", "batch_size=64",
                   "num_epochs=1", "log_every_steps=2", "correlation.batch_size=64",
                   "progress_bar=False", "checkpoint.async_save=False"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "comparison report:" in out
    assert "| run | final top-1 (%) | best top-1 (%) |" in out   # the results table
    report = (workdir / "report.md").read_text()
    assert "softmax_mfd" in report and "| softmax |" in report
    assert "| run | stage0 | stage1 |" in report                 # maps by name
    assert "Multi-stage feature decorrelation constraints" in report and ".txt" not in report
    assert (workdir / "comparison_curves.png").stat().st_size > 1000
    assert (workdir / "comparison_correlations.png").stat().st_size > 1000
    for name, weight in (("softmax", 0.0), ("softmax_mfd", 1.0)):
        run = workdir / name
        for f in ("report.md", "curves.png", "correlations.png", "summary.json",
                  "metrics.jsonl", "config.json"):
            assert (run / f).exists(), f
        summary = json.loads((run / "summary.json").read_text())
        assert summary["mfd_weight"] == weight and summary["steps"] == 4
        assert 0.0 <= summary["final"]["test/accuracy"] <= 1.0
        assert "correlation/1" in summary["final"]
        rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        assert any("train/loss" in r for r in rows) and any("test/accuracy" in r for r in rows)
        events = [f for f in os.listdir(run / "tb") if f.startswith("events.out.tfevents")]
        assert events and (run / "tb" / events[0]).stat().st_size > 100

    run = str(workdir / "softmax_mfd")
    assert cli.main(["eval", "--workdir", run]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["step"] == 4
    assert res["test/accuracy"] == pytest.approx(
        json.loads((workdir / "softmax_mfd" / "summary.json").read_text())["final"]
        ["test/accuracy"])
    # A comparison directory: every sub-run, by name.
    assert cli.main(["eval", "--workdir", str(workdir)]) == 0
    both = json.loads(capsys.readouterr().out)
    assert set(both) == {"softmax", "softmax_mfd"} and both["softmax_mfd"]["step"] == 4
    assert cli.main(["correlations", "--workdir", run, "--batch-size", "64"]) == 0
    out = capsys.readouterr().out
    assert "mean |correlation|" in out and out.count("|") > 6
    assert "| stage0 | stage1 |" in out

    os.remove(workdir / "report.md")
    assert cli.main(["report", "--workdir", str(workdir)]) == 0
    assert "softmax_mfd" in (workdir / "report.md").read_text()


def test_info_prints_devices_and_parameter_count(capsys):
    assert cli.main(["info", "--config", "default"]) == 0
    out = capsys.readouterr().out
    assert f"devices {jax.device_count()}" in out
    assert "resnet_cifar_small" in out
    n = int(out.split("parameters: ")[1].split()[0].replace(",", ""))
    assert 100_000 < n < 2_000_000


def test_jobs_auto_trains_comparison_runs_in_workers_without_progress_bars(
        tmp_path, capsys, monkeypatch):
    from mfdjax.train import parallel

    calls = {}

    def fake_run_all(fn, tasks, *, jobs, on_done=None):
        calls.update(fn=fn, tasks=tasks, jobs=jobs)
        return [None] * len(tasks)

    monkeypatch.setattr(parallel, "run_all", fake_run_all)
    monkeypatch.setattr(parallel, "default_jobs", lambda n: min(n, 2))
    cli.main(["train", "--config", "default", "--workdir", str(tmp_path / "d")])
    assert calls["fn"] is cli._train_task and calls["jobs"] == 2
    assert [t[0] for t in calls["tasks"]] == ["default", "default"]
    assert [t[2] for t in calls["tasks"]] == [str(tmp_path / "d" / n)
                                              for n in ("softmax", "softmax_mfd")]
    assert all(t[1].progress_bar is False for t in calls["tasks"])
    assert [t[1].mfd.weight for t in calls["tasks"]] == [0.0, 1.0]
    calls.clear()
    cli.main(["train", "--config", "default", "--workdir", str(tmp_path / "e"), "--jobs", "1"])
    assert calls["jobs"] == 1 and calls["tasks"][0][1].progress_bar is True


def test_jobs_must_be_auto_or_a_positive_integer(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "--config", "default", "--jobs", "0"])
    assert e.value.code == 2
    assert "`jobs` must be 'auto' or an integer >= 1" in capsys.readouterr().err


def test_unknown_comparison_variant_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["train", "--config", "default", "--workdir", str(tmp_path),
                     "--only", "nope"]) == 2
    assert "unknown variants" in capsys.readouterr().err


def test_bad_override_is_a_clear_error(capsys):
    assert cli.main(["info", "--config", "default", "no_such_field=1"]) == 2
    assert "no field" in capsys.readouterr().err


@pytest.mark.slow
def test_compare_two_configs_writes_one_report(tmp_path, capsys, compile_cache):
    """`mfdjax compare`: a plain config and a comparison config -> every run in one report."""
    path = os.path.join(os.path.dirname(__file__), "tiny_config.py")
    workdir = tmp_path / "cmp"
    rc = cli.main(["compare", "--configs", f"{path},{path}:compare", "--workdir", str(workdir),
                   "--jobs", "1", "max_steps=2", "progress_bar=False", "checkpoint.async_save=False"])
    assert rc == 0
    assert "comparison report:" in capsys.readouterr().out
    report = (workdir / "report.md").read_text()
    runs = sorted(p.name for p in workdir.iterdir() if (p / "summary.json").exists())
    assert len(runs) == 3, runs
    assert any(r.endswith("_softmax") for r in runs) and any(r.endswith("_softmax_mfd")
                                                            for r in runs)
    for r in runs:
        assert r in report
        assert json.loads((workdir / r / "summary.json").read_text())["steps"] == 2
    # One config is not a comparison: a clear error, exit status 2.
    assert cli.main(["compare", "--configs", path, "--workdir", str(tmp_path / "x")]) == 2
    assert "--configs" in capsys.readouterr().err
