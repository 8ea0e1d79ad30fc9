#!/usr/bin/env bash
# Long failover runs of the registry on Kafka, KILLS cycles (default 20) against Tansu:
#
#   scripts/registry-kafka-failover-loop.sh [KILLS]
#
# The test `test_three_instances_survive_the_primary_sigkilled_during_a_burst` of
# tests/oracle/test_registry_kafka.py with REGISTRY_KAFKA_KILLS=KILLS: each cycle sends 90
# concurrent registrations over the live instances, SIGKILLs the primary after the 30th is
# acknowledged, waits for another to take over, checks that no id was given twice and that every
# acknowledged registration reads back from every survivor, and starts a fresh instance (which
# replays the whole topic) so that three run again. CI runs one cycle.
# Needs the debug binary (cargo build -p runnel-cli) and tests/oracle/requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
export RUNNEL_BIN=${RUNNEL_BIN:-${CARGO_TARGET_DIR:-target}/debug/runnel}
REGISTRY_KAFKA_KILLS=${1:-20} "$python" -m pytest -q tests/oracle/test_registry_kafka.py \
    -k test_three_instances_survive_the_primary_sigkilled_during_a_burst
