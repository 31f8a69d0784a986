#!/usr/bin/env bash
# Issue 17's peer comparison in one interleaved run: for each repetition and configuration, every
# system back to back on a fresh server (drift hits all alike), then one table with each
# system's median and its ratio to raw TCP (../shared/peers/summarize.py).
#   raw-tcp       the floor: ../shared/peers/raw-tcp (epoll echo, no serialization)
#   grpc          gRPC's async C++ client and server (Debian's libgrpc++; ../shared/peers/grpc)
#   krpc          krpc-bench -> krpc-node (generic protobuf stub), metrics on (bench/peer-run.sh)
#   krpc-coro     the same through the coroutine stub (co_await)
#   krpc-h2       krpc's client speaking gRPC's wire protocol (HTTP/2) to krpc-node
#   krpc-tls      TLS 1.3 with client certificates (mutual TLS)
#   grpc-to-krpc  gRPC's own C++ client against krpc-node's gRPC service on the same port
# The variants run on VARIANT_CONFIGS only (they measure a path, not every shape of load).
#   bench/suite.sh   (env REPS=3 DURATION=4 WARMUP=1 CONFIGS=... VARIANT_CONFIGS=... OUT=dir PEERS=../shared/peers
#                     SYSTEMS="raw-tcp grpc krpc", the systems run on every config)
# The peers must be built first: ../shared/peers/install_deps.sh && ../shared/peers/build_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
PEERS="${PEERS:-$ROOT/../shared/peers}"
B="${KRPC_BUILD_DIR:-build}"
REPS="${REPS:-3}"; DURATION="${DURATION:-4}"; WARMUP="${WARMUP:-1}"
CONFIGS="${CONFIGS:-64 1 1;64 16 1;64 128 1;64 16 16;64 128 128;64 512 512;16384 16 1}"
VARIANT_CONFIGS="${VARIANT_CONFIGS:-64 16 1;64 128 1;16384 16 1}"
OUT="${OUT:-$ROOT/bench-results/suite-$(date -u +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
certs=$(mktemp -d)
trap 'rm -rf "$certs"' EXIT
node/tests/make-test-certs "$certs" >/dev/null
TLS_NODE="--tls_mode=permissive --tls_client_auth=require --tls_cert_file=$certs/server.crt --tls_key_file=$certs/server.key --tls_ca_file=$certs/ca.crt"
TLS_BENCH=(--tls=true "--tls_ca_file=$certs/ca.crt" "--tls_cert_file=$certs/alice.crt" "--tls_key_file=$certs/alice.key")

# run SYSTEM PAYLOAD CONC CONNS REP: one JSON line on stdout.
run() {
  local sys=$1 payload=$2 conc=$3 conns=$4 rep=$5
  local flags=(--payload "$payload" --concurrency "$conc" --connections "$conns" --duration "$DURATION" --warmup "$WARMUP")
  case "$sys" in
    raw-tcp) SERVER_THREADS=2 "$PEERS/raw-tcp/run.sh" --system raw-tcp "${flags[@]}" --threads 0 --tag "rep=$rep";;
    grpc)    SERVER_THREADS=1 "$PEERS/grpc/run.sh" --system grpc "${flags[@]}" --threads 1 --tag "rep=$rep";;
    krpc)    bench/peer-run.sh --system krpc "${flags[@]}" --tag "rep=$rep";;
    krpc-coro) bench/peer-run.sh --system krpc-coro --api coroutine "${flags[@]}" --tag "rep=$rep";;
    krpc-h2) bench/peer-run.sh --system krpc-h2 --protocol grpc "${flags[@]}" --tag "rep=$rep";;
    krpc-tls) KRPC_NODE_ARGS="$TLS_NODE" bench/peer-run.sh --system krpc-tls "${TLS_BENCH[@]}" "${flags[@]}" --tag "rep=$rep";;
    grpc-to-krpc)
      "$PEERS/common/run_one.sh" "$ROOT/bench/krpc-node-as-peer.sh" 2 "${PEERS_BUILD:-/tmp/krpc-peers}/grpc/grpc_client" 19104 \
        "${flags[@]}" --threads 1 --tag "rep=$rep" | tail -1 |
        python3 -c 'import json,sys; d=json.load(sys.stdin); d["system"]="grpc-to-krpc"; print(json.dumps(d))';;
  esac
}

IFS=';' read -r -a CFG <<< "$CONFIGS"
for rep in $(seq 1 "$REPS"); do
  for cfg in "${CFG[@]}"; do
    read -r payload conc conns <<< "$cfg"
    systems="${SYSTEMS:-raw-tcp grpc krpc}"
    case ";$VARIANT_CONFIGS;" in *";$cfg;"*) systems="$systems krpc-coro krpc-h2 krpc-tls grpc-to-krpc";; esac
    for sys in $systems; do
      echo "rep=$rep $sys payload=$payload concurrency=$conc connections=$conns" >&2
      if line=$(run "$sys" "$payload" "$conc" "$conns" "$rep" | tail -1) && [ -n "$line" ]; then
        echo "$line" >> "$OUT/runs.jsonl"
        echo "    $line" >&2
      else
        echo "{\"system\":\"$sys\",\"tag\":\"rep=$rep;FAILED\",\"payload\":$payload,\"concurrency\":$conc,\"connections\":$conns,\"failed\":true}" >> "$OUT/runs.jsonl"
        echo "    FAILED" >&2
      fi
      sleep 1
    done
  done
done
python3 "$PEERS/summarize.py" "$OUT/runs.jsonl" > "$OUT/summary.md"
cat "$OUT/summary.md"
