"""A config FILE for the CLI / subprocess tests: the tiny CNN on a digits slice.

Used as ``mfdjax train --config tests/train/tiny_config.py`` (registers the
tiny test model on import).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests.train._tiny import tiny_config  # noqa: E402


def get_config(arg=None):
    c = tiny_config()
    if arg == "compare":
        c.comparison.softmax = "mfd.weight=0.0"
        c.comparison.softmax_mfd = "mfd.weight=1.0"
    return c
