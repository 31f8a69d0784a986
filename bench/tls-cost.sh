#!/usr/bin/env bash
# TLS cost on the RPC path: one krpc-node in tls_mode=permissive (plaintext and TLS served on
# the same port), krpc-bench against it with and without --tls, runs interleaved, REPS pairs per
# payload; then the cost of a full handshake per new connection (openssl s_time: new session
# per connection, TLS 1.3, mutual TLS) with the node's CPU per handshake.
#   REPS=5 DURATION=5 bench/tls-cost.sh        (figures in docs/benchmarks.md)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${KRPC_BUILD_DIR:-build}
REPS=${REPS:-5} DURATION=${DURATION:-5} PORT=${PORT:-7790}
certs=$(mktemp -d)
node/tests/make-test-certs "$certs" >/dev/null
"$BUILD/node/krpc-node" --listen_host=127.0.0.1 --port="$PORT" --admin_enabled=false --io_threads=1 \
  --tls_mode=permissive --tls_client_auth=require --tls_cert_file="$certs/server.crt" \
  --tls_key_file="$certs/server.key" --tls_ca_file="$certs/ca.crt" --log_level=warn &
node=$!
trap 'kill $node 2>/dev/null; rm -rf "$certs"' EXIT
sleep 1
tls=(--tls --tls_ca_file="$certs/ca.crt" --tls_cert_file="$certs/alice.crt" --tls_key_file="$certs/alice.key")
qps() { "$BUILD/tools/krpc-bench" --target="127.0.0.1:$PORT" --concurrency=16 --connections=1 --threads=1 \
          --duration="$DURATION" --warmup=1 --payload="$1" "${@:2}" | sed -n 's/.*"qps":\([0-9.]*\).*/\1/p'; }
echo "payload  pair  plaintext_qps  tls_qps  ratio"
for payload in 64 16384; do
  for i in $(seq "$REPS"); do
    p=$(qps "$payload"); t=$(qps "$payload" "${tls[@]}")
    echo "$payload $i $p $t $(awk -v a="$t" -v b="$p" 'BEGIN{printf "%.3f", a/b}')"
  done
done
cpu() { awk '{print $14+$15}' "/proc/$node/stat"; }
ticks=$(getconf CLK_TCK)
before=$(cpu)
out=$(openssl s_time -connect "127.0.0.1:$PORT" -new -time "$DURATION" -CAfile "$certs/ca.crt" \
        -cert "$certs/alice.crt" -key "$certs/alice.key" 2>&1)
after=$(cpu)
conns=$(echo "$out" | sed -n 's/^\([0-9]*\) connections in [0-9.]*s.*/\1/p' | head -1)
echo "$out" | grep -E "connections in|connections/user sec" | head -2
awk -v c="$conns" -v b="$before" -v a="$after" -v t="$ticks" -v d="$DURATION" \
  'BEGIN{printf "full handshakes: %d in %s s = %.0f/s; node CPU per handshake: %.0f us\n", c, d, c/d, (a-b)/t*1e6/c}'
