#!/usr/bin/env bash
# Installs, from the distribution (Debian/Ubuntu apt), the system packages that
# building Runnel and running its test oracles need, when they are missing.
# Called by .ci/run before the first build and by scripts/test.sh.
set -euo pipefail

missing=()
# The build: OpenSSL's headers for librdkafka's TLS (the Kafka backend talks SASL_SSL).
{ command -v pkg-config >/dev/null 2>&1 && pkg-config --exists openssl; } || missing+=(pkg-config libssl-dev)
# What the oracles run besides Rust: Python with venv (fastavro, avro,
# confluent-kafka, kafka-python), kcat, and node with npm (kafkajs); the tests
# that use them fail, not skip, without them.
python3 -m venv --help >/dev/null 2>&1 || missing+=(python3 python3-venv python3-pip)
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# The web console's browser tests (tests/oracle/test_console.py): headless Chromium and its driver.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
