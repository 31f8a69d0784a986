#!/usr/bin/env bash
# The krpc system for ../shared/peers/run_all.sh (KRPC_RUN=./bench/peer-run.sh): starts a fresh
# krpc-node, runs krpc-bench against it with the peers' flags and prints one JSON line.
# env: SERVER_THREADS (node I/O threads; 0/empty = 2), PORT (default 19003), LOG_DIR, KRPC_BUILD_DIR
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
B="$ROOT/${KRPC_BUILD_DIR:-build}"
NODE="$B/node/krpc-node"
BENCH="$B/tools/krpc-bench"; [ -x "$BENCH" ] || BENCH="$B/client-sdk/krpc-bench"  # before tools/ moved out
for b in "$NODE" "$BENCH"; do [ -x "$b" ] || { echo "missing $b (run scripts/build)" >&2; exit 1; }; done
PORT="${PORT:-19003}"
THREADS="${SERVER_THREADS:-0}"; [ "$THREADS" = "0" ] && THREADS=2
SLOG=/dev/null
if [ -n "${LOG_DIR:-}" ]; then mkdir -p "$LOG_DIR"; SLOG="$LOG_DIR/krpc-node-$PORT-$$.log"; fi
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) [ "$2" != "0" ] && ARGS+=(--threads "$2"); shift 2;;
    *) ARGS+=("$1"); shift;;
  esac
done
"$NODE" --listen_host 127.0.0.1 --port "$PORT" --io_threads "$THREADS" --log_level warn ${KRPC_NODE_ARGS:-} >"$SLOG" 2>&1 &
SP=$!
trap 'kill $SP 2>/dev/null || true; wait $SP 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  ss -Hltn "sport = :$PORT" | grep -q . && break
  kill -0 "$SP" 2>/dev/null || { echo "krpc-node exited early" >&2; exit 1; }
  sleep 0.05
done
timeout 120 "$BENCH" --port "$PORT" --server_pid "$SP" "${ARGS[@]}"
