#!/usr/bin/env bash
# The GPU figures of benchmarks/README.md in one run, for a lent GPU machine that has
# jax[cuda], flax, optax, orbax, chex and torch but no network (the device image of
# this workplace has them). ~8 minutes on one H200; every figure goes to $OUT.
#
#   bash benchmarks/gpu_check.sh            # OUT=./gpu_out unless $OUT is set
#
# mfdjax is installed without dependencies; the pure-Python ones the benchmarks import
# and the image may lack (ml-collections, tensorboardX) are taken from a folder of
# wheels when one is carried: pip download --no-deps -d .gpu_wheels ml-collections tensorboardX
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu_out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  $PY -c "import jax, torch; print('jax', jax.__version__, jax.devices()); print('torch', torch.__version__, torch.cuda.get_device_name(0))"
} > "$OUT/machine.txt" 2>&1
if [ -d .gpu_wheels ]; then $PY -m pip install -q --no-index --no-deps .gpu_wheels/*.whl; fi
$PY -m pip install -q --no-deps --no-build-isolation -e . >> "$OUT/machine.txt" 2>&1

run() {  # name, timeout (s), command...
  local name=$1 limit=$2; shift 2
  echo ">> $name: $*" | tee -a "$OUT/log.txt"
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  echo "   rc $? ($(tail -n 1 "$OUT/$name.log"))" | tee -a "$OUT/log.txt"
}
B=benchmarks
# ResNet50-CIFAR, batch 128, float32 and bfloat16, with and without MFD; peak memory.
run r50_f32 150 $PY $B/bench_vs_pytorch.py --device gpu --net resnet50 --batch 128 --rounds 5 --steps 5 --json "$OUT/r50_f32.json"
run r50_bf16 150 $PY $B/bench_vs_pytorch.py --device gpu --net resnet50 --batch 128 --dtype bfloat16 --rounds 5 --steps 5 --json "$OUT/r50_bf16.json"
# The study network.
run default_f32 90 $PY $B/bench_vs_pytorch.py --device gpu --net default --batch 128 --rounds 5 --steps 20 --json "$OUT/default_f32.json"
# The MFD loss alone against its matmul floor.
run mfd_loss 90 $PY $B/bench_mfd_loss.py --device "$(nvidia-smi --query-gpu=name --format=csv,noheader)"
# Packed seeds (vmap over the seed axis) against one run: on a GPU a small network
# leaves the chip idle, so packing is where a study's images/s come from.
run packed 120 env JAX_PLATFORMS=cuda $PY $B/bench_study_throughput.py --packed 2 4 8 --no-side-by-side
ls -l "$OUT"
