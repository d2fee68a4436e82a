#!/usr/bin/env bash
# Can `tlc plan` predict on a corpus it never saw? One text file, three masked-LM sizes spanning
# 51× in non-embedding parameters, each a wsd trunk of the tokens it trains in CHECK_BUDGET of one
# core (a throughput probe decides) at its best rate from the learning-rate probe, cooldown
# branches at 1/8, 1/4, 1/2 and all of it; then `tlc plan --holdout --json` predicts each size's
# largest budget from the rest (or says it cannot), and compares with what was measured.
#   bash scripts/holdout-check.sh <file.txt> [out-dir]     (CHECK_BUDGET=4m by default)
set -euo pipefail
cd "$(dirname "$0")/.."
INPUT=${1:?usage: holdout-check.sh <file.txt> [out-dir]}
OUT=${2:-holdout-check}
BUDGET=${CHECK_BUDGET:-4m}
TLC="node dist/src/cli/main.js"

mkdir -p "$OUT"
[ -f "$OUT/data/data.json" ] || $TLC data prepare --input "$INPUT" --vocab-size 8192 --out "$OUT/data"
cat > "$OUT/sweep.yaml" <<YAML
data: $OUT/data
objective: mlm
sizes: [L1-D64, L2-D128, L4-D256]
size_lrs: {L1-D64: 2.0e-3, L2-D128: 1.0e-3, L4-D256: 5.0e-4}
batch_sizes: [32]
seq_len: 128
budget: $BUDGET
time_in_tokens: true
schedule: wsd
branches: [0.125, 0.25, 0.5, 1]
cooldown: 0.2
precision: bf16
eval_every: 0.1
eval_tokens: 32768
YAML
$TLC sweep "$OUT/sweep.yaml" --out "$OUT/sweep"
$TLC plan --sweep "$OUT/sweep" --budget "$BUDGET" --holdout | tee "$OUT/plan.txt"
$TLC plan --sweep "$OUT/sweep" --budget "$BUDGET" --holdout --json > "$OUT/plan.json"
