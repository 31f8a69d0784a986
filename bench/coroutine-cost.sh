#!/usr/bin/env bash
# The coroutine API against the generic one: krpc-bench's closed loop through the generic stub
# (done closures) and through the typed coroutine stub (co_await), interleaved (bench/pairs.sh);
# the median pair ratio coroutine/generic is the figure.
#   bench/coroutine-cost.sh   (env REPS=3 DURATION=5 CONC=16)
exec env A_NAME=generic A_BENCH="--api=generic" B_NAME=coroutine B_BENCH="--api=coroutine" \
  "$(dirname "$0")/pairs.sh"
