#!/usr/bin/env bash
# The gRPC path: gRPC's own C++ client (../shared/peers/grpc, Debian's libgrpc++) against
# krpc-node's gRPC port versus against gRPC's own async C++ server, interleaved REPS times in
# one run; prints one JSON line per run, the median calls/s of each with their ratio, and the
# server CPU time per call (server_cpu_pct over calls/s: what the server spends, whoever is the
# bottleneck).
#   bench/grpc-path.sh   (env REPS=3 DURATION=5 CONC=16 PAYLOAD=64 CONNS=1 CLIENT_THREADS=1; PEERS=../shared/peers)
# The peers must be built first: ../shared/peers/build_all.sh (into /tmp/krpc-peers).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
PEERS="${PEERS:-$ROOT/../shared/peers}"
B="${PEERS_BUILD:-/tmp/krpc-peers}/grpc"
REPS="${REPS:-3}"; DURATION="${DURATION:-5}"; CONC="${CONC:-16}"; PAYLOAD="${PAYLOAD:-64}"; CONNS="${CONNS:-1}"
flags=(--payload "$PAYLOAD" --concurrency "$CONC" --connections "$CONNS" --duration "$DURATION" --warmup 1 --threads "${CLIENT_THREADS:-1}")
grpc=(); krpc=(); grpc_cpu=(); krpc_cpu=()
for rep in $(seq 1 "$REPS"); do
  line=$(SERVER_THREADS=1 PORT=19102 "$PEERS/grpc/run.sh" "${flags[@]}" --tag grpc-server | tail -1)
  grpc+=("$(echo "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["qps"])')")
  grpc_cpu+=("$(echo "$line" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["server_cpu_pct"] * 1e4 / d["qps"])')")
  echo "rep=$rep grpc-client->grpc-server $line"
  line=$("$PEERS/common/run_one.sh" "$ROOT/bench/krpc-node-as-peer.sh" "${SERVER_THREADS:-1}" "$B/grpc_client" 19103 \
         "${flags[@]}" --tag krpc-node | tail -1)
  krpc+=("$(echo "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["qps"])')")
  krpc_cpu+=("$(echo "$line" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["server_cpu_pct"] * 1e4 / d["qps"])')")
  echo "rep=$rep grpc-client->krpc-node $line"
done
python3 - "${grpc[*]}" "${krpc[*]}" "${grpc_cpu[*]}" "${krpc_cpu[*]}" <<'PY'
import statistics, sys
g = [float(x) for x in sys.argv[1].split()]
k = [float(x) for x in sys.argv[2].split()]
gc = [float(x) for x in sys.argv[3].split()]
kc = [float(x) for x in sys.argv[4].split()]
pairs = [b / a for a, b in zip(g, k)]
print(f"median calls/s with gRPC's C++ client: gRPC server {statistics.median(g):,.0f}, krpc-node "
      f"{statistics.median(k):,.0f}; per-pair krpc/grpc {', '.join(f'{r:.2f}' for r in pairs)}; "
      f"median pair ratio {statistics.median(pairs):.2f}")
print(f"server CPU per call (us, median): gRPC server {statistics.median(gc):.2f}, krpc-node {statistics.median(kc):.2f}; "
      f"ratio krpc/grpc {statistics.median(kc) / statistics.median(gc):.2f}")
PY
