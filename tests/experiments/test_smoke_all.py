"""Every experiments/ script is covered by one of the per-paper smoke test files."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from smoke_common import SCRIPTS, scripts  # noqa: E402


def test_every_script_has_a_smoke_test():
    covered = set(scripts("mfd_", "fmnist_mfd_", "fmnist_convergence", "pod_", "fmnist_pod_", "w_softmax_", "fmnist_w_"))
    assert covered == set(SCRIPTS), sorted(set(SCRIPTS) - covered)
