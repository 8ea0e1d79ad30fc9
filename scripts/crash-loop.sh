#!/usr/bin/env bash
# Long crash run: SIGKILLs a real `runnel serve` KILLS times (default 100) at
# random moments while idempotent producers append (segment rolls, retention
# deletes), a registry writer registers subjects and a group member commits
# offsets; after every restart it checks that nothing acknowledged was lost,
# duplicated or reordered (crates/cli/tests/crash_harness.rs), then runs the
# torn-tail / lost-index test and the broker engineer's crash test with as many
# iterations. Bounded by SECONDS_LIMIT (default 1800) as well.
#
#   scripts/crash-loop.sh [KILLS]
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-100}
limit=${SECONDS_LIMIT:-1800}
start=$(date +%s)
RUNNEL_CRASH_KILLS=$kills RUNNEL_CRASH_SECONDS=$limit \
    cargo test -p runnel-cli --test crash_harness -- --nocapture --test-threads 1
RUNNEL_CRASH_ITERATIONS=$kills cargo test -p runnel-cli --test crash -- --nocapture
echo "crash-loop: $kills kills per harness passed in $(( $(date +%s) - start )) s"
