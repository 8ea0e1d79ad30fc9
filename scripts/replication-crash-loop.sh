#!/usr/bin/env bash
# Long geo-replication crash run: two real `runnel serve` clusters, records produced
# on one in ROUNDS rounds (default 100); after each round one side is SIGKILLed at a
# random moment of replication (the remote kept down while the origin takes more
# records), then restarted. Afterwards the remote must hold exactly the origin's
# records, in order per partition, with no duplicates, decoded with its own registry
# (crates/cli/tests/cli_replication.rs, which runs six rounds in CI).
#
#   scripts/replication-crash-loop.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-100}
start=$(date +%s)
RUNNEL_REPLICATION_ROUNDS=$rounds cargo test -p runnel-cli --test cli_replication \
    two_clusters_exactly_once_across_sigkills -- --nocapture
echo "replication-crash-loop: $rounds rounds passed in $(( $(date +%s) - start )) s"
