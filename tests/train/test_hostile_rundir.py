"""Run directories received from elsewhere: nothing is ever written through a symbolic
link, and a directory whose entries point outside it is refused (exit 2, one line)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mfdjax.train.rundir import RunDir, UnsafeRunDir, atomic_write, check_no_outside_links

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "tests", "train", "tiny_config.py")


def _victim(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    return victim


def test_atomic_write_replaces_a_link_instead_of_writing_through_it(tmp_path):
    victim = _victim(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / "report.md").symlink_to(victim)
    atomic_write(str(run / "report.md"), "new")
    assert victim.read_text() == "precious"
    assert not os.path.islink(run / "report.md") and (run / "report.md").read_text() == "new"
    atomic_write(str(run / "curves.png"), b"\x89PNG")
    assert (run / "curves.png").read_bytes() == b"\x89PNG"
    assert sorted(os.listdir(run)) == ["curves.png", "report.md"]   # no temporary left


def test_planted_lock_link_is_refused_and_its_target_untouched(tmp_path):
    victim = _victim(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").symlink_to(victim)
    with pytest.raises(UnsafeRunDir, match="outside the run directory"):
        RunDir(str(run)).acquire()
    # A link to a file inside is no better for a lock: still refused, by O_NOFOLLOW.
    (run / ".lock").unlink()
    (run / "inside").write_text("x")
    (run / ".lock").symlink_to(run / "inside")
    with pytest.raises(UnsafeRunDir, match="plain file"):
        RunDir(str(run)).acquire()
    assert victim.read_text() == "precious" and (run / "inside").read_text() == "x"


def test_links_inside_are_allowed_outside_refused(tmp_path):
    run = tmp_path / "run"
    (run / "sub").mkdir(parents=True)
    (run / "a").write_text("x")
    (run / "sub" / "b").symlink_to(run / "a")
    check_no_outside_links(str(run))
    (run / "sub" / "tb").symlink_to(tmp_path)
    with pytest.raises(UnsafeRunDir, match=r"sub/tb"):
        check_no_outside_links(str(run))


@pytest.mark.slow
def test_cli_refuses_a_run_with_planted_links(tmp_path):
    """A finished run whose report.md and .lock were replaced by links (a tarball from
    someone else): `mfdjax report` and a resumed `mfdjax train` exit 2 and write nothing."""
    run = tmp_path / "run"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    base = [sys.executable, "-m", "mfdjax.cli"]
    train = base + ["train", "--config", CONFIG, "--workdir", str(run), "num_epochs=1",
                    "max_steps=4", "correlation.enabled=False", "checkpoint.async_save=False"]
    done = subprocess.run(train, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    victim = _victim(tmp_path)
    (run / "report.md").unlink()
    (run / "report.md").symlink_to(victim)
    for cmd in (base + ["report", "--workdir", str(run)], train):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert "outside the run directory" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert victim.read_text() == "precious"
