#!/usr/bin/env bash
# Interleaved pairs of two variants of one krpc run (same build, different flags): for each of
# REPS repetitions, runs bench/peer-run.sh with variant A then variant B back to back, prints one
# JSON line per run, then each side's median calls/s and the per-pair B/A ratios (the median pair
# ratio is the figure to quote: the two runs of a pair share machine conditions).
#   A_NAME=on A_NODE="..." A_BENCH="..." B_NAME=off B_NODE="..." B_BENCH="..." bench/pairs.sh
# env: REPS (3), DURATION (5), CONC (16), PAYLOAD (64); *_NODE are extra krpc-node flags,
# *_BENCH extra krpc-bench flags.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS="${REPS:-3}"; DURATION="${DURATION:-5}"; CONC="${CONC:-16}"; PAYLOAD="${PAYLOAD:-64}"
A_NAME="${A_NAME:-A}"; B_NAME="${B_NAME:-B}"
qa=(); qb=()
for rep in $(seq 1 "$REPS"); do
  for side in A B; do
    node_var="${side}_NODE"; bench_var="${side}_BENCH"; name_var="${side}_NAME"
    # shellcheck disable=SC2086
    line=$(KRPC_NODE_ARGS="${!node_var:-}" bench/peer-run.sh --payload "$PAYLOAD" --concurrency "$CONC" \
           --connections 1 --duration "$DURATION" --warmup 1 ${!bench_var:-} | tail -1)
    q=$(echo "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["qps"])')
    if [ "$side" = A ]; then qa+=("$q"); else qb+=("$q"); fi
    echo "rep=$rep ${!name_var} $line"
  done
done
python3 - "$A_NAME" "$B_NAME" "${qa[*]}" "${qb[*]}" <<'PY'
import statistics, sys
na, nb = sys.argv[1], sys.argv[2]
a = [float(x) for x in sys.argv[3].split()]
b = [float(x) for x in sys.argv[4].split()]
pairs = [y / x for x, y in zip(a, b)]
print(f"median qps: {na} {statistics.median(a):,.0f}, {nb} {statistics.median(b):,.0f}; "
      f"per-pair {nb}/{na} ratios {', '.join(f'{r:.3f}' for r in pairs)}; "
      f"median pair ratio {statistics.median(pairs):.3f}")
PY
