#!/usr/bin/env bash
# Long exactly-once run: the consume-transform-produce loop of
# tests/oracle/test_kafka_transactions.py (confluent-kafka transactions against
# a real `runnel serve`) with KILLS SIGKILL/restart cycles (default 30) over
# RECORDS input records (default 5000), ROUNDS times (default 3). Each round
# checks that a read_committed consumer sees every input exactly once, in order
# per partition. CI runs the same test with 3 kills.
#
#   scripts/eos-loop.sh [KILLS] [RECORDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-30}
records=${2:-5000}
rounds=${3:-3}
python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || { echo "no $python: run scripts/test.sh once to create the venv" >&2; exit 1; }
target=${CARGO_TARGET_DIR:-target}
cargo build -p runnel-cli
start=$(date +%s)
for round in $(seq 1 "$rounds"); do
    EOS_KILLS=$kills EOS_RECORDS=$records RUNNEL_BIN="$target/debug/runnel" \
        "$python" -m pytest -q -x tests/oracle/test_kafka_transactions.py -k exactly_once
    echo "eos-loop: round $round of $rounds passed ($kills kills, $records records)"
done
echo "eos-loop: $rounds rounds passed in $(( $(date +%s) - start )) s"
