#!/usr/bin/env bash
# The end-to-end benchmarks behind issue 8's targets, in one run on one machine,
# each printed as one JSON line (`runnel bench ... --output json`). Ratios are
# against baselines measured in the same run (the disk for produce, validation
# `none` for validation's cost, one fsync's latency for e2e, the gRPC path for
# the Kafka path).
#
#   scripts/bench.sh            # release build, then every benchmark (~3 min)
#   RUNNEL=path/to/runnel scripts/bench.sh   # an already built binary
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${RUNNEL:-}" ]]; then
    cargo build --release -p runnel-cli >&2
    RUNNEL=target/release/runnel
fi
run() { echo "+ runnel $*" >&2; "$RUNNEL" --output json "$@" | tail -1; }

# Durable produce of 100-byte typed records, full validation, 4 partitions, batches of 1000.
for _ in 1 2 3; do
    run bench produce --embedded --records 3000000 --partitions 4 --batch 1000 --validation full
    run bench produce --embedded --records 3000000 --partitions 4 --batch 1000 --validation none --no-baseline
done
# 10 KiB records against the disk at the same bytes per fsync (one batch of 100 = 1 MiB).
run bench produce --embedded --records 40000 --partitions 4 --batch 100 --record-size 10240
# One consumer and a group of two from a warm page cache.
run bench consume --embedded --records 3000000 --partitions 4 --batch 1000
# The Kafka path (librdkafka through the Kafka listener) against gRPC, same run:
# `bench kafka` is `bench produce` then one consumer, --via grpc and --via kafka.
for _ in 1 2 3; do
    run bench kafka --embedded --records 1000000
done
run bench consume --embedded --records 3000000 --partitions 4 --batch 1000 --via kafka
# Publish -> deliver latency at 10k rec/s with a consumer at the head.
run bench e2e --embedded --rate 10000 --seconds 10
# Broker memory with 100 producers and 4 slow consumers: a separate server process,
# so its RSS is the broker's alone.
data=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
"$RUNNEL" serve --data "$data" --grpc 127.0.0.1:16650 --http 127.0.0.1:18081 --kafka none >/dev/null 2>&1 &
server=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:18081/health >/dev/null && break; sleep 0.1; done
RUNNEL_URL=http://127.0.0.1:16650 RUNNEL_REGISTRY_URL=http://127.0.0.1:18081 \
    run bench produce --records 5000000 --partitions 4 --batch 1000 --producers 100 --slow-consumers 4 --no-baseline
