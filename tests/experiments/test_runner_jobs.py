"""The runner with --jobs 2: runs in pinned workers, recorded as a solo run records them,
and each reproduces bit for bit from its recorded command."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap

import pytest

from mfdjax.train.parallel import available_cores

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent('''
    import sys
    sys.path.insert(0, {experiments!r})
    from _runner import Comparison, Experiment, Row, main
    O = ("dataset.train_subset=256", "dataset.test_subset=100", "max_steps=6",
         "batch_size=32", "model.name=resnet_mini", "checkpoint.every_steps=0",
         "progress_bar=False", "correlation.batch_size=64", "eval_batch_size=100",
         "log_every_steps=3", "num_epochs=1", "prng_impl=rbg")
    ROWS = [Row("a", "default:softmax", "t", "r", "softmax", overrides=O),
            Row("b", "default:softmax_mfd", "t", "r", "mfd", overrides=O)]
    EXPERIMENT = Experiment(title="tiny", script="tiny_study.py", rows=ROWS,
                            comparisons=[Comparison("t", "a", "b", claim="b beats a")])
    if __name__ == "__main__":
        raise SystemExit(main(EXPERIMENT))
''')


@pytest.mark.slow
@pytest.mark.multiprocess
@pytest.mark.skipif(len(available_cores()) < 2, reason="needs two cores")
def test_jobs_two_trains_in_pinned_workers_and_each_run_reproduces(tmp_path):
    script = tmp_path / "tiny_study.py"
    script.write_text(SCRIPT.format(experiments=os.path.join(ROOT, "experiments")))
    work = tmp_path / "w"
    env = dict(os.environ)
    env.pop("MFDJAX_COMPILE_CACHE", None)        # the study's own cache, per core count
    cmd = [sys.executable, str(script), "--seeds", "2", "--jobs", "2", "--workdir", str(work)]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "4 runs, 2 at a time" in out.stdout
    assert os.listdir(work / ".compile_cache" / "1cores")     # seed 1 reused seed 0's program
    res = json.loads((work / "results.json").read_text())
    runs = {r["label"]: r["runs"][1] for r in res["rows"]}   # seed 1: compiled from cache
    assert all(r["status"] == "done" and r["cores"] == 1 for r in runs.values())
    assert {r["command"].split()[2] for r in runs.values()} == set(
        str(c) for c in available_cores()[:2])           # one core each, both cores used
    assert len(res["comparisons"]) == 1 and res["comparisons"][0]["n_a"] == 2

    # The recorded command (taskset included), run fresh without any cache, gives the
    # same run bit for bit.
    rec = runs["b"]
    argv = shlex.split(rec["command"])
    assert argv[:3] == ["taskset", "-c", argv[2]] and argv[3] == "mfdjax"
    i = argv.index("--workdir")
    argv[i + 1] = str(tmp_path / "again")
    mfdjax = os.path.join(os.path.dirname(sys.executable), "mfdjax")
    again = subprocess.run(argv[:3] + [mfdjax] + argv[4:], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    first = json.loads((work / "b" / "seed1" / "summary.json").read_text())
    second = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert second["param_checksum"] == first["param_checksum"]
    assert second["final"]["test/accuracy"] == first["final"]["test/accuracy"]

    # A second invocation finds both runs finished and trains nothing.
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0 and "at a time" not in out.stdout
