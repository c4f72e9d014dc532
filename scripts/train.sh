#!/usr/bin/env bash
# The README's main command: Softmax vs Softmax + MFD on Fashion-MNIST, side by side.
#
#   scripts/train.sh [extra `mfdjax train` arguments, e.g. num_epochs=1]
#
# Idempotent, from a fresh clone on a fresh Debian/Ubuntu machine: scripts/setup.sh
# installs Debian's dataset-fashion-mnist and creates .venv with mfdjax in it; then
# `mfdjax train --config default` trains both runs into runs/default (an interrupted
# run resumes from its last checkpoint) and writes the comparison report.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
workdir="${MFDJAX_WORKDIR:-runs/default}"
echo ">> training (softmax vs softmax + MFD) into $workdir"
.venv/bin/mfdjax train --config default --workdir "$workdir" "$@"
echo ">> report: $(pwd)/$workdir/report.md"
