#!/usr/bin/env bash
# Cost of metrics on the hot path: krpc-bench against a fresh krpc-node with metrics on (node
# and client) and off, interleaved REPS times, one JSON line per run, then the qps ratios
# (the median of the per-pair ratios is the figure to quote: pairs share machine conditions).
#   bench/metrics-cost.sh [REPS=3] [DURATION=5] [CONC=16]
set -euo pipefail
cd "$(dirname "$0")/.."
REPS="${REPS:-3}"; DURATION="${DURATION:-5}"; CONC="${CONC:-16}"
on=(); off=()
for rep in $(seq 1 "$REPS"); do
  for mode in on off; do
    if [ "$mode" = on ]; then
      line=$(bench/peer-run.sh --payload 64 --concurrency "$CONC" --connections 1 --duration "$DURATION" --warmup 1 --metrics=true)
      on+=("$(echo "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["qps"])')")
    else
      line=$(KRPC_NODE_ARGS="--metrics_enabled=false" bench/peer-run.sh --payload 64 --concurrency "$CONC" --connections 1 \
             --duration "$DURATION" --warmup 1 --metrics=false)
      off+=("$(echo "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["qps"])')")
    fi
    echo "rep=$rep metrics=$mode $line"
    sleep 1
  done
done
python3 - "${on[*]}" "${off[*]}" <<'PY'
import statistics, sys
on = [float(x) for x in sys.argv[1].split()]
off = [float(x) for x in sys.argv[2].split()]
m_on, m_off = statistics.median(on), statistics.median(off)
pairs = [a / b for a, b in zip(on, off)]  # each pair ran back to back: same machine conditions
print(f"median qps: metrics on {m_on:,.0f}, off {m_off:,.0f}; "
      f"per-pair on/off ratios {', '.join(f'{r:.3f}' for r in pairs)}; median pair ratio {statistics.median(pairs):.3f}")
PY
