#!/usr/bin/env bash
# The README's test command: sets everything up from nothing, then runs the whole
# suite (slow-marked tests included). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
exec .venv/bin/python -m pytest -n 2 --dist loadfile -q -rs --durations=15 "$@"
