#!/usr/bin/env bash
# The budget ladder of the README ("Which size wins a budget"): four sizes spanning 216× in
# non-embedding parameters, each a warmup–stable–decay trunk of the tokens it trains in
# LADDER_BUDGET (measured by a probe, so that a busy machine cannot change what is trained),
# with cooldown branches at 1/8, 1/4, 1/2 and all of it. Two ranks run side by side, one core
# each; then `tlc plan --holdout` predicts the largest budget's winner from the smaller ones.
#   bash scripts/scaling-ladder.sh [out-dir]        (LADDER_BUDGET=30m by default)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-ladder}
BUDGET=${LADDER_BUDGET:-30m}
TLC="node dist/src/cli/main.js"
MPIRUN=(mpirun -np 2 --bind-to core)
[ "$(id -u)" = 0 ] && MPIRUN+=(--allow-run-as-root)

mkdir -p "$OUT"
[ -f "$OUT/data/data.json" ] || $TLC data prepare --input example:sotu --input example:brown \
  --exclude-test-of example:brown-genre --vocab-size 8192 --out "$OUT/data"
cat > "$OUT/ladder.yaml" <<YAML
data: $OUT/data
objective: mlm
sizes: [L1-D64, L2-D128, L4-D256, L6-D384]
batch_sizes: [32]
seq_len: 128
budget: $BUDGET
time_in_tokens: true
schedule: wsd
branches: [0.125, 0.25, 0.5, 1]
cooldown: 0.2
precision: bf16
eval_every: 0.1
eval_tokens: 65536
YAML
"${MPIRUN[@]}" $TLC sweep "$OUT/ladder.yaml" --out "$OUT/sweep"
$TLC plan --sweep "$OUT/sweep" --budget "$BUDGET" --holdout | tee "$OUT/plan.txt"
$TLC plan --sweep "$OUT/sweep" --budget "$BUDGET" --holdout --json > "$OUT/plan.json"
