#!/usr/bin/env bash
# Curves, side by side: how register, list, config get and push (gRPC)
# grow with the services or configs a load is spread over (K = 1, 10,
# 100) and with the load (×1, ×10, ×100: 4/40/400 closed-loop
# connections, 10/100/1,000 subscriber connections), for Nocas, r-nacos and
# the ceiling server, each on a fresh server per run, all on loopback.
#
# Writes the table between the curve markers of docs/benchmarks.md and
# keeps the raw JSON under $OUT_DIR.
#
# Settings (environment):
#   RUNS=1             repeated runs; the table quotes their medians
#   BENCH_SECONDS=2    measured seconds of each closed-loop point
#   KEYS=1,10,100      services / configs
#   LOADS=1,10,100     load multipliers
#   ROUNDS=5           push rounds per point
#   TARGETS="ceiling nocas rnacos"
#   OUT_DIR=target/curves
#   KEEP=0             1: keep earlier result files in OUT_DIR (re-measure
#                      only TARGETS=nocas after a change)
#   RNACOS=path        an r-nacos binary (as in bench-vs-rnacos.sh)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
RUNS="${RUNS:-1}"
BENCH_SECONDS="${BENCH_SECONDS:-2}"
KEYS="${KEYS:-1,10,100}"
LOADS="${LOADS:-1,10,100}"
ROUNDS="${ROUNDS:-5}"
TARGETS="${TARGETS:-ceiling nocas rnacos}"
OUT_DIR="${OUT_DIR:-$ROOT/target/curves}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$OUT_DIR"
if [[ "${KEEP:-0}" != 1 ]]; then
    rm -f "$OUT_DIR"/*.json
fi

# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"

for run in $(seq 1 "$RUNS"); do
    for label in $TARGETS; do
        echo "== run $run of $RUNS: $label"
        sleep 5 # the previous server's sockets close first
        work="$(mktemp -d)"
        port="$(free_pair)"
        if [[ "$label" == ceiling ]]; then
            start_ceiling "$port" # nothing durable: the curves only read and register
        else
            "start_$label" "$port" "$work/d"
        fi
        "$BENCH" --server "127.0.0.1:$port" --label "$label" --seconds "$BENCH_SECONDS" \
            --json "$OUT_DIR/$label-$run.json" \
            curve --keys "$KEYS" --loads "$LOADS" --rounds "$ROUNDS" >/dev/null
        stop_server
        rm -rf "$work"
    done
done

echo "== report"
table="$("$BENCH" report --ours nocas --peer rnacos --ceiling-label ceiling "$OUT_DIR"/*.json)"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
machine="$(nproc) cores ($cpu), $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)"
{
    echo "<!-- curve:begin (written by scripts/curves.sh) -->"
    echo
    echo "Run on $(date -u +%Y-%m-%d): \`RUNS=$RUNS BENCH_SECONDS=$BENCH_SECONDS KEYS=$KEYS LOADS=$LOADS ROUNDS=$ROUNDS scripts/curves.sh\`"
    echo
    echo "Machine: $machine. Nocas $(git rev-parse --short HEAD). Medians of $RUNS runs."
    echo
    echo "$table"
    echo
    echo "<!-- curve:end -->"
} >"$OUT_DIR/table.md"
doc="$ROOT/docs/benchmarks.md"
if grep -q 'curve:begin' "$doc"; then
    python3 - "$doc" "$OUT_DIR/table.md" <<'EOF'
import re, sys
doc, table = sys.argv[1], open(sys.argv[2]).read().rstrip("\n")
text = open(doc).read()
text = re.sub(r"<!-- curve:begin.*?<!-- curve:end -->", lambda _: table, text, flags=re.S)
open(doc, "w").write(text)
EOF
else
    printf '\n%s\n' "$(cat "$OUT_DIR/table.md")" >>"$doc"
fi
echo "wrote $doc (raw results in $OUT_DIR)"
