#!/usr/bin/env bash
# Runs the whole test suite, after setting up what the interop tests need:
# a Python virtualenv with the official Nacos Python SDK, the npm `nacos`
# package, the Java and Go SDK clients (built with Maven and Go), and
# Playwright with Debian's Chromium for the web console's browser tests,
# and r-nacos 0.8.8 as a migration source. Safe to run again: set-up steps
# are skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
# Where the time goes (CI must stay well inside its limit).
step() { echo "scripts/test.sh: ${SECONDS}s: $*" >&2; }

# r-nacos 0.8.8, the source `nocas migrate` is tested against, installed
# once into target/rnacos-test. Unoptimized and without debug info: the
# test needs it to work, not to be fast, and this build takes about a
# third of the time of a release build (the benchmark script installs its own
# release build into target/rnacos). It is the longest set-up step, so it
# builds in the background, beside the steps below (their downloads and
# the gaps of their builds), and the tests wait for it.
rnacos_pid=""
if [ ! -x target/rnacos-test/bin/rnacos ] && [ ! -x target/rnacos/bin/rnacos ]; then
  mkdir -p target
  CARGO_PROFILE_DEV_DEBUG=0 cargo install rnacos --version 0.8.8 --locked --debug \
    --root target/rnacos-test --target-dir target/rnacos-build --quiet \
    >target/rnacos-build.log 2>&1 &
  rnacos_pid=$!
  trap '[ -z "$rnacos_pid" ] || kill "$rnacos_pid" 2>/dev/null || true' EXIT
fi

step "Python SDKs"

# Official Python SDK, HTTP v1 client (nacos.NacosClient). Its HTTP client
# needs only the standard library, so its gRPC dependencies are skipped.
if [ ! -x .venv/sdk-v1/bin/python ]; then
  python3 -m venv .venv/sdk-v1
fi
.venv/sdk-v1/bin/python -c 'import nacos' 2>/dev/null ||
  .venv/sdk-v1/bin/pip install --quiet --disable-pip-version-check --no-deps 'nacos-sdk-python==2.0.11'

# Official Python SDK 3.x, gRPC client (v2.nacos), with its dependencies.
if [ ! -x .venv/sdk-v3/bin/python ]; then
  python3 -m venv .venv/sdk-v3
fi
.venv/sdk-v3/bin/python -c 'import v2.nacos' 2>/dev/null ||
  .venv/sdk-v3/bin/pip install --quiet --disable-pip-version-check 'nacos-sdk-python==3.2.0'

# The web console's browser tests: Playwright for Python (from PyPI, in the
# same virtualenv, as they drive the SDK beside the browser) and Debian's
# headless Chromium. Playwright never downloads a browser here: the tests
# point it at /usr/bin/chromium.
.venv/sdk-v3/bin/python -c 'import playwright' 2>/dev/null ||
  .venv/sdk-v3/bin/pip install --quiet --disable-pip-version-check 'playwright==1.65.2'
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null ||
      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
  else
    echo "scripts/test.sh: the console tests need Chromium at /usr/bin/chromium (Debian: apt-get install chromium)" >&2
    exit 1
  fi
fi

step "Node SDK"
# Official Node.js SDK (npm `nacos`, HTTP v1), pinned by package-lock.json.
if [ ! -d tests/interop/node/node_modules/nacos ]; then
  (cd tests/interop/node && npm ci --no-audit --no-fund --loglevel=error)
fi

# The official Java client (Maven) and Go client (Go modules), built into
# the small programs the cluster fault tests run. Both toolchains are needed.
command -v mvn >/dev/null && command -v java >/dev/null || {
  echo "scripts/test.sh: Maven and a JDK (17+) are needed for the Java interop tests; install them (Debian: apt-get install maven openjdk-17-jdk-headless)" >&2
  exit 1
}
command -v go >/dev/null || {
  echo "scripts/test.sh: Go is needed for the Go interop tests; install it (Debian: apt-get install golang)" >&2
  exit 1
}
step "Java programs"
(cd tests/interop/java && mvn -q -B package)
# The feature program, once per client line: newest 2.x and newest 3.x.
(cd tests/interop/java/features &&
  mvn -q -B package -Dnacos.version=2.5.1 -Dout=features-2 &&
  mvn -q -B package -Dnacos.version=3.2.1-2026.03.30 -Dout=features-3)
# The v3 admin program (nacos-maintainer-client): target/maintainer.jar + target/maintainer-lib/.
(cd tests/interop/java/maintainer && mvn -q -B package)
# A Spring Boot app with Spring Cloud Alibaba's discovery and config starters.
(cd tests/interop/java/spring && mvn -q -B package -DskipTests)
step "Go programs"
(cd tests/interop/go && go build -o soak-client . && go build -o features ./cmd/features)
(cd examples/go-gin && go build -o go-gin .)

# The `nacos-sdk` crate with its `tls` feature, as its own workspace (the
# feature would turn TLS on for every nacos-sdk client of the main build).
# It links OpenSSL (the crate's HTTPS login uses native-tls).
if ! pkg-config --exists openssl 2>/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q libssl-dev pkg-config >/dev/null ||
      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q libssl-dev pkg-config >/dev/null; }
  else
    echo "scripts/test.sh: the TLS interop test needs OpenSSL headers (Debian: apt-get install libssl-dev pkg-config)" >&2
    exit 1
  fi
fi
step "nacos-sdk with TLS"
cargo build --manifest-path tests/interop/rust-tls/Cargo.toml --target-dir target/rust-tls

step "r-nacos (waiting for its background build)"
if [ -n "$rnacos_pid" ]; then
  if ! wait "$rnacos_pid"; then
    tail -n 40 target/rnacos-build.log >&2
    echo "scripts/test.sh: installing r-nacos 0.8.8 failed (log: target/rnacos-build.log)" >&2
    exit 1
  fi
  rnacos_pid=""
fi

# The example programs the nocas-axum tests run as processes
# (`--all-targets` builds examples as test harnesses, not programs).
step "axum examples"
cargo build -p nocas-axum --examples
step "tests"
cargo test --workspace --all-targets "$@"
step "doc tests"
cargo test --workspace --doc
step "done"
