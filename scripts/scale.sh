#!/usr/bin/env bash
# What durable state costs at scale (docs/benchmarks.md, "State at scale").
#
# NODES (2, or 1 where the disk is short) nodes are filled with CONFIGS
# configs of SIZE bytes, each published VERSIONS times (so VERSIONS history
# records each), and INSTANCES persistent instances. Then: a snapshot on the
# leader (Nacos's `doSnapshot`), a restart of a node (start to ready; the
# follower, or the only node), memory, and one more node added that catches
# up by snapshot; at the end every node's content digest must agree. Prints
# one markdown row (and the raw numbers).
#
#   CONFIGS=10000 scripts/scale.sh          # release binaries must be built
#
# Loopback only; everything lives under WORK (a fresh temporary directory
# unless given) and is removed at the end unless KEEP=1.
set -euo pipefail

CONFIGS=${CONFIGS:-10000}
VERSIONS=${VERSIONS:-10}
SIZE=${SIZE:-4096}
INSTANCES=${INSTANCES:-$CONFIGS}
WORKERS=${WORKERS:-32}
NODES=${NODES:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-$ROOT/target/release}
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/nocas-scale.XXXXXX")}
mkdir -p "$WORK"

read -r -a PORTS <<<"$(python3 - <<'EOF'
import socket
socks = []
for _ in range(6):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)"
# Node i: HTTP PORTS[2i-2] (gRPC = HTTP + 1000 must be free too: checked below), Raft PORTS[2i-1].
addr() { echo "127.0.0.1:${PORTS[$((2 * $1 - 2))]}:${PORTS[$((2 * $1 - 1))]}"; }
http() { echo "127.0.0.1:${PORTS[$((2 * $1 - 2))]}"; }
if [ "$NODES" = 1 ]; then M12="$(addr 1)"; else M12="$(addr 1),$(addr 2)"; fi
NEW=$((NODES + 1))
M123="$M12,$(addr $NEW)"

# Probes of the persistent instances (made-up addresses) are pushed out of
# the run: their health flips would be writes of their own.
cat >"$WORK/nocas.toml" <<'EOF'
[raft]
membership_timeout_ms = 3600000
snapshot_timeout_ms = 3600000
keep_logs = 100
[naming]
probe_interval_ms = 3600000
EOF

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

start() { # start NODE MEMBERS [extra args...]
  local i=$1 m=$2
  shift 2
  NOCAS_LOG=${NOCAS_LOG:-warn,nocas_cluster=info} "$B/nocas" server --members "$m" --node-id "$i" \
    --data-dir "$WORK/n$i" --no-console --config "$WORK/nocas.toml" "$@" \
    >>"$WORK/n$i.out" 2>>"$WORK/n$i.log" &
  PID[$i]=$!
  PIDS+=("$!")
}

now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$(now)"; }

ready() { # ready NODE [PATH]: wait until the node answers ready (or PATH)
  local path=${2:-/nacos/v1/console/health/readiness}
  for _ in $(seq 1 36000); do
    if curl -sf "http://$(http "$1")$path" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "node $1 never became ready" >&2
  exit 1
}

leader() {
  curl -sf "http://$(http 1)/nacos/v2/core/cluster/node/self" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["extendInfo"]["raftMetaData"]["leader"])'
}

kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
mib() { python3 -c "import sys; print(f'{int(sys.argv[1]) / 1024:.0f}')" "$1"; }
metric() { curl -sf "http://$(http "$1")/metrics" | awk -v n="$2" '$1 == n {print $2}'; }
digest() { curl -sf "http://$(http "$1")/nacos/v2/core/cluster/node/self/digest" |
  python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]; print(d.get("digest", d) if isinstance(d, dict) else d)'; }

declare -A PID
for i in $(seq 1 "$NODES"); do start "$i" "$M12"; done
for i in $(seq 1 "$NODES"); do ready "$i"; done
for _ in $(seq 1 300); do L=$(leader 2>/dev/null || true); [ -n "${L:-}" ] && [ "$L" != "null" ] && break; sleep 0.1; done
echo "leader: node $L; work dir $WORK" >&2

t=$(now)
"$B/nocas-bench" --server "$(http "$L")" --workers "$WORKERS" fill \
  --configs "$CONFIGS" --versions "$VERSIONS" --size "$SIZE" --instances "$INSTANCES" >"$WORK/fill.md"
FILL_S=$(since "$t")
cat "$WORK/fill.md" >&2

RSS_FILLED=$(kib "${PID[$L]}" VmRSS)
t=$(now)
curl -sf -XPOST "http://$(http "$L")/nacos/v2/core/ops/raft" -H 'content-type: application/json' \
  -d '{"command":"doSnapshot"}' >/dev/null
SNAP_S=$(since "$t")
SNAP_BYTES=$(metric "$L" nocas_raft_snapshot_bytes)
HWM_LEADER=$(kib "${PID[$L]}" VmHWM)

if [ "$NODES" = 1 ]; then F=1; else F=$((3 - L)); fi
kill "${PID[$F]}"
wait "${PID[$F]}" 2>/dev/null || true
t=$(now)
start "$F" "$M12"
ready "$F"
START_S=$(since "$t")
RSS_RESTARTED=$(kib "${PID[$F]}" VmRSS)

ready "$L"
start "$NEW" "$M123" --join
ready "$NEW" /nacos/v2/console/health/liveness
t=$(now)
"$B/nocas" cluster --server "$(http "$L")" add --member "$(addr "$NEW")" --node-id "$NEW" >&2
CATCHUP_S=$(since "$t")
INSTALL_S=$(metric "$NEW" nocas_raft_snapshot_install_seconds_sum)
RSS_NEW=$(kib "${PID[$NEW]}" VmRSS)
HWM_NEW=$(kib "${PID[$NEW]}" VmHWM)
DISK=$(du -sm "$WORK/n$L" | cut -f1)

D1=$(digest 1)
for i in $(seq 2 "$NEW"); do
  D=$(digest "$i")
  if [ "$D" != "$D1" ]; then
    echo "digests differ: node 1 $D1, node $i $D" >&2
    exit 1
  fi
done

cat <<EOF
| nodes + new | configs x versions | instances | fill s | snapshot MiB | doSnapshot s | restart to ready s | new node caught up s (install s) | leader RSS / peak MiB | new node RSS / peak MiB | data dir MiB |
|---|---|---|---|---|---|---|---|---|---|---|
| $NODES + 1 | $CONFIGS x $VERSIONS ($SIZE B) | $INSTANCES | $FILL_S | $(python3 -c "print(f'{float(\"$SNAP_BYTES\") / 1048576:.0f}')") | $SNAP_S | $START_S | $CATCHUP_S ($(python3 -c "print(f'{float(\"${INSTALL_S:-0}\"):.1f}')")) | $(mib "$RSS_FILLED") / $(mib "$HWM_LEADER") | $(mib "$RSS_NEW") / $(mib "$HWM_NEW") | $DISK |
EOF
echo "restarted follower RSS $(mib "$RSS_RESTARTED") MiB; digests agree ($D1)" >&2
