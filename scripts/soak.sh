#!/usr/bin/env bash
# Soak: MINUTES (default 10) of steady produce/consume against a real
# `runnel serve`, with group rebalances and a schema evolution half-way,
# sampling the server's RSS and open file descriptors every 5 s; fails if they
# grow beyond a bound after warm-up; prints a summary table
# (crates/cli/tests/soak.rs).
#
#   scripts/soak.sh [MINUTES]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
RUNNEL_SOAK_SECONDS=$(( minutes * 60 )) \
    cargo test -p runnel-cli --test soak -- --ignored --nocapture --test-threads 1
