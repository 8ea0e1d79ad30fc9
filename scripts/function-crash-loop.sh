#!/usr/bin/env bash
# Long effectively-once run of the built-in functions: the test
# `each_input_is_written_exactly_once_across_server_kills` of
# crates/cli/tests/cli_function.rs with KILLS SIGKILL/restart cycles of the
# server (default 40) and RECORDS records produced before each (default 2500,
# so 100 000 in all). It checks that the function's output holds every input
# exactly once. CI runs the same test with 6 kills over 3 000 records.
#
#   scripts/function-crash-loop.sh [KILLS] [RECORDS_PER_KILL]
set -euo pipefail
cd "$(dirname "$0")/.."
FUNCTION_KILLS=${1:-40} FUNCTION_RECORDS_PER_KILL=${2:-2500} \
    cargo test -p runnel-cli --test cli_function -- --exact each_input_is_written_exactly_once_across_server_kills --nocapture
