#!/usr/bin/env bash
# The compression experiment of the README ("Train large, then compress"): two sizes
# pretrained with the same budget, finetuned on the spam task, then compressed by each
# method to a ladder of sizes, every setting a real file scored on the test split and timed:
#   oneshot      magnitude pruning (0.5, 0.7, 0.9) × bits (32, 8, 4), no finetuning
#   gradual      the paper's recipe: gradual magnitude pruning while finetuning (0.5, 0.7, 0.9),
#                float32, and at 4 bits with quantization-aware finetuning
#   structured   25% and 50% of every block's heads and FFN neurons removed gradually while
#                finetuning (Taylor importance), float32 and int8: smaller dense models
# Then `tlc pareto` over everything: the most accurate model within a byte budget.
#   bash scripts/compression-experiment.sh [out-dir]
# PRETRAINED=<sweep dir> reuses the runs of a sweep (e.g. the budget ladder's, whose sizes
# all trained on one budget) instead of pretraining; SIZES picks two of them.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-experiments/compression}
SIZES=${SIZES:-"L2-D128 L4-D256"}
BUDGET=${PRETRAIN_BUDGET:-20m}
TASK=${TASK:-example:spam}
FT_STEPS=${FT_STEPS:-1000}
CMP_STEPS=${CMP_STEPS:-200}
CMP_LR=${CMP_LR:-2e-4}
TLC="node dist/src/cli/main.js"
mkdir -p "$OUT"

if [ -z "${PRETRAINED:-}" ]; then
  [ -f "$OUT/data/data.json" ] || $TLC data prepare --input example:sotu --input example:brown \
    --exclude-test-of "$TASK" --vocab-size 8192 --out "$OUT/data"
  cat > "$OUT/pretrain.yaml" <<YAML
data: $OUT/data
objective: mlm
sizes: [$(echo $SIZES | sed 's/ /, /g')]
batch_sizes: [32]
seq_len: 128
budget: $BUDGET
time_in_tokens: true
dropout: 0
YAML
  $TLC sweep "$OUT/pretrain.yaml" --out "$OUT/pretrain"
  PRETRAINED="$OUT/pretrain"
fi

finetuned() { # size → a finetuned classifier run
  local run="$OUT/ft-$1"
  if [ ! -f "$run/results.json" ]; then
    [ -f "$run/state.json" ] && resume=(--resume "$run") || resume=(--from "$PRETRAINED/runs/$1" --task "$TASK" \
      --steps "$FT_STEPS" --lr 5e-4 --max-len 128 --dropout 0.1 --eval-every 0.1 --out "$run")
    $TLC finetune "${resume[@]}" >&2
  fi
  echo "$run"
}

compress() { # size, name, flags... (a finished setting is reused, an unfinished one resumed)
  local size=$1 name=$2; shift 2
  local out="$OUT/cmp-$size-$name"
  $TLC compress --from "$OUT/ft-$size" --out "$out" "$@"
}
tuned=(--steps "$CMP_STEPS" --lr "$CMP_LR")

for size in $SIZES; do
  finetuned "$size" > /dev/null
  compress "$size" oneshot --sparsity 0,0.5,0.7,0.9 --bits 32,8,4
  compress "$size" gradual --mode gradual --sparsity 0.5,0.7,0.9 --bits 32 "${tuned[@]}"
  compress "$size" gradual-qat4 --mode gradual --qat --sparsity 0.5,0.9 --bits 4 "${tuned[@]}"
  compress "$size" structured --mode gradual --structured 0.25,0.5 --bits 32,8 "${tuned[@]}"
done
dirs=()
for size in $SIZES; do dirs+=("$OUT"/cmp-"$size"-*); done
$TLC pareto "${dirs[@]}" --out "$OUT" --force | tee "$OUT/pareto.md"
