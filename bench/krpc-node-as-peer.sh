#!/usr/bin/env bash
# krpc-node with a peer server's command line (`--port P --threads T`, as
# ../shared/peers/common/run_one.sh starts servers), serving the peers' bench.EchoService (an
# alias of the example Echo service: the messages are the same on the wire). With it, a peer's
# client (e.g. gRPC's own C++ client) can be run against krpc-node by run_one.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PORT=0; THREADS=2
while [ $# -gt 0 ]; do
  case "$1" in
    --port) PORT="$2"; shift 2;;
    --threads) THREADS="$2"; shift 2;;
    *) shift;;
  esac
done
exec "$ROOT/${KRPC_BUILD_DIR:-build}/node/krpc-node" --listen_host 127.0.0.1 --port "$PORT" --io_threads "$THREADS" \
  --admin_enabled=false --log_level warn --services echo --service_aliases bench.EchoService=krpc.examples.EchoService \
  ${KRPC_NODE_ARGS:-}
