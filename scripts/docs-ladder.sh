#!/usr/bin/env bash
# The hour-scale budget ladder of the README ("Where the optimum moves on 35M tokens"): four
# masked-LM sizes spanning 170× in non-embedding parameters on example:debian-docs (35M training
# tokens), each size at its best peak rate from the learning-rate probe (scripts/lr-probe.sh), one
# warmup–stable–decay trunk of the tokens it trains in LADDER_BUDGET of one core (a throughput
# probe decides, so a busy machine cannot change what is trained), cooldown branches at 1/16, 1/8,
# 1/4, 1/2 and all of it. Two ranks run side by side, one core each; rerunning resumes. Then
# `tlc plan --holdout` predicts the largest budget from the smaller ones. LADDER_EXTEND names
# sizes to take LADDER_DOUBLINGS doublings further afterwards (each trunk extended to 2^n times the
# sweep's tokens, then cooled down; side by side, one core each), and the plan and holdout are made
# again. Rerunning with a larger LADDER_DOUBLINGS extends them again.
#   bash scripts/docs-ladder.sh [out-dir]        (LADDER_BUDGET=45m by default)
#   LADDER_EXTEND="L2-D128 L4-D256" [LADDER_DOUBLINGS=1] bash scripts/docs-ladder.sh [out-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-docs-ladder}
BUDGET=${LADDER_BUDGET:-45m}
TLC="node dist/src/cli/main.js"
MPIRUN=(mpirun -np 2 --bind-to core)
[ "$(id -u)" = 0 ] && MPIRUN+=(--allow-run-as-root)

mkdir -p "$OUT"
[ -f "$OUT/data/data.json" ] || $TLC data prepare --input example:debian-docs --vocab-size 8192 --out "$OUT/data"
cat > "$OUT/ladder.yaml" <<YAML
data: $OUT/data
objective: mlm
sizes: [L1-D64, L2-D128, L4-D256, L6-D384]
size_lrs: {L1-D64: 2.0e-3, L2-D128: 1.0e-3, L4-D256: 5.0e-4, L6-D384: 2.5e-4}
batch_sizes: [32]
seq_len: 128
budget: $BUDGET
time_in_tokens: true
schedule: wsd
branches: [0.0625, 0.125, 0.25, 0.5, 1]
cooldown: 0.2
precision: bf16
eval_every: 0.05
eval_tokens: 65536
YAML
# once extended, the runs' budgets are no longer the sweep file's
[ -f "$OUT/extended" ] || "${MPIRUN[@]}" $TLC sweep "$OUT/ladder.yaml" --out "$OUT/sweep"
if [ ! -f "$OUT/extended" ]; then
  $TLC plan --sweep "$OUT/sweep" --budget "$BUDGET" --holdout | tee "$OUT/plan.txt"
  $TLC plan --sweep "$OUT/sweep" --budget "$BUDGET" --holdout --json > "$OUT/plan.json"
fi
[ -n "${LADDER_EXTEND:-}" ] || exit 0
touch "$OUT/extended"
core=0
pids=()
for size in $LADDER_EXTEND; do
  run="$(realpath "$OUT/sweep/runs/$size")"
  tokens=$(node -e "const o = require('$run/run.json').options; console.log((o.extended_from?.[0] ?? o.tokens) * 2 ** ${LADDER_DOUBLINGS:-1})")
  taskset -c $core $TLC --threads 1 pretrain --resume "$run" --tokens "$tokens" > "$OUT/extend-$size.log" 2>&1 &
  pids+=($!)
  core=$(( (core + 1) % $(nproc) ))
done
for pid in "${pids[@]}"; do wait "$pid"; done
$TLC plan --sweep "$OUT/sweep" --budget "$BUDGET" --holdout | tee "$OUT/plan-extended.txt"
$TLC plan --sweep "$OUT/sweep" --budget "$BUDGET" --holdout --json > "$OUT/plan-extended.json"
