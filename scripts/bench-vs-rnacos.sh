#!/usr/bin/env bash
# Side-by-side benchmark: Nocas against r-nacos 0.8.8 and the ceilings
# (`nocas-bench ceiling-server`: a bare axum + tonic server answering
# every scenario with pre-encoded responses of the same size, and pushing
# one encoded change to every subscriber and group-committing publishes
# into redb with an fsync before answering them; `redb-publish`: fsynced
# redb commits of Nocas's group-commit batch size; a bare hello-world), all on
# loopback, each server started fresh (new data dir) for every run.
#
# Writes the results between the markers of docs/benchmarks.md and keeps
# the raw JSON under $OUT_DIR.
#
# Settings (environment):
#   RUNS=3            repeated runs; the report quotes their medians
#   BENCH_SECONDS=5   measured seconds of each load run
#   WORKERS=32        connections of each load run
#   SCALE=full        `full`: push/listen at 1, 1,000 and 10,000, footprint
#                     to 1,000,000 instances; `quick`: 1/1,000 and 100,000
#   OUT_DIR=target/bench-vs-rnacos
#   TARGETS="nocas rnacos"  which servers to measure this time
#   KEEP=0            1: keep earlier result files in OUT_DIR (e.g. re-measure
#                     only TARGETS=nocas after a change, and report against
#                     the r-nacos results already there)
#   RNACOS=path       an r-nacos binary (default: installed with cargo
#                     install rnacos --version 0.8.8 into target/rnacos)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
RUNS="${RUNS:-3}"
BENCH_SECONDS="${BENCH_SECONDS:-5}"
WORKERS="${WORKERS:-32}"
SCALE="${SCALE:-full}"
OUT_DIR="${OUT_DIR:-$ROOT/target/bench-vs-rnacos}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
TARGETS="${TARGETS:-nocas rnacos}"
mkdir -p "$OUT_DIR"
if [[ "${KEEP:-0}" != 1 ]]; then
    rm -f "$OUT_DIR"/*.json
fi

# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"

# wrk (2 threads, 32 connections) measures the HTTP GETs as well, when it
# is installed (`apt-get install wrk`): a C load generator takes less of
# the shared CPU than ours, so its ratios to the ceiling are the sharper.
HAVE_WRK=0
if command -v wrk >/dev/null; then HAVE_WRK=1; fi
# wrk_json LABEL SCENARIO URL FILE: one result file in nocas-bench's format.
wrk_json() {
    wrk -t2 -c32 -d"${BENCH_SECONDS}s" --latency "$3" | python3 -c '
import json, re, sys
label, scenario, url, text = sys.argv[1], sys.argv[2], sys.argv[3], sys.stdin.read()
def ms(v):
    n, u = re.match(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p50 = ms(re.search(r"\n\s+50%\s+(\S+)", text).group(1))
p99 = ms(re.search(r"\n\s+99%\s+(\S+)", text).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
rows = [{"scenario": scenario, "variant": "http", "metrics": [
    {"name": "ops_per_s", "value": rps}, {"name": "p50_ms", "value": p50},
    {"name": "p99_ms", "value": p99},
    {"name": "errors", "value": float(bad.group(1)) if bad else 0.0}]}]
print(json.dumps({"tool": "wrk", "label": label, "server": url, "rows": rows}))
' "$1" "$2" "$3" >"$4"
}

if [[ "$SCALE" == quick ]]; then
    FAN="1,1000"
    LEVELS="10000,100000"
else
    FAN="1,1000,10000"
    LEVELS="10000,100000,1000000"
fi
COMMON=(--workers "$WORKERS" --seconds "$BENCH_SECONDS")

for run in $(seq 1 "$RUNS"); do
    echo "== run $run of $RUNS: ceiling"
    # The bare hello-world (any other path of the ceiling server).
    port="$(free_pair)"
    start_ceiling "$port"
    "$BENCH" --server "127.0.0.1:$port" --label ceiling "${COMMON[@]}" \
        --json "$OUT_DIR/ceiling-$run.json" ceiling --path /hello >/dev/null
    if ((HAVE_WRK)); then
        wrk_json ceiling wrk:ceiling "http://127.0.0.1:$port/hello" "$OUT_DIR/ceiling-$run-wrk.json"
    fi
    stop_server
    # The client scenarios against the ceiling server: the same rows,
    # answered with pre-encoded responses of the same size, pushes encoded
    # once per change (no listen ceiling: config push is not modelled).
    i=0
    for scenario in "register" "list" "config-get" "push --subscribers $FAN" \
        "publish --via http,grpc"; do
        i=$((i + 1))
        port="$(free_pair)"
        durable="$(mktemp -d)" # publishes are made durable here, as a server's are
        start_ceiling "$port" "$durable"
        # shellcheck disable=SC2086
        "$BENCH" --server "127.0.0.1:$port" --label ceiling "${COMMON[@]}" \
            --json "$OUT_DIR/ceiling-$run-c$i.json" $scenario >/dev/null
        stop_server
        rm -rf "$durable"
    done
    # Memory per idle gRPC connection of a server that keeps nothing per
    # connection but tonic's and hyper's own state.
    port="$(free_pair)"
    start_ceiling "$port"
    "$BENCH" --server "127.0.0.1:$port" --label ceiling \
        --json "$OUT_DIR/ceiling-$run-conn.json" \
        connections --connections 5000 --pid "$SERVER_PID" >/dev/null
    stop_server
    if ((HAVE_WRK)); then
        port="$(free_pair)"
        start_ceiling "$port"
        kib="$(head -c 1024 /dev/zero | tr '\0' x)"
        curl -fs -o /dev/null -X POST "http://127.0.0.1:$port/nacos/v1/cs/configs" \
            -d "dataId=bench-wrk&group=DEFAULT_GROUP&content=$kib"
        wrk_json ceiling wrk:config-get \
            "http://127.0.0.1:$port/nacos/v1/cs/configs?dataId=bench-wrk&group=DEFAULT_GROUP" \
            "$OUT_DIR/ceiling-$run-wrk-get.json"
        stop_server
    fi

    for label in $TARGETS; do
        echo "== run $run of $RUNS: $label"
        sleep 5 # sockets of the previous scenarios close first
        work="$(mktemp -d)"
        # wrk first: the fan-out scenarios leave thousands of sockets for the
        # kernel to tear down, which slows whatever runs right after them.
        if ((HAVE_WRK)); then
            port="$(free_pair)"
            "start_$label" "$port" "$work/wrk"
            kib="$(head -c 1024 /dev/zero | tr '\0' x)"
            curl -fs -o /dev/null -X POST "http://127.0.0.1:$port/nacos/v1/cs/configs" \
                -d "dataId=bench-wrk&group=DEFAULT_GROUP&content=$kib"
            for i in $(seq 1 10); do
                curl -fs -o /dev/null -X POST "http://127.0.0.1:$port/nacos/v1/ns/instance" \
                    -d "serviceName=bench-wrk&ip=10.0.0.$i&port=8080"
            done
            wrk_json "$label" wrk:config-get \
                "http://127.0.0.1:$port/nacos/v1/cs/configs?dataId=bench-wrk&group=DEFAULT_GROUP" \
                "$OUT_DIR/$label-$run-wrk-get.json"
            wrk_json "$label" wrk:list \
                "http://127.0.0.1:$port/nacos/v1/ns/instance/list?serviceName=bench-wrk" \
                "$OUT_DIR/$label-$run-wrk-list.json"
            stop_server
        fi
        # Client scenarios, one fresh server each (so a scenario does not
        # pay for the state the previous one left).
        i=0
        for scenario in "register" "list" "config-get" "publish --via http,grpc" \
            "push --subscribers $FAN" "listen --listeners $FAN"; do
            i=$((i + 1))
            port="$(free_pair)"
            "start_$label" "$port" "$work/d$i"
            # shellcheck disable=SC2086
            "$BENCH" --server "127.0.0.1:$port" --label "$label" "${COMMON[@]}" \
                --json "$OUT_DIR/$label-$run-$i.json" $scenario >/dev/null
            stop_server
        done
        sleep 5 # let the fan-out scenarios' sockets close before measuring memory
        port="$(free_pair)"
        "start_$label" "$port" "$work/fp"
        "$BENCH" --server "127.0.0.1:$port" --label "$label" \
            --json "$OUT_DIR/$label-$run-fp.json" \
            footprint --pid "$SERVER_PID" --instances "$LEVELS" --configs 10000 >/dev/null
        stop_server
        port="$(free_pair)"
        "start_$label" "$port" "$work/conn"
        "$BENCH" --server "127.0.0.1:$port" --label "$label" \
            --json "$OUT_DIR/$label-$run-conn.json" \
            connections --connections 5000 --pid "$SERVER_PID" >/dev/null
        stop_server
        rm -rf "$work"
    done
    # The durable-publish ceiling: redb commits with an fsync, in batches
    # of the size Nocas's group commit formed in this run's gRPC publish
    # (its `batch` metric; 1 when Nocas was not measured).
    batch="$(python3 - "$OUT_DIR/nocas-$run-4.json" <<'PY' 2>/dev/null || echo 1
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
b = [m["value"] for r in rows if r["scenario"] == "publish" and r["variant"] == "grpc"
     for m in r["metrics"] if m["name"] == "batch"]
print(max(1, round(b[0])) if b else 1)
PY
)"
    work="$(mktemp -d)" # where the servers kept their data
    "$BENCH" --label ceiling --seconds "$BENCH_SECONDS" --json "$OUT_DIR/ceiling-$run-redb.json" \
        redb-publish --dir "$work" --batch "$batch" --size 256 >/dev/null
    rm -rf "$work"
done

echo "== start-up"
port="$(free_pair)"
if [[ " $TARGETS " == *" nocas "* ]]; then
    "$BENCH" --server "127.0.0.1:$port" --label nocas --json "$OUT_DIR/nocas-startup.json" \
        startup --runs 9 -- "$NOCAS" server --bind 127.0.0.1 --http-port "$port" \
        --grpc-port "$((port + 1000))" --data-dir "{dir}/data" >/dev/null
fi
if [[ " $TARGETS " == *" rnacos "* ]]; then
    console="$(free_port)"
    "$BENCH" --server "127.0.0.1:$port" --label rnacos --json "$OUT_DIR/rnacos-startup.json" \
        startup --runs 9 -- env RNACOS_HTTP_PORT="$port" RNACOS_GRPC_PORT="$((port + 1000))" \
        RNACOS_HTTP_CONSOLE_PORT="$console" \
        RNACOS_DATA_DIR="{dir}/data" "$RNACOS" >/dev/null
fi

echo "== report"
table="$("$BENCH" report --ours nocas --peer rnacos --ceiling-label ceiling "$OUT_DIR"/*.json)"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
machine="$(nproc) cores ($cpu), $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)"
rversion="$("$RNACOS" --version 2>/dev/null | head -1 || echo "rnacos 0.8.8")"
{
    echo "<!-- bench:begin (written by scripts/bench-vs-rnacos.sh) -->"
    echo
    echo "Run on $(date -u +%Y-%m-%d): \`RUNS=$RUNS BENCH_SECONDS=$BENCH_SECONDS WORKERS=$WORKERS SCALE=$SCALE scripts/bench-vs-rnacos.sh\`"
    echo
    echo "Machine: $machine. Nocas $(git rev-parse --short HEAD), peer: $rversion."
    echo "Everything (servers and load generator) shares this machine; medians of $RUNS runs."
    echo
    echo "$table"
    echo
    echo "<!-- bench:end -->"
} >"$OUT_DIR/table.md"
doc="$ROOT/docs/benchmarks.md"
if [[ -f "$doc" ]] && grep -q 'bench:begin' "$doc"; then
    python3 - "$doc" "$OUT_DIR/table.md" <<'EOF'
import re, sys
doc, table = sys.argv[1], open(sys.argv[2]).read().rstrip("\n")
text = open(doc).read()
text = re.sub(r"<!-- bench:begin.*?<!-- bench:end -->", lambda _: table, text, flags=re.S)
open(doc, "w").write(text)
EOF
else
    mkdir -p "$(dirname "$doc")"
    cat "$OUT_DIR/table.md" >>"$doc"
fi
echo "wrote $doc (raw results in $OUT_DIR)"
