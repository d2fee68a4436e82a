#!/usr/bin/env bash
# Reproduces the translation results in the README: German→English on the bundled
# trans-de-en sentence pairs, a wide and a deep encoder–decoder of similar size trained under
# the same 15-minute budget (BLEU against training time in their metrics and the report),
# then each scored on the 1,000 held-out test pairs with beam search.
# Usage: bash scripts/translation-experiment.sh [out-dir]   (about 35 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-experiments/translation}"
TLC="node dist/src/cli/main.js"
mkdir -p "$OUT"
[ -f "$OUT/data/prepare.json" ] || $TLC data prepare --task translation --input example:de-en --out "$OUT/data" --vocab-size 8192
cat > "$OUT/sweep.yaml" <<YAML
data: $(realpath "$OUT/data")
objective: seq2seq
sizes: [L2-D256, L6-D128]   # wide and shallow vs narrow and deep, 3.7M vs 2.8M non-embedding parameters
budget: 15m
batch_sizes: [64]
seq_len: 64
lr: 0.001
eval_every: 0.05
YAML
$TLC sweep "$OUT/sweep.yaml" --out "$OUT/sweep"
tail -n +2 "$OUT/data/test.tsv" | cut -f1 > "$OUT/test.de"
tail -n +2 "$OUT/data/test.tsv" | cut -f2 > "$OUT/test.en"
for size in L2-D256 L6-D128; do
  $TLC translate "$OUT/sweep/runs/$size" --input "$OUT/test.de" --output "$OUT/test.$size.en" --beam 4
  $TLC bleu "$OUT/test.$size.en" "$OUT/test.en" | tee "$OUT/bleu.$size.txt"
done
$TLC report "$OUT/sweep" --out "$OUT/report"
