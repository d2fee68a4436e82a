#!/usr/bin/env bash
# Reproduces the translation results in the README: German→English on the bundled
# trans-de-en sentence pairs. A wide, shallow encoder–decoder and a narrow, deep one of similar
# size train side by side under the same 15-minute budget, one core each (BLEU on held-out pairs
# against training time in their metrics and the report). Each is then scored on the 1,000
# test pairs with beam search.
# Usage: bash scripts/translation-experiment.sh [out-dir]   (about 20 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-experiments/translation}"
TLC="node dist/src/cli/main.js"
mkdir -p "$OUT"
[ -f "$OUT/data/prepare.json" ] || $TLC data prepare --task translation --input example:de-en --out "$OUT/data" --vocab-size 8192
# wide: 2+2 layers of width 256 (3.7M non-embedding parameters); deep: 6+6 layers of width 128 (2.8M)
for spec in "wide L2-D256" "deep L6-D128"; do
  set -- $spec
  cat > "$OUT/$1.yaml" <<YAML
data: $(realpath "$OUT/data")
task: translation   # encoder–decoders (objective seq2seq)
sizes: [$2]
budget: 15m
batch_sizes: [64]
seq_len: 64
lr: 0.001
dropout: 0.2      # ~17k training pairs: without dropout both models overfit within the budget
eval_every: 0.05
YAML
  $TLC --threads 1 sweep "$OUT/$1.yaml" --out "$OUT/$1" > "$OUT/$1.log" 2>&1 &
done
wait
tail -n +2 "$OUT/data/test.tsv" | cut -f1 > "$OUT/test.de"
tail -n +2 "$OUT/data/test.tsv" | cut -f2 > "$OUT/test.en"
for spec in "wide L2-D256" "deep L6-D128"; do
  set -- $spec
  $TLC translate "$OUT/$1/runs/$2" --input "$OUT/test.de" --output "$OUT/test.$1.en" --beam 4
  $TLC bleu "$OUT/test.$1.en" "$OUT/test.en" | tee "$OUT/bleu.$1.txt"
done
$TLC report "$OUT" --out "$OUT/report" --title "Wide vs deep encoder–decoders, 15 minutes each"
