# Shared by the benchmark scripts (sourced, not run): builds the release
# binaries, installs r-nacos when missing, and starts and stops one server
# at a time on free loopback ports. Expects ROOT and TARGET_DIR set.

echo "== building nocas and nocas-bench (release)"
cargo build --release --quiet -p nocas -p nocas-bench
NOCAS="$TARGET_DIR/release/nocas"
BENCH="$TARGET_DIR/release/nocas-bench"

if [[ -z "${RNACOS:-}" ]]; then
    RNACOS="$ROOT/target/rnacos/bin/rnacos"
    if [[ ! -x "$RNACOS" ]]; then
        echo "== installing r-nacos 0.8.8"
        cargo install rnacos --version 0.8.8 --locked --root "$ROOT/target/rnacos"
    fi
fi

# Many connections on both sides.
ulimit -n "$(ulimit -Hn)" || true

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# A free HTTP port whose +1000 (the gRPC port) is free too.
free_pair() {
    local p
    while true; do
        p="$(free_port)"
        if (( p < 64000 )) && python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1',$((p + 1000))))" 2>/dev/null; then
            echo "$p"
            return
        fi
    done
}

wait_http() { # port
    for _ in $(seq 1 3000); do
        if curl -fs -o /dev/null "http://127.0.0.1:$1/nacos/v1/ns/instance/list?serviceName=probe"; then
            return 0
        fi
        sleep 0.01
    done
    echo "server on $1 never answered" >&2
    return 1
}

SERVER_PID=""
stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
trap stop_server EXIT

start_nocas() { # http_port data_dir
    "$NOCAS" server --bind 127.0.0.1 --http-port "$1" --grpc-port "$(($1 + 1000))" \
        --data-dir "$2" >"$2.log" 2>&1 &
    SERVER_PID=$!
    wait_http "$1"
}

# r-nacos 0.8.8 sometimes (about 1 start in 10 on a fresh data dir) loses
# a race in its Raft apply actor (a panic in raftapply.rs) and then answers
# `true` to config writes it never applies: start it again until a probe
# config reads back.
start_rnacos() { # http_port data_dir
    local attempt
    for attempt in 1 2 3 4 5; do
        rm -rf "$2"
        mkdir -p "$2"
        (cd "$2" && RNACOS_HTTP_PORT="$1" RNACOS_GRPC_PORT="$(($1 + 1000))" \
            RNACOS_HTTP_CONSOLE_PORT="$(free_port)" RNACOS_DATA_DIR="$2/data" \
            exec "$RNACOS" >"$2.log" 2>&1) &
        SERVER_PID=$!
        wait_http "$1"
        curl -fs -o /dev/null -X POST "http://127.0.0.1:$1/nacos/v1/cs/configs" \
            -d "dataId=bench-probe&group=DEFAULT_GROUP&content=ok" || true
        for _ in $(seq 1 100); do
            if [[ "$(curl -fs "http://127.0.0.1:$1/nacos/v1/cs/configs?dataId=bench-probe&group=DEFAULT_GROUP")" == ok ]]; then
                return 0
            fi
            sleep 0.01
        done
        echo "r-nacos start $attempt lost its Raft apply actor; starting again" >&2
        stop_server
    done
    return 1
}

start_ceiling() { # http_port [durable_dir]
    "$BENCH" --server "127.0.0.1:$1" ceiling-server --size 1024 \
        ${2:+--durable-dir "$2"} >/dev/null &
    SERVER_PID=$!
    wait_http "$1"
}

