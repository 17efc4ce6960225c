#!/usr/bin/env bash
# Network-partition test of a 3-node Nocas cluster, each node in its own
# network namespace (ip netns + veth + a bridge), bounded in time.
#
#   sudo scripts/partition-test.sh [path/to/nocas]
#
# Steps: form the cluster; write; cut the leader off; the majority elects a
# new leader and takes writes while the isolated node refuses them (503
# within 5 s) but still serves reads; heal; every node converges to the same
# state. Everything it creates (namespaces, processes, files) is removed on
# exit. Needs root and iproute2; touches nothing outside its namespaces.
set -euo pipefail

BIN=${1:-target/release/nocas}
PREFIX=nocaspt
NET=10.77.0
DEADLINE=$((SECONDS + 180))
WORK=$(mktemp -d)
PIDS=()

log() { printf '[partition] %s\n' "$*"; }
fail() { log "FAIL: $*"; exit 1; }

cleanup() {
  for pid in "${PIDS[@]:-}"; do kill -9 "$pid" 2>/dev/null || true; done
  for i in 1 2 3 br; do ip netns del "$PREFIX-$i" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || fail "needs root (network namespaces)"
[ -x "$BIN" ] || { log "building $BIN"; cargo build --release --quiet; }

# Topology: namespace br holds a bridge; nodes 1..3 hang off it by veth.
ip netns add "$PREFIX-br"
ip -n "$PREFIX-br" link add br0 type bridge
ip -n "$PREFIX-br" link set br0 up
for i in 1 2 3; do
  ns="$PREFIX-$i"
  ip netns add "$ns"
  ip link add "v$i" netns "$ns" type veth peer name "b$i" netns "$PREFIX-br"
  ip -n "$ns" addr add "$NET.$i/24" dev "v$i"
  ip -n "$ns" link set "v$i" up
  ip -n "$ns" link set lo up
  ip -n "$PREFIX-br" link set "b$i" master br0
  ip -n "$PREFIX-br" link set "b$i" up
done

MEMBERS="$NET.1:8848,$NET.2:8848,$NET.3:8848"
cat > "$WORK/fast.toml" <<'EOF'
[raft]
heartbeat_ms = 100
election_min_ms = 600
election_max_ms = 1200
write_timeout_ms = 4000
[cluster.soft]
digest_interval_ms = 200
handover_ms = 2000
EOF

for i in 1 2 3; do
  ip netns exec "$PREFIX-$i" "$BIN" server --bind "$NET.$i" --insecure-no-auth --members "$MEMBERS" --node-id "$i" \
    --data-dir "$WORK/n$i" --config "$WORK/fast.toml" --log warn >"$WORK/n$i.out" 2>"$WORK/n$i.err" &
  PIDS+=($!)
  disown
done

# curl from inside node i's namespace.
api() { local i=$1; shift; ip netns exec "$PREFIX-$i" curl -s -m 6 "$@"; }
status_of() { api "$1" "http://$NET.$1:8848/nacos/v2/core/cluster/node/self" || true; }
leader_seen_by() { status_of "$1" | sed -n 's/.*"leader":\([0-9]*\).*/\1/p'; }
publish() { # node data content -> HTTP status
  api "$1" -o /dev/null -w '%{http_code}' -X POST "http://$NET.$1:8848/nacos/v1/cs/configs" \
    -d "dataId=$2&group=PT&content=$3" || echo 000
}
read_config() { api "$1" -f "http://$NET.$1:8848/nacos/v1/cs/configs?dataId=$2&group=PT" || true; }
digest_of() { api "$1" "http://$NET.$1:8848/nacos/v2/core/cluster/node/self/digest" | sed -n 's/.*"digest":"\([0-9a-f]*\)".*"lastApplied":\([0-9]*\).*/\1@\2/p'; }
wait_for() { # description, command...
  local what=$1; shift
  until "$@"; do
    [ $SECONDS -lt $DEADLINE ] || fail "timed out waiting for: $what"
    sleep 0.2
  done
}

has_leader() { LEADER=$(leader_seen_by 1); [ -n "$LEADER" ]; }
wait_for "a leader" has_leader
log "cluster formed, leader is node $LEADER"
[ "$(publish 1 before v1)" = 200 ] || fail "write before the partition"

# Cut the leader off the bridge.
OLD=$LEADER
ip -n "$PREFIX-br" link set "b$OLD" down
log "node $OLD isolated"
OTHER=$(( OLD % 3 + 1 ))
new_leader() { local l; l=$(leader_seen_by "$OTHER"); [ -n "$l" ] && [ "$l" != "$OLD" ]; }
wait_for "a new leader on the majority side" new_leader
majority_writes() { [ "$(publish "$OTHER" during v2)" = 200 ]; }
wait_for "writes on the majority side" majority_writes
log "majority (node $OTHER's side) elected node $(leader_seen_by "$OTHER") and takes writes"

start=$SECONDS
code=$(publish "$OLD" isolated v3)
[ "$code" = 503 ] || fail "isolated node answered $code to a write, expected 503"
[ $((SECONDS - start)) -le 5 ] || fail "isolated write took more than 5 s"
[ "$(read_config "$OLD" before)" = v1 ] || fail "isolated node no longer serves reads"
log "isolated node refuses writes (503) and still serves reads"

# Heal.
ip -n "$PREFIX-br" link set "b$OLD" up
log "partition healed"
converged() {
  local d1 d2 d3
  d1=$(digest_of 1); d2=$(digest_of 2); d3=$(digest_of 3)
  [ -n "$d1" ] && [ "$d1" = "$d2" ] && [ "$d2" = "$d3" ]
}
wait_for "all nodes to converge" converged
[ "$(read_config "$OLD" during)" = v2 ] || fail "healed node lacks the majority's write"
[ -z "$(read_config "$OLD" isolated)" ] || fail "the isolated node's refused write appeared"
log "PASS: converged on $(digest_of 1) in ${SECONDS}s"
