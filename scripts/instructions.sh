#!/usr/bin/env bash
# User-space instructions per request of Nocas and of the ceiling server,
# counted by callgrind: unlike a rate on a shared two-core machine, the
# count repeats to within a fraction of a percent from run to run.
#
#   scripts/instructions.sh [SCENARIO] [COUNT]
#
# SCENARIO is a nocas-bench client scenario with its options, quoted
# (default "config-get --via http"); COUNT requests are counted (default
# 3000) after 200 unmeasured ones. Each server runs under
# `valgrind --tool=callgrind --instr-atstart=no`; instrumentation is
# switched on only around the measured requests, so start-up is not
# counted. Needs valgrind (`apt-get install valgrind`) and the release
# binaries (`cargo build --release -p nocas -p nocas-bench`). The kernel's
# share (the socket calls, the same on both sides) is not counted.
#
# Prints one line per server: instructions, requests and instructions per
# request. Not run by CI: a benchmark aid, as scripts/bench-vs-rnacos.sh.
set -euo pipefail

SCENARIO="${1:-config-get --via http}"
COUNT="${2:-3000}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NOCAS="${NOCAS:-$ROOT/target/release/nocas}"
BENCH="${BENCH:-$ROOT/target/release/nocas-bench}"
command -v valgrind >/dev/null || {
    echo "valgrind is needed: apt-get install valgrind" >&2
    exit 1
}
for b in "$NOCAS" "$BENCH"; do
    [[ -x "$b" ]] || {
        echo "$b is missing: cargo build --release -p nocas -p nocas-bench" >&2
        exit 1
    }
done

WORK="$(mktemp -d)"
PID=""
cleanup() {
    [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

measure() {
    local label="$1"
    local port grpc out
    port="$(free_port)"
    grpc="$(free_port)"
    out="$WORK/$label.callgrind"
    local cg=(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out")
    if [[ "$label" == ceiling ]]; then
        "${cg[@]}" "$BENCH" --server "127.0.0.1:$port" --grpc "127.0.0.1:$grpc" \
            ceiling-server >"$WORK/$label.log" 2>&1 &
    else
        "${cg[@]}" "$NOCAS" server --bind 127.0.0.1 --http-port "$port" \
            --grpc-port "$grpc" --data-dir "$WORK/data" >"$WORK/$label.log" 2>&1 &
    fi
    PID=$!
    local up=0
    for _ in $(seq 1 600); do
        if curl -fs -o /dev/null "http://127.0.0.1:$port/nacos/v1/ns/instance/list?serviceName=probe"; then
            up=1
            break
        fi
        sleep 0.1
    done
    ((up)) || {
        echo "$label did not start; its log:" >&2
        cat "$WORK/$label.log" >&2
        exit 1
    }
    local common=(--server "127.0.0.1:$port" --grpc "127.0.0.1:$grpc" --workers 4
        --seconds 600 --warmup-ms 0)
    # shellcheck disable=SC2086
    "$BENCH" "${common[@]}" --count 200 $SCENARIO >/dev/null
    callgrind_control -i on "$PID" >/dev/null 2>&1
    # shellcheck disable=SC2086
    "$BENCH" "${common[@]}" --count "$COUNT" $SCENARIO >/dev/null
    callgrind_control -d "$PID" >/dev/null 2>&1
    callgrind_control -i off "$PID" >/dev/null 2>&1
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
    local total
    total="$(cat "$out".* | sed -n 's/^summary: *//p; s/^totals: *//p' | head -1)"
    if [[ -z "$total" ]]; then
        total="$(callgrind_annotate "$out".* 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d , | head -1)"
    fi
    echo "$label $SCENARIO: $total instructions / $COUNT requests = $((total / COUNT)) per request"
}

measure ceiling
measure nocas
