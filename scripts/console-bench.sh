#!/usr/bin/env bash
# The web console on big data: produces RECORDS small typed records (default 10 M) into a
# one-partition topic with `runnel bench produce`, registers VERSIONS versions of one subject
# (default 500), then times the console's pages with curl (each page 7 times; the median and
# the slowest are printed). Writes the table to stdout, as in bench/RESULTS.md.
#
#   RUNNEL=target/release/runnel scripts/console-bench.sh [RECORDS] [VERSIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNNEL=${RUNNEL:-target/release/runnel}
RECORDS=${1:-10000000}
VERSIONS=${2:-500}
RUNS=7

data=$(mktemp -d /tmp/runnel-console-bench-XXXXXX)
log=$data/serve.log
"$RUNNEL" serve --data "$data/data" --grpc 127.0.0.1:0 --http 127.0.0.1:0 --kafka none >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do grep -q "runnel serving" "$log" && break; sleep 0.1; done
line=$(grep -m1 "runnel serving" "$log")
grpc=$(sed -E 's/.*grpc=([^ ]+).*/\1/' <<<"$line")
http=$(sed -E 's/.*http=([^ ]+).*/\1/' <<<"$line")
echo "server: grpc=$grpc http=$http data=$data" >&2

start=$(date +%s)
"$RUNNEL" --url "$grpc" --registry-url "$http" bench produce --records "$RECORDS" --partitions 1 \
    --fsync never --record-size 100 --batch 5000 --no-baseline >"$data/produce.json"
echo "produced $RECORDS records in $(( $(date +%s) - start )) s" >&2
topic=$("$RUNNEL" --url "$grpc" --registry-url "$http" topic list | grep -o 'bench-[0-9-]*' | head -1)

# A subject of VERSIONS versions: each adds an optional field.
fields='{"name":"id","type":"long"}'
for v in $(seq 1 "$VERSIONS"); do
    fields="$fields,{\"name\":\"f$v\",\"type\":[\"null\",\"string\"],\"default\":null}"
    schema="{\"type\":\"record\",\"name\":\"Big\",\"fields\":[$fields]}"
    body=$(python3 -c 'import json,sys; print(json.dumps({"schema": sys.argv[1]}))' "$schema")
    curl -sf -o /dev/null -X POST -H 'content-type: application/json' --data "$body" "$http/subjects/big-value/versions"
done
echo "registered $VERSIONS versions of big-value" >&2

jar=$data/cookies
curl -sf -o /dev/null -c "$jar" "$http/ui"
time_page() {
    local label=$1 path=$2 times=()
    curl -sf -o /dev/null -b "$jar" "$http$path"  # warm
    for _ in $(seq $RUNS); do
        times+=("$(curl -sf -o /dev/null -b "$jar" -w '%{time_total}' "$http$path")")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk -v label="$label" -v path="$path" '
        { t[NR] = $1 * 1000 } END { printf "| %s | `%s` | %.1f | %.1f |\n", label, path, t[int((NR + 1) / 2)], t[NR] }'
}
t="topic=$topic&partition=0"
half=$((RECORDS / 2))
echo "| page | path | median ms | slowest ms |"
echo "| --- | --- | --- | --- |"
time_page "overview" "/ui"
time_page "topics" "/ui/topics"
time_page "topic" "/ui/topic?name=$topic"
time_page "messages, newest 50" "/ui/messages?$t"
time_page "messages, 50 from the middle" "/ui/messages?$t&mode=offset&offset=$half"
time_page "messages, 500 from the middle" "/ui/messages?$t&mode=offset&offset=$half&limit=500"
time_page "messages, older page from the middle" "/ui/messages?$t&before=$half"
time_page "messages, from a time" "/ui/messages?$t&mode=time&time=$(date -u +%Y-%m-%dT%H:%M)"
time_page "messages, key filter (no match: reads 20 000)" "/ui/messages?$t&key=nomatch"
time_page "download 500 as JSON lines" "/ui/messages.jsonl?$t&mode=offset&offset=$half"
time_page "subjects" "/ui/schemas"
time_page "subject of $VERSIONS versions" "/ui/schemas/subject?name=big-value"
time_page "its oldest page of versions" "/ui/schemas/subject?name=big-value&page=9"
time_page "diff v1 → v$VERSIONS" "/ui/schemas/diff?name=big-value&a=1&b=$VERSIONS"
