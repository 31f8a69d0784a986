#!/usr/bin/env bash
# A/B of two krpc builds in one run (e.g. before and after a refactor): for each config and
# repetition, runs bench/peer-run.sh of build A then of build B, interleaved, and prints one
# JSON line per run plus the median calls/s of each side and their ratio per config.
#   bench/ab.sh A_ROOT B_ROOT [REPS] [DURATION]
# A_ROOT/B_ROOT: checkouts with a built build/ (krpc-node, krpc-bench).
set -euo pipefail
A="$1"; B="$2"; REPS="${3:-3}"; DUR="${4:-5}"
CONFIGS=("--payload 64 --concurrency 1 --connections 1" "--payload 64 --concurrency 16 --connections 1"
         "--payload 64 --concurrency 128 --connections 1" "--payload 16384 --concurrency 16 --connections 1")
out=$(mktemp)
for cfg in "${CONFIGS[@]}"; do
  for r in $(seq 1 "$REPS"); do
    for side in A B; do
      root=$A; [ "$side" = B ] && root=$B
      # shellcheck disable=SC2086
      line=$(PORT=19013 "$root/bench/peer-run.sh" $cfg --duration "$DUR" --tag "$side" 2>/dev/null | tail -1)
      echo "$line"
      echo "$side|$cfg|$line" >> "$out"
    done
  done
done
/usr/bin/python3 - "$out" <<'PY'
import json, statistics, sys
rows = {}
for l in open(sys.argv[1]):
    side, cfg, js = l.rstrip("\n").split("|", 2)
    try:
        q = json.loads(js)["qps"]
    except Exception:
        continue
    rows.setdefault(cfg, {}).setdefault(side, []).append(q)
print("| config | A median calls/s | B median calls/s | B / A |")
print("|---|---:|---:|---:|")
for cfg, d in rows.items():
    a, b = statistics.median(d.get("A", [0])), statistics.median(d.get("B", [0]))
    print(f"| {cfg} | {a:,.0f} | {b:,.0f} | {b / a if a else 0:.3f} |")
PY
