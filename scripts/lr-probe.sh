#!/usr/bin/env bash
# Is the budget ladder's answer an artefact of one learning rate for every size? Each size
# retrains the ladder's smallest point (the trunk tokens of its 1/8 branch, then the same 20%
# cooldown) at half, once and twice the ladder's peak rate, JOBS processes at a time (default:
# one per core), one thread each.
#   bash scripts/lr-probe.sh <ladder out-dir> [sizes...]     (default sizes: L2-D128 L4-D256)
set -euo pipefail
cd "$(dirname "$0")/.."
LADDER=${1:?the output directory of scripts/scaling-ladder.sh}
shift
SIZES=${*:-L2-D128 L4-D256}
TLC="node dist/src/cli/main.js"
JOBS=${JOBS:-$(nproc)}
OUT="$LADDER/lr-probe"
mkdir -p "$OUT"
probe() { # size lr
  local run="$OUT/$1-lr$2"
  local tokens
  tokens=$(node -e "console.log(JSON.parse(require('fs').readFileSync('$LADDER/sweep/runs/$1/branches/0.125/branch.json','utf8')).fork_usage.tokens)")
  if [ -f "$run/state.json" ]; then $TLC pretrain --resume "$run" > /dev/null
  else TLC_THREADS=1 $TLC pretrain --data "$LADDER/data" --model "$1" --tokens "$tokens" --schedule wsd --branches 1 --cooldown 0.2 \
    --precision bf16 --lr "$2" --eval-every 0.25 --eval-tokens 65536 --dropout 0 --out "$run" > /dev/null; fi
}
for size in $SIZES; do
  for lr in 5e-4 1e-3 2e-3; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
    probe "$size" "$lr" &
  done
done
wait
echo "| size | peak lr | tokens | valid loss after the cooldown |"
echo "|---|---:|---:|---:|"
for size in $SIZES; do for lr in 5e-4 1e-3 2e-3; do
  node -e "
    const fs = require('fs'); const m = fs.readFileSync('$OUT/$size-lr$lr/branches/1.00/metrics.jsonl', 'utf8').trim().split('\n').map(JSON.parse);
    const end = m.filter((e) => e.event === 'end').pop();
    console.log('| $size | $lr | ' + end.tokens.toLocaleString('en-US') + ' | ' + end.valid_loss.toFixed(3) + ' |');"
done; done | tee "$OUT/table.md"
