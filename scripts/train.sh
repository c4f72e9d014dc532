#!/usr/bin/env bash
# The main job: Softmax vs Softmax + MFD on Fashion-MNIST, side by side.
#
#   scripts/train.sh [extra mfdjax train arguments, e.g. num_epochs=1]
#
# Idempotent, from a fresh clone on a fresh Debian/Ubuntu machine:
#   1. installs Debian's dataset-fashion-mnist if /usr/share/datasets/fashion-mnist is missing;
#   2. creates .venv if missing and installs this package into it (pip install -e .);
#   3. runs `mfdjax train --config default` into runs/default (resumes if interrupted);
#   4. prints where the report is.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DATA_DIR=/usr/share/datasets/fashion-mnist
WORKDIR="${MFDJAX_WORKDIR:-runs/default}"

if [ ! -d "$DATA_DIR" ]; then
  echo ">> installing dataset-fashion-mnist (Debian package)"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update
  $SUDO apt-get install -y dataset-fashion-mnist
fi

if [ ! -x .venv/bin/python ]; then
  echo ">> creating .venv"
  python3 -m venv .venv
fi
echo ">> installing mfdjax into .venv"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .

echo ">> training (softmax vs softmax + MFD) into $WORKDIR"
.venv/bin/mfdjax train --config default --workdir "$WORKDIR" "$@"
echo ">> report: $ROOT/$WORKDIR/report.md"
