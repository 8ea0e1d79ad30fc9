#!/usr/bin/env bash
# The benchmarks behind the comparison with Iggy (bench/RESULTS.md, "Against the
# peers"), three rounds on one machine, each printed as one JSON line. Iggy's own
# figures are in that section; what is compared here in one run is each way of
# sending or reading against the other (a future per record, a batch at a time),
# validation against none, and 10 KiB records against the raw disk.
#
#   scripts/bench-peers.sh            # release build, then three rounds (~4 min)
#   RUNNEL=path/to/runnel scripts/bench-peers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${RUNNEL:-}" ]]; then
    cargo build --release -p runnel-cli >&2
    RUNNEL=target/release/runnel
fi
run() { echo "+ runnel $*" >&2; "$RUNNEL" --output json "$@" | tail -1; }

for _ in 1 2 3; do
    # One producer, one partition, batches of 1000 100-byte typed records, fsync
    # per write, full validation: a future per record, then `send_batch`, then
    # `send_batch` without validation (the validation's cost).
    run bench produce --embedded --records 3000000 --partitions 1 --batch 1000 --send record --no-baseline
    run bench produce --embedded --records 3000000 --partitions 1 --batch 1000 --send batch --no-baseline
    run bench produce --embedded --records 3000000 --partitions 1 --batch 1000 --send batch --validation none --no-baseline
    # One consumer from a warm page cache: typed with `next`, raw, typed with `next_batch`.
    run bench consume --embedded --records 3000000 --partitions 1 --batch 1000 --send batch --consumers 1
    # 10 KiB records against the raw disk at the same bytes per fsync (a batch of 100 = 1 MiB).
    run bench produce --embedded --records 60000 --partitions 4 --batch 100 --record-size 10240 --send batch
done
# Publish -> deliver latency at 10k rec/s with a consumer at the head, against one fsync.
run bench e2e --embedded --rate 10000 --seconds 10
