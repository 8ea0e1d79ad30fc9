#!/usr/bin/env bash
# Long effectively-once runs of the functions, KILLS SIGKILL cycles (default 40)
# with RECORDS records produced before each (default 2500, so 100 000 in all):
#
#   scripts/function-crash-loop.sh [builtin|rust] [KILLS] [RECORDS_PER_KILL]
#
# builtin (default): the test `each_input_is_written_exactly_once_across_server_kills`
#   of crates/cli/tests/cli_function.rs: the server is SIGKILLed under a built-in
#   filter; its output must hold every input exactly once.
# rust: the test `a_stateful_rust_function_counts_exactly_once_across_kills_of_itself_and_the_server`:
#   a stateful Rust function process (examples/running_totals.rs) is SIGKILLed every
#   round and the server every other round; every click must yield exactly one total
#   and each user's totals must count 1, 2, 3, … in order.
# CI runs both with 6 kills over 3 000 records.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-builtin}
case "$mode" in
    builtin) test=each_input_is_written_exactly_once_across_server_kills ;;
    rust)
        test=a_stateful_rust_function_counts_exactly_once_across_kills_of_itself_and_the_server
        cargo build --features kafka,codegen --example running_totals
        ;;
    *) echo "usage: $0 [builtin|rust] [KILLS] [RECORDS_PER_KILL]" >&2; exit 2 ;;
esac
FUNCTION_KILLS=${2:-40} FUNCTION_RECORDS_PER_KILL=${3:-2500} \
    cargo test --workspace --features runnel/kafka,runnel/codegen --test cli_function -- --exact "$test" --nocapture
