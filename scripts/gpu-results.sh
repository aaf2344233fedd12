#!/usr/bin/env bash
# The book's GPU results, in one go, into a folder (default: data/results):
#   1. vidbook bench --suite          -> bench-<gpu>.json  (the zoo at published scale: clips/s,
#                                        TFLOP/s, MFU, memory; rendering; the speed-up ladder;
#                                        torchvision's r3d_18 / r2plus1d_18 beside ours if installed)
#   2. vidbook train of the flagships -> train-<model>-<gpu>.json  (16 x 112 x 112 SynthActions,
#                                        test accuracy, time to 95 % validation accuracy, clips/s)
# Chapter 10 renders whatever of these files data/results holds.
#
# Usage: scripts/gpu-results.sh [OUT_DIR] [MODEL ...]     (PYTHON=... to choose the interpreter)
#        SMOKE=1 scripts/gpu-results.sh OUT_DIR [MODEL ...]
# Needs only torch, numpy and tqdm besides the repository: it runs from the source tree.
# OUT_DIR is taken relative to the folder the script is called from.
#
# Smoke mode (SMOKE=1) runs the very same two command lines at toy sizes, on any device, the
# CPU included (a minute or so): the suite as VIDBOOK_SUITE=smoke (vidbook.bench.SUITES)
# and training on 4 x 16 x 16 clips of tiny models for one epoch. Its numbers mean nothing; it
# checks that the script and its flags work before a GPU is spent on them (tests/
# test_gpu_script.py runs it). It needs an OUT_DIR and refuses data/results, so that its files,
# named as the real ones (bench-cpu.json there), never stand in for measured results.
# Other knobs: EPOCHS=... (training epochs), SKIP_BENCH=1 (training only).
set -euo pipefail
out=${1:-}
if [ -n "$out" ] && [ "${out#/}" = "$out" ]; then out=$PWD/$out; fi
shift || true
cd "$(dirname "${BASH_SOURCE[0]}")/.."
smoke=${SMOKE:-}
if [ "$smoke" = 0 ]; then smoke=; fi
if [ -n "$smoke" ] && [ -z "$out" ]; then
  echo "scripts/gpu-results.sh: SMOKE=1 needs an OUT_DIR (its files must not land in data/results)" >&2
  exit 2
fi
out=${out:-data/results}
models=("$@")
if ((${#models[@]} == 0)); then models=(r2plus1d_18 frame_cnn vivit timesformer); fi
py=${PYTHON:-python3}
mkdir -p "$out"
if [ -n "$smoke" ] && [ -d data/results ] && [ "$(cd "$out" && pwd -P)" = "$(cd data/results && pwd -P)" ]; then
  echo "scripts/gpu-results.sh: SMOKE=1 must not write into data/results; give another OUT_DIR" >&2
  exit 2
fi

# The sizes, and nothing else, differ between the real run and the smoke run.
if [ -n "$smoke" ]; then
  suite=smoke                                  # vidbook.bench.SUITES["smoke"]: toy sizes
  bench_seconds=0.01 bench_steps=1
  variant=tiny frames=4 height=16 width=16
  train_size=32 val_size=16 test_size=16
  epochs=${EPOCHS:-1} batch_size=8
  runs_dir=$(mktemp -d "${TMPDIR:-/tmp}/vidbook-smoke-runs.XXXXXX")
  trap 'rm -rf "$runs_dir"' EXIT
else
  suite=cuda                                   # vidbook.bench.SUITES["cuda"]: published scale
  bench_seconds=3 bench_steps=10
  variant=base frames=16 height=112 width=112
  train_size=20000 val_size=2000 test_size=4000
  epochs=${EPOCHS:-12} batch_size=64
  runs_dir=/tmp/vidbook-runs
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 VIDBOOK_PROFILE=full
export VIDBOOK_SUITE=$suite

slug=$("$py" -c 'import vidbook.bench as b, vidbook.runtime as r; print(b.device_slug(r.resolve_device()))')
if [ "$slug" = cpu ] && [ -z "$smoke" ]; then
  echo "scripts/gpu-results.sh: torch sees no GPU here; use 'make bench' for the CPU suite" \
    "(or SMOKE=1 with an OUT_DIR to check this script)" >&2
  exit 2
fi
if [ -n "$smoke" ]; then
  echo "scripts/gpu-results.sh: smoke run on $slug into $out (toy sizes: not results)" >&2
fi

if [ -z "${SKIP_BENCH:-}" ]; then
  "$py" -m vidbook bench --suite --out-dir "$out" --seconds "$bench_seconds" --steps "$bench_steps"
fi

# One recipe per family: AdamW with warm-up and cosine decay; the transformers, trained from
# scratch, take a lower peak learning rate and label smoothing is not used anywhere.
for model in "${models[@]}"; do
  case $model in
    timesformer|vivit) lr=3e-4 ;;
    *) lr=2e-3 ;;
  esac
  "$py" -m vidbook train --model "$model" --variant "$variant" --data synth \
    --frames "$frames" --height "$height" --width "$width" --train-size "$train_size" \
    --val-size "$val_size" --test-size "$test_size" \
    --epochs "$epochs" --batch-size "$batch_size" --lr "$lr" --weight-decay 0.05 \
    --check-every 50 --progress off --checkpoint-dir "$runs_dir/$model" \
    --target 0.95 --out "$out/train-$model-$slug.json"
done
