"""Hypothesis profiles for the loss tests.

* ``ci`` (default): few, derandomised examples per property, so the property
  tests of this directory stay within about 90 s on a 2-core CI machine and give
  the same cases on every run.
* ``long``: many random examples, for a manual run::

      HYPOTHESIS_PROFILE=long python -m pytest tests/losses/test_properties.py

``HYPOTHESIS_MAX_EXAMPLES=N`` on top of either gives N random examples (a
time-boxed run). The number of examples of each property is ``max_examples`` of
the active profile times the property's own weight (``_weighted`` in
``test_properties.py``).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.filter_too_much])

settings.register_profile("ci", max_examples=2, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=300, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
if os.environ.get("HYPOTHESIS_MAX_EXAMPLES"):  # e.g. a time-boxed random run
    settings.register_profile("custom", settings(), max_examples=int(
        os.environ["HYPOTHESIS_MAX_EXAMPLES"]), derandomize=False)
    settings.load_profile("custom")
