#!/usr/bin/env bash
# Did `tlc auto` spend its budget well? It runs on a corpus and a task, then each of its
# candidate sizes trains alone for the whole pretraining budget (the tokens its own throughput
# probe buys in that time, a linear decay to zero, the same data and options), and the table
# compares auto's model with the best of them at the end of their schedules.
#   bash scripts/auto-check.sh <corpus> <task> [budget=5m] [out-dir=auto-check]
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${1:?usage: auto-check.sh <corpus> <task> [budget] [out-dir]}
TASK=${2:?usage: auto-check.sh <corpus> <task> [budget] [out-dir]}
BUDGET=${3:-5m}
OUT=${4:-auto-check}
TLC="node dist/src/cli/main.js"

mkdir -p "$OUT"
$TLC auto --corpus "$CORPUS" --task "$TASK" --budget "$BUDGET" --out "$OUT/auto" --json > "$OUT/auto.json"
SECONDS_BUDGET=$(node -e "const r=require(require('path').resolve('$OUT/auto.json')); console.log(r.budget.value)")
# each candidate alone, two at a time (one core each)
# (the loop reads a process substitution, not a pipe, so that its background jobs are this shell's to wait for)
while read -r preset tokens; do
  [ -f "$OUT/alone/$preset/results.json" ] || [ -n "$(grep -s '\"event\":\"end\"' "$OUT/alone/$preset/metrics.jsonl")" ] && continue
  echo "$preset alone: $tokens tokens"
  TLC_THREADS=1 $TLC pretrain --data "$OUT/auto/data" --model "$preset" --tokens "$tokens" --schedule linear --out "$OUT/alone/$preset" > "$OUT/alone-$preset.log" 2>&1 &
  [ "$(jobs -r | wc -l)" -ge 2 ] && wait -n
done < <(node -e "
const r = require(require('path').resolve('$OUT/auto.json'));
for (const row of r.exploration.rows) console.log(row.preset + ' ' + Math.round(row.probe_tokens_per_s * $SECONDS_BUDGET));
")
wait
node -e "
const fs = require('fs');
const r = require(require('path').resolve('$OUT/auto.json'));
const end = (dir) => fs.readFileSync(dir + '/metrics.jsonl', 'utf8').trim().split('\n').map(JSON.parse).filter((e) => e.event === 'end').pop();
const rows = r.exploration.rows.map((row) => ({ preset: row.preset, ...end('$OUT/alone/' + row.preset) }));
const best = rows.reduce((a, x) => (x.valid_loss < a.valid_loss ? x : a));
console.log('| size alone for the whole budget | tokens | validation loss |');
console.log('|---|---:|---:|');
for (const x of rows) console.log('| ' + x.preset + (x === best ? ' (best)' : '') + ' | ' + (x.tokens / 1e6).toFixed(2) + 'M | ' + x.valid_loss.toFixed(3) + ' |');
const c = r.chosen;
console.log('| **tlc auto: ' + c.preset + '** (exploration included) | ' + (r.pretrain_cost.tokens / 1e6).toFixed(2) + 'M | ' + c.valid_loss.toFixed(3) + ' |');
console.log('auto / best alone: ' + (c.valid_loss / best.valid_loss).toFixed(4) + '; pretraining ' + r.pretrain_cost.budget_units.toFixed(1) + ' of ' + r.budget.value + ' budget units');
" | tee "$OUT/table.md"
