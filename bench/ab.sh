#!/usr/bin/env bash
# A/B of two krpc builds in one run (e.g. before and after a refactor): for each config and
# repetition, runs bench/peer-run.sh of build A then of build B, interleaved, and prints one
# JSON line per run plus the median calls/s of each side and their ratio per config.
#   bench/ab.sh A_ROOT B_ROOT [REPS] [DURATION]   (env AB_CONFIGS: configs separated by ';')
# A_ROOT/B_ROOT: checkouts with a built build/ (krpc-node, krpc-bench).
set -euo pipefail
A="$1"; B="$2"; REPS="${3:-3}"; DUR="${4:-5}"
CONFIGS=("--payload 64 --concurrency 1 --connections 1" "--payload 64 --concurrency 16 --connections 1"
         "--payload 64 --concurrency 128 --connections 1" "--payload 16384 --concurrency 16 --connections 1")
if [ -n "${AB_CONFIGS:-}" ]; then IFS=';' read -r -a CONFIGS <<< "$AB_CONFIGS"; fi  # e.g. "--payload 64 --concurrency 128 --connections 1"
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
print("| config | A median calls/s | B median calls/s | B / A (medians) | per-pair B / A | median pair ratio |")
print("|---|---:|---:|---:|---|---:|")
for cfg, d in rows.items():
    a_runs, b_runs = d.get("A", [0]), d.get("B", [0])
    a, b = statistics.median(a_runs), statistics.median(b_runs)
    pairs = [y / x for x, y in zip(a_runs, b_runs) if x]
    print(f"| {cfg} | {a:,.0f} | {b:,.0f} | {b / a if a else 0:.3f} | {', '.join(f'{r:.3f}' for r in pairs)} | "
          f"{statistics.median(pairs) if pairs else 0:.3f} |")
PY
