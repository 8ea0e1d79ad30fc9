#!/usr/bin/env bash
# Runs Runnel's whole test suite: the Rust tests of every crate, then the
# conformance tests against implementations nobody here wrote (fastavro, the
# official `avro` package, confluent-kafka, kafka-python, kafkajs, kcat), which
# drive the real `runnel` binary.
#
# The Python oracles live in a venv at .venv, created on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the build and the oracles need (installed when missing).
./scripts/system-packages.sh

venv=.venv
requirements=tests/oracle/requirements.txt
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "==> setting up the Python oracles in $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    echo "$want" > "$stamp"
fi

echo "==> cargo test"
# Also builds target/debug/runnel (the CLI's integration tests need it), which
# the conformance tests below drive; a separate `cargo build` would compile the
# workspace a second time with other dependency features. The features are
# .ci/run's clippy's too, so build scripts (librdkafka's among them) and proc
# macros compiled for one serve the other. `codegen`: the facade's build.rs
# generates the types of tests/generated.rs and tests/derive_evolution.rs.
# The derive test also writes its samples for the fastavro oracle below, which
# would otherwise run `cargo test` itself with other features (a second build).
samples=$(mktemp --suffix=.jsonl)
trap 'rm -f "$samples"' EXIT
RUNNEL_DERIVE_SAMPLES="$samples" cargo test --workspace --features runnel/kafka,runnel/codegen
export RUNNEL_DERIVE_SAMPLES_FROM="$samples"

echo "==> conformance against fastavro, avro and confluent-kafka"
export RUNNEL_BIN="$PWD/target/debug/runnel"
"$venv/bin/python" -m pytest -q tests/oracle
