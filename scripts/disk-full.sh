#!/usr/bin/env bash
# Disk full on a real filesystem: mounts a 4 MiB tmpfs (needs root), fills it
# through the broker until appends are refused, checks the refusal is retryable
# and nothing acknowledged is lost, frees space and checks appends resume
# (crates/broker/tests/disk_full.rs, the #[ignore]d test). The injected-fault
# versions run in the normal suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    echo "disk-full: needs root to mount a tmpfs" >&2
    exit 1
fi
cargo test -p runnel-broker --test disk_full -- --include-ignored --nocapture
