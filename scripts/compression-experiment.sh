#!/usr/bin/env bash
# Reproduces the compression results table in the README: two model sizes pretrained on the
# bundled corpora, finetuned on the Brown genre task, then compressed at 5 sparsities × 4 bit
# widths, every setting written as a real file and scored on the test split.
# Usage: bash scripts/compression-experiment.sh [out-dir]   (about 30 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-experiments/compression}"
TLC="node dist/src/cli/main.js"
mkdir -p "$OUT"
[ -f "$OUT/data/data.json" ] || $TLC data prepare --input example:sotu --input example:brown --exclude-test-of example:brown-genre --out "$OUT/data" --vocab-size 8192
for spec in "L4-D256 10m" "L2-D128 5m"; do
  set -- $spec
  [ -f "$OUT/pre-$1/state.json" ] && resume=(--resume) || resume=()
  $TLC pretrain --data "$OUT/data" --model "$1" --budget "$2" --dropout 0 --out "$OUT/pre-$1" "${resume[@]}"
  [ -f "$OUT/ft-$1/results.json" ] || {
    [ -f "$OUT/ft-$1/state.json" ] && ftresume=(--resume) || ftresume=()
    $TLC finetune --from "$OUT/pre-$1" --task example:brown-genre --budget 3m --max-len 64 --dropout 0.1 \
      --eval-every 0.1 --out "$OUT/ft-$1" "${ftresume[@]}"
  }
  $TLC compress --model "$OUT/ft-$1" --sparsity 0,0.3,0.5,0.7,0.9 --bits 32,8,6,4 --out "$OUT/cmp-$1"
done
$TLC pareto "$OUT/cmp-L4-D256" "$OUT/cmp-L2-D128" --max-bytes 2MB --out "$OUT"
