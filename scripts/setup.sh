#!/usr/bin/env bash
# Idempotent set-up shared by the README's two commands: Debian's Fashion-MNIST
# (the default real dataset) and a virtual environment in .venv with mfdjax
# installed. Usage: scripts/setup.sh [pip extra, e.g. test]
set -euo pipefail
cd "$(dirname "$0")/.."

extra="${1:-}"
if [ ! -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ]; then
  echo "[setup] installing Debian's dataset-fashion-mnist" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv" >&2
  python3 -m venv .venv
fi
spec="."
[ -n "$extra" ] && spec=".[$extra]"
echo "[setup] pip install -e '$spec' (first run downloads ~1 GB of wheels)" >&2
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e "$spec"
