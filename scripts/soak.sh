#!/usr/bin/env bash
# Soak: a three-node Nocas cluster on loopback under churn for SOAK_MINUTES
# (default 30): gRPC clients coming and going (register, subscribe, listen,
# leave), config publishes and persistent instance changes. Every minute
# each node's RSS, open files, threads, runtime tasks, connections and
# push latency (count, mean, p99) go into a CSV and an SVG plot; the run
# passes when they stay flat (see `nocas-bench soak --help`). Not part of
# scripts/test.sh. Results: docs/soak/ (SOAK_OUT to write elsewhere).
#
#   scripts/soak.sh                 # 30 minutes, 100 churning clients per node
#   SOAK_MINUTES=5 SOAK_CLIENTS=50 scripts/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES="${SOAK_MINUTES:-30}"
CLIENTS="${SOAK_CLIENTS:-100}"
OUT="${SOAK_OUT:-docs/soak}"
BASE_PORT="${SOAK_BASE_PORT:-18848}"

cargo build --release -q -p nocas -p nocas-bench
mkdir -p "$OUT"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

members=""
for i in 1 2 3; do
  http=$((BASE_PORT + (i - 1) * 10))
  members="${members:+$members,}127.0.0.1:$http:$((http - 1000))"
done
for i in 1 2 3; do
  http=$((BASE_PORT + (i - 1) * 10))
  NOCAS_LOG=warn target/release/nocas server --members "$members" --node-id "$i" \
    --data-dir "$work/n$i" --no-console >"$work/n$i.out" 2>"$work/n$i.log" &
  pids+=("$!")
done
servers=""
for i in 1 2 3; do
  http=$((BASE_PORT + (i - 1) * 10))
  for _ in $(seq 1 300); do
    grep -q "nocas listening" "$work/n$i.out" 2>/dev/null && break
    sleep 0.1
  done
  grep -q "nocas listening" "$work/n$i.out" || { echo "node $i did not start:"; cat "$work/n$i.log"; exit 1; }
  servers="${servers:+$servers,}127.0.0.1:$http"
done
pidlist="$(IFS=,; echo "${pids[*]}")"
echo "soak: $MINUTES minutes against $servers (pids $pidlist)"
started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
set +e
target/release/nocas-bench soak --servers "$servers" --pids "$pidlist" \
  --minutes "$MINUTES" --clients "$CLIENTS" \
  --csv "$OUT/soak.csv" --svg "$OUT/soak.svg" | tee "$work/summary.txt"
status=${PIPESTATUS[0]}
set -e
{
  echo "# Soak result"
  echo
  echo "Run $started by \`scripts/soak.sh\` ($MINUTES minutes, $CLIENTS churning gRPC clients per node, 3 nodes, release build, $(nproc) cores)."
  echo "Per-minute samples: [soak.csv](soak.csv); plot: [soak.svg](soak.svg)."
  echo
  echo '```'
  cat "$work/summary.txt"
  echo '```'
} >"$OUT/README.md"
exit "$status"
