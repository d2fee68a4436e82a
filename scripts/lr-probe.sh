#!/usr/bin/env bash
# Is the budget ladder's answer an artefact of one learning rate for every size? Each size
# retrains one of the ladder's points (by default its smallest: the trunk tokens of its 1/8
# branch, then the same 20% cooldown) at each rate of LRS, JOBS processes at a time (default:
# one per core), one thread each.
#   bash scripts/lr-probe.sh <ladder out-dir> [size[=trunk tokens]...]
# Without "=tokens" a size's trunk is read from the ladder's 1/8 branch; with it (e.g.
# L6-D384=625k, L4-D256=12.0M for the largest budget) the ladder's sweep need not be there.
# The data is the ladder's: prepared the same way when <out-dir>/data is missing.
#   LRS="5e-4 1e-3 2e-3" (default)   SIZES default: L2-D128 L4-D256
set -euo pipefail
cd "$(dirname "$0")/.."
LADDER=${1:?the output directory of scripts/scaling-ladder.sh}
shift
SIZES=${*:-L2-D128 L4-D256}
LRS=${LRS:-5e-4 1e-3 2e-3}
TLC="node dist/src/cli/main.js"
JOBS=${JOBS:-$(nproc)}
OUT="$LADDER/lr-probe"
mkdir -p "$OUT"
[ -f "$LADDER/data/data.json" ] || $TLC data prepare --input example:sotu --input example:brown \
  --exclude-test-of example:brown-genre --vocab-size 8192 --out "$LADDER/data"

trunk_tokens() { # size[=tokens]
  case "$1" in
    *=*) echo "${1#*=}" ;;
    *) node -e "console.log(JSON.parse(require('fs').readFileSync('$LADDER/sweep/runs/$1/branches/0.125/branch.json','utf8')).fork_usage.tokens)" ;;
  esac
}
run_name() { # size[=tokens] lr
  case "$1" in
    *=*) echo "$OUT/${1%%=*}-${1#*=}-lr$2" ;;
    *) echo "$OUT/$1-lr$2" ;;
  esac
}
probe() { # size[=tokens] lr
  local run tokens
  run=$(run_name "$1" "$2")
  tokens=$(trunk_tokens "$1")
  if [ -f "$run/state.json" ]; then $TLC pretrain --resume "$run" > /dev/null
  else TLC_THREADS=1 $TLC pretrain --data "$LADDER/data" --model "${1%%=*}" --tokens "$tokens" --schedule wsd --branches 1 \
    --cooldown 0.2 --precision bf16 --lr "$2" --eval-every 0.25 --eval-tokens 65536 --dropout 0 --out "$run" > /dev/null; fi
}
for size in $SIZES; do
  for lr in $LRS; do
    [ -f "$(run_name "$size" "$lr")/branches/1.00/metrics.jsonl" ] && grep -q '"event":"end"' "$(run_name "$size" "$lr")/branches/1.00/metrics.jsonl" && continue
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
    probe "$size" "$lr" &
  done
done
wait
# every probe finished so far under this ladder, one row each
node -e "
  const fs = require('fs'), path = require('path');
  const rows = [];
  for (const name of fs.readdirSync('$OUT').sort()) {
    const file = path.join('$OUT', name, 'branches', '1.00', 'metrics.jsonl');
    if (!fs.existsSync(file)) continue;
    const end = fs.readFileSync(file, 'utf8').trim().split('\\n').map(JSON.parse).filter((e) => e.event === 'end').pop();
    const m = /^(L\\d+-D\\d+)-(?:.*-)?lr([0-9.]+(?:e-?[0-9]+)?)/.exec(name);
    if (end && m) rows.push('| ' + m[1] + ' | ' + m[2] + ' | ' + end.tokens.toLocaleString('en-US') + ' | ' + end.valid_loss.toFixed(3) + ' |');
  }
  console.log(['| size | peak lr | tokens | valid loss after the cooldown |', '|---|---:|---:|---:|', ...rows].join('\\n'));
" | tee "$OUT/table.md"
