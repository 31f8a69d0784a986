#!/usr/bin/env bash
# Cost of metrics on the hot path: krpc-bench against a fresh krpc-node with metrics off (node
# and client) and on, interleaved (bench/pairs.sh); the median pair ratio on/off is the figure.
#   bench/metrics-cost.sh   (env REPS=3 DURATION=5 CONC=16)
exec env A_NAME=off A_NODE="--metrics_enabled=false" A_BENCH="--metrics=false" \
  B_NAME=on B_NODE="" B_BENCH="--metrics=true" "$(dirname "$0")/pairs.sh"
