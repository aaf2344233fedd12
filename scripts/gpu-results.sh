#!/usr/bin/env bash
# The book's GPU results, in one go, into a folder (default: data/results):
#   1. vidbook bench --suite          -> bench-<gpu>.json  (the zoo at published scale: clips/s,
#                                        TFLOP/s, MFU, memory; rendering; the speed-up ladder;
#                                        torchvision's r3d_18 / r2plus1d_18 beside ours if installed)
#   2. vidbook train of the flagships -> train-<model>-<gpu>.json  (16 x 112 x 112 SynthActions,
#                                        test accuracy, time to 95 % validation accuracy, clips/s)
# Chapter 7 renders whatever of these files data/results holds.
#
# Usage: scripts/gpu-results.sh [OUT_DIR] [MODEL ...]     (PYTHON=... to choose the interpreter)
# Needs only torch, numpy and tqdm besides the repository: it runs from the source tree.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:-data/results}
shift || true
models=("$@")
if ((${#models[@]} == 0)); then models=(r2plus1d_18 frame_cnn vivit timesformer); fi
py=${PYTHON:-python3}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 VIDBOOK_PROFILE=full
mkdir -p "$out"
slug=$("$py" -c 'from vidbook.bench import device_slug, resolve_device; print(device_slug(resolve_device()))')
if [ "$slug" = cpu ]; then
  echo "scripts/gpu-results.sh: torch sees no GPU here; use 'make bench' for the CPU suite" >&2
  exit 2
fi

if [ -z "${SKIP_BENCH:-}" ]; then
  "$py" -m vidbook bench --suite --out-dir "$out"
fi

# One recipe per family: AdamW with warm-up and cosine decay; the transformers, trained from
# scratch, take a lower peak learning rate and label smoothing is not used anywhere.
for model in "${models[@]}"; do
  case $model in
    timesformer|vivit) lr=3e-4 ;;
    *) lr=2e-3 ;;
  esac
  "$py" -m vidbook train --model "$model" --variant base --data synth \
    --frames 16 --height 112 --width 112 --train-size 20000 --val-size 2000 --test-size 4000 \
    --epochs "${EPOCHS:-12}" --batch-size 64 --lr "$lr" --weight-decay 0.05 \
    --check-every 50 --progress off --checkpoint-dir "/tmp/vidbook-runs/$model" \
    --target 0.95 --out "$out/train-$model-$slug.json"
done
