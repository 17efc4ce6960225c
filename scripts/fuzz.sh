#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (not part of CI).
#
#   FUZZ_SECONDS=120   time per target
#   TARGETS="grpc_payload http_params"
#
# Installs cargo-fuzz when missing. libFuzzer needs nightly-only compiler
# flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT/fuzz"
SECS="${FUZZ_SECONDS:-120}"
TARGETS="${TARGETS:-grpc_payload http_params}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
status=0
for t in $TARGETS; do
    echo "== fuzzing $t for ${SECS}s"
    mkdir -p "corpus/$t"
    if cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$SECS" -rss_limit_mb=4096 2>&1 \
        | tee "/tmp/nocas-fuzz-$t.log" | grep -E "^(#[0-9]+[[:space:]]+DONE|Done|==[0-9]+==ERROR|SUMMARY)|panicked"; then
        :
    fi
    if grep -qE "==[0-9]+==ERROR|panicked|Test unit written" "/tmp/nocas-fuzz-$t.log"; then
        echo "!! $t found a failure: see /tmp/nocas-fuzz-$t.log and fuzz/artifacts/$t"
        status=1
    else
        echo "ok $t: $(grep -E '^#[0-9]+[[:space:]]+DONE' "/tmp/nocas-fuzz-$t.log" | tail -1)"
    fi
done
exit $status
