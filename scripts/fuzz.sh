#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ (cargo-fuzz, libFuzzer) for a while each, and
# fails if any of them finds a crash, a hang or an allocation over the limit.
#
#   scripts/fuzz.sh                  # 20 s per target (the CI run)
#   scripts/fuzz.sh 600              # 10 min per target (a long run)
#   scripts/fuzz.sh 60 avro_decode   # some targets only
#   FUZZ_SECONDS=300 scripts/fuzz.sh # the same, from the environment
#   FUZZ_JOBS=1 scripts/fuzz.sh      # one target at a time (default: one per CPU)
#
# Needs only a stable toolchain: cargo-fuzz's nightly flags work on stable with
# RUSTC_BOOTSTRAP=1. Installs cargo-fuzz when it is missing (an unoptimized
# build: it only drives cargo and the fuzzers, and compiles in half the time).
# Targets run side by side, each on its own CPU for the same time. Each target starts
# from its committed seeds (fuzz/corpus/<target>, never written to) plus what
# earlier runs on this machine found (fuzz/target/corpus/<target>, not in git).
# A failing input is saved under fuzz/artifacts/<target>/ and its path printed;
# once fixed, copy it into fuzz/corpus/<target>/ as regress-<what> so that every
# later run replays it.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${1:-${FUZZ_SECONDS:-20}}
shift $(( $# > 0 ? 1 : 0 ))
case "$seconds" in
    ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2 ;;
esac

export RUSTC_BOOTSTRAP=1
cargo_fuzz_version=0.13.2
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz $cargo_fuzz_version"
    cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked --debug
fi
jobs=${FUZZ_JOBS:-$(nproc)}

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

# -a: debug assertions and overflow checks stay on, so arithmetic overflow on
# hostile input is found too. AddressSanitizer (cargo-fuzz's default) makes
# libFuzzer catch a single oversized allocation at once (-malloc_limit_mb
# defaults to -rss_limit_mb).
echo "==> building the fuzz targets"
cargo fuzz build -a

# One target for `seconds`; its log is target/fuzz-<target>.log, its verdict
# target/fuzz-<target>.status.
fuzz_one() {
    local t=$1 work="target/corpus/$1" artifacts="artifacts/$1" log="target/fuzz-$1.log"
    mkdir -p "$work" "$artifacts" "corpus/$t"
    if cargo fuzz run -a "$t" "$work" "corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=512 -timeout=5 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1; then
        echo ok >"target/fuzz-$t.status"
    else
        echo FAILED >"target/fuzz-$t.status"
    fi
}

running=0
for t in "${targets[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    echo "==> $t for ${seconds}s"
    rm -f "target/fuzz-$t.status"
    fuzz_one "$t" &
    running=$((running + 1))
done
wait

failed=()
summary=()
for t in "${targets[@]}"; do
    log="target/fuzz-$t.log"
    status=$(cat "target/fuzz-$t.status" 2>/dev/null || echo FAILED)
    if [ "$status" != ok ]; then
        failed+=("$t")
        echo "==> $t FAILED"
        grep -E "panicked at|^==[0-9]+== ERROR|^SUMMARY|out-of-memory|timeout after" "$log" | head -n 5 || true
        grep -E "Test unit written to" "$log" | sed 's/.*Test unit written to /   reproducer: fuzz\//' || true
        echo "   replay: RUSTC_BOOTSTRAP=1 cargo fuzz run -a $t <reproducer>   (full log: fuzz/$log)"
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    summary+=("$(printf '%-18s %-7s %12s execs %8s exec/s' "$t" "$status" "${runs:-?}" "${rate:-?}")")
done

echo "==> summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found failures in: ${failed[*]}" >&2
    exit 1
fi
