#!/usr/bin/env bash
# Throughput, printed as ratios measured in one run with one load generator (wrk): straight to
# the upstream; through our gateway with no filter, with the no-op conformance filter and with
# the OIDC filter authenticating every request by its session cookie; and through the peer,
# Apache with mod_auth_openidc (Debian packages), without auth and authenticating by its own
# client-cookie session. Every proxy forwards to the same upstream. bench/README.md tells how
# to read the table.
#
#   bench/run.sh                      # defaults below; override with the environment:
#   DURATION=10 CONNECTIONS=32 ROUNDS=3 WORKERS=1 PEER=auto bench/run.sh
#   SESSIONS=10000 TOKENS=1000 LOAD_DURATION=300 LOAD_CONNECTIONS=64 bench/run.sh
#
# Besides the one-cookie scenarios: many sessions (SESSIONS distinct logins on each side,
# picked at random per request by bench/pick-header.lua), bearer JWTs (TOKENS distinct RS256
# and ES256 access tokens), each against a baseline run with the same wrk script; then the
# load run (LOAD_CONNECTIONS connections for LOAD_DURATION seconds over SESSIONS sessions whose
# tokens expire every LOAD_TOKEN_TTL seconds, so refreshes happen; LOAD_DURATION=0 skips it),
# with the gateway's memory sampled every RSS_INTERVAL seconds (30). KONG_LOAD=yes runs the same
# load run through Kong's engine afterwards (its own logins; its workers' memory sampled).
#
# KONG=auto (default) adds Kong 3.10's Wasm engine when `make kong-engine` has built it (KONG=yes
# requires it, KONG=no skips it): plain nginx configured as Kong writes it (hosts/kong/, no
# filter), and the same nginx with our filter in every scenario above (one cookie, many sessions
# logged in through Kong's engine itself, KONG_SESSIONS of them, default SESSIONS; bearer RS256
# and ES256, cached and cold), one nginx per filter config, KONG_WORKERS worker processes each
# (default WORKERS), each row printed as a ratio to the plain nginx run the same way.
#
# PEER=auto runs the peer when Apache and mod_auth_openidc are installed or apt-get can install
# them; PEER=yes requires it; PEER=no skips it. Each round runs every scenario once, in turn;
# the table shows the median round. The authenticated scenarios log in again right before each
# of their runs, so no run outlives the cookie's touch interval (ours 60 s, the peer's 30 s):
# the cookie wrk sends is never one that every request would have to re-issue.
#
# PROFILE=DIR adds a profile of each of our OIDC scenarios after the table: the gateway is built
# with wasmtime's perf map (`--features profiling`, GATEWAY_WASM_PROFILER=perfmap) and the
# filter with its function names (unstripped, target/profile-wasm), `perf record` samples the
# gateway during one more run of each scenario, and DIR/<scenario>.txt gets the top functions.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-8}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-1}
WRK_THREADS=${WRK_THREADS:-1}
PEER=${PEER:-auto}
CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
OIDC_WASM_GIVEN=${OIDC_WASM:-}
OIDC_WASM=${OIDC_WASM:-$TARGET_DIR/filters/openid_connect.wasm}
SESSIONS=${SESSIONS:-10000}
PEER_SESSIONS=${PEER_SESSIONS:-$SESSIONS}
KONG=${KONG:-auto}
KONG_WORKERS=${KONG_WORKERS:-$WORKERS}
KONG_SESSIONS=${KONG_SESSIONS:-$SESSIONS}
KONG_LOAD=${KONG_LOAD:-no}
TOKENS=${TOKENS:-1000}
LOAD_DURATION=${LOAD_DURATION:-300}
LOAD_CONNECTIONS=${LOAD_CONNECTIONS:-64}
LOAD_TOKEN_TTL=${LOAD_TOKEN_TTL:-120}
APACHE=/usr/sbin/apache2
APACHE_MODULES=/usr/lib/apache2/modules
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)

if [ "$DURATION" -gt 25 ]; then
  echo "DURATION=$DURATION: the peer re-issues its cookie on every request once it is 30 s old; keep runs at 25 s or less" >&2
  exit 2
fi

apt_install() { # packages...
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "$@" >/dev/null \
    || { $SUDO apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)..."
  apt_install wrk
fi

if [ "$PEER" != no ] && { [ ! -x "$APACHE" ] || [ ! -f "$APACHE_MODULES/mod_auth_openidc.so" ]; }; then
  echo "installing the peer: apache2 and libapache2-mod-auth-openidc (Debian packages)..."
  if ! apt_install apache2 libapache2-mod-auth-openidc; then
    [ "$PEER" = yes ] && { echo "cannot install the peer's packages" >&2; exit 1; }
    echo "note: the peer is skipped (its packages could not be installed)" >&2
    PEER=no
  fi
fi

PROFILE=${PROFILE:-}
GATEWAY_FEATURES=()
if [ -n "$PROFILE" ]; then
  command -v perf >/dev/null || apt_install linux-perf
  mkdir -p "$PROFILE"
  PROFILE=$(realpath "$PROFILE")
  GATEWAY_FEATURES=(--features profiling)
  if [ -z "${OIDC_WASM_GIVEN:-}" ]; then
    echo "building the filter with its function names (target/profile-wasm)..."
    CARGO_PROFILE_RELEASE_STRIP=false "$CARGO" build -q --release --target wasm32-wasip1 -p openid-connect \
      --target-dir "$TARGET_DIR/profile-wasm"
    OIDC_WASM=$TARGET_DIR/profile-wasm/wasm32-wasip1/release/openid_connect.wasm
  fi
fi

echo "building the gateway (profile bench-native) and the conformance filter..."
"$CARGO" build -q --profile bench-native -p gateway "${GATEWAY_FEATURES[@]}" --bin gateway --example bench_upstream
rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
"$CARGO" build -q --release --target wasm32-wasip1 -p conformance-filter
GATEWAY=$TARGET_DIR/bench-native/gateway
UPSTREAM=$TARGET_DIR/bench-native/examples/bench_upstream
NOOP_WASM=$(realpath "$TARGET_DIR/wasm32-wasip1/release/conformance_filter.wasm")

WORK=$(mktemp -d)
chmod 755 "$WORK" # Apache's workers run as www-data
PIDS=()
# BENCH_LOGS=DIR keeps the run's logs (gateway, IdPs, Apache, the load run's IdP events) there.
BENCH_LOGS=${BENCH_LOGS:-}
cleanup() {
  if [ -n "$BENCH_LOGS" ]; then
    mkdir -p "$BENCH_LOGS"
    cp "$WORK"/*.log "$WORK"/*.json "$WORK"/*-memory.txt "$BENCH_LOGS"/ 2>/dev/null || true
    for dir in "$WORK"/kong-*; do
      [ -f "$dir/logs/error.log" ] && cp "$dir/logs/error.log" "$BENCH_LOGS/$(basename "$dir")-error.log"
    done
    [ -f "$WORK/peer/error.log" ] && cp "$WORK/peer/error.log" "$BENCH_LOGS/apache-error.log"
  fi
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url what
  for _ in $(seq 1 300); do
    curl -fs -o /dev/null --max-time 2 "$1" && return 0
    sleep 0.1
  done
  echo "$2 did not come up ($1)" >&2
  exit 1
}

"$UPSTREAM" 0 >"$WORK/upstream.port" &
UPSTREAM_PID=$!
PIDS+=("$UPSTREAM_PID")
for _ in $(seq 1 100); do [ -s "$WORK/upstream.port" ] && break; sleep 0.05; done
UPSTREAM_PORT=$(head -1 "$WORK/upstream.port")

# The OIDC scenario and the peer need the test IdP (Node); ours also the filter from `make wasm`.
IDP=no
if command -v node >/dev/null && [ -d tests/idp/node_modules ]; then
  IDP=yes
  IDP_PORT=$(free_port)
  # The IdP's keys with a P-256 key beside its RSA key, and the bearer scenarios' tokens.
  # Twice TOKENS per algorithm: the first half for the (cached) bearer rows, the second for
  # the cold runs, where each token is sent once to a route that has seen none of them.
  node bench/mint-tokens.mjs "$WORK/jwks.json" "http://127.0.0.1:$IDP_PORT" kong "$((2 * TOKENS))" "$WORK/minted"
  for alg in RS256 ES256; do
    head -n "$TOKENS" "$WORK/minted-$alg.txt" >"$WORK/tokens-$alg.txt"
    tail -n "$TOKENS" "$WORK/minted-$alg.txt" >"$WORK/cold-tokens-$alg.txt"
  done
  node tests/idp/server.js --port "$IDP_PORT" --jwks-file "$WORK/jwks.json" --quiet \
    --store-entries $((20 * (SESSIONS + PEER_SESSIONS + KONG_SESSIONS) + 1000)) >"$WORK/idp.log" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$IDP_PORT/.well-known/openid-configuration" "the test IdP"
  if [ "$LOAD_DURATION" -gt 0 ]; then
    # The load run's IdP: short-lived tokens, so sessions refresh theirs during the run.
    LOAD_IDP_PORT=$(free_port)
    node tests/idp/server.js --port "$LOAD_IDP_PORT" --jwks-file "$WORK/jwks.json" --quiet \
      --access-token-ttl "$LOAD_TOKEN_TTL" --store-entries $((20 * SESSIONS * $([ "$KONG_LOAD" = yes ] && echo 2 || echo 1) + 1000)) \
      >"$WORK/load-idp.log" 2>&1 &
    PIDS+=($!)
    wait_http "http://127.0.0.1:$LOAD_IDP_PORT/.well-known/openid-configuration" "the load run's IdP"
  fi
fi
OIDC=no
if [ "$IDP" = yes ] && [ -f "$OIDC_WASM" ]; then OIDC=yes; fi
if [ "$PEER" != no ] && [ "$IDP" = no ]; then
  [ "$PEER" = yes ] && { echo "the peer needs the test IdP (node and tests/idp/node_modules: make deps)" >&2; exit 1; }
  PEER=no
fi

PROXY_PORT=$(free_port)
ADMIN_PORT=$(free_port)
{
  cat <<EOF
proxy_listen: 127.0.0.1:$PROXY_PORT
admin_listen: 127.0.0.1:$ADMIN_PORT
workers: $WORKERS
log_level: warn
services:
  - id: 00000000-0000-4000-8000-000000000001
    name: upstream
    url: http://127.0.0.1:$UPSTREAM_PORT
    routes:
      - id: 00000000-0000-4000-8000-000000000011
        paths: [/plain]
      - id: 00000000-0000-4000-8000-000000000012
        paths: [/noop]
      - id: 00000000-0000-4000-8000-000000000013
        paths: [/oidc]
      - id: 00000000-0000-4000-8000-000000000014
        paths: [/many]
      - id: 00000000-0000-4000-8000-000000000015
        paths: [/bearer]
      - id: 00000000-0000-4000-8000-000000000016
        paths: [/load]
      - id: 00000000-0000-4000-8000-000000000017
        paths: [/bearer-cold]
plugins:
  - id: 00000000-0000-4000-8000-000000000021
    name: noop
    wasm: $NOOP_WASM
    route: 00000000-0000-4000-8000-000000000012
    config: {"mode": "noop"}
EOF
  if [ "$OIDC" = yes ]; then
    cat <<EOF
  - id: 00000000-0000-4000-8000-000000000022
    name: openid-connect
    wasm: $(realpath "$OIDC_WASM")
    route: 00000000-0000-4000-8000-000000000013
    config:
      issuer: http://127.0.0.1:$IDP_PORT
      client_id: [kong]
      client_secret: [secret]
      session_secret: benchmark-session-secret-0123456789
      auth_methods: [password, session]
  - id: 00000000-0000-4000-8000-000000000023
    name: openid-connect
    wasm: $(realpath "$OIDC_WASM")
    route: 00000000-0000-4000-8000-000000000014
    config:
      issuer: http://127.0.0.1:$IDP_PORT
      client_id: [kong]
      client_secret: [secret]
      session_secret: benchmark-session-secret-0123456789
      auth_methods: [password, session]
      cache_tokens: false
  - id: 00000000-0000-4000-8000-000000000024
    name: openid-connect
    wasm: $(realpath "$OIDC_WASM")
    route: 00000000-0000-4000-8000-000000000015
    config:
      issuer: http://127.0.0.1:$IDP_PORT
      client_id: [kong]
      client_secret: [secret]
      auth_methods: [bearer]
  - id: 00000000-0000-4000-8000-000000000026
    name: openid-connect
    wasm: $(realpath "$OIDC_WASM")
    route: 00000000-0000-4000-8000-000000000017
    config:
      issuer: http://127.0.0.1:$IDP_PORT
      client_id: [kong]
      client_secret: [secret]
      auth_methods: [bearer]
EOF
    if [ "$LOAD_DURATION" -gt 0 ]; then
      cat <<EOF
  - id: 00000000-0000-4000-8000-000000000025
    name: openid-connect
    wasm: $(realpath "$OIDC_WASM")
    route: 00000000-0000-4000-8000-000000000016
    config:
      issuer: http://127.0.0.1:$LOAD_IDP_PORT
      client_id: [kong]
      client_secret: [secret]
      session_secret: benchmark-session-secret-0123456789
      auth_methods: [password, session]
      cache_tokens: false
EOF
    fi
  fi
} >"$WORK/gateway.yaml"

GATEWAY_WASM_PROFILER=$([ -n "$PROFILE" ] && echo perfmap || echo none) \
  "$GATEWAY" --config "$WORK/gateway.yaml" >/dev/null 2>"$WORK/gateway.log" &
GATEWAY_PID=$!
PIDS+=("$GATEWAY_PID")
wait_http "http://127.0.0.1:$ADMIN_PORT/status" "the gateway"

# Kong's Wasm engine: nginx instances from hosts/kong/ (Kong's nginx.conf), one without the
# filter and one per filter config the scenarios need (as Kong would run one plugin instance per
# route), all on the same upstream; each is its own process tree, so CPU per request is its own.
if [ "$KONG" != no ] && { [ ! -x target/kong-engine/sbin/nginx ] || [ "$OIDC" = no ]; }; then
  [ "$KONG" = yes ] && { echo "KONG=yes needs make kong-engine, the test IdP and $OIDC_WASM" >&2; exit 1; }
  KONG=no
fi
[ "$KONG" != no ] || KONG_LOAD=no
if [ "$KONG" != no ]; then
  KONG_STATUS=()
  start_kong() { # name filter-config-json-or-"" (none: no filter) -> sets KONG_PORT_<name>, KONG_PID_<name>
    local dir=$WORK/kong-$1 port status plain=1
    port=$(free_port)
    status=$(free_port)
    mkdir -p "$dir"
    if [ -n "$2" ]; then
      plain=0
      printf '%s' "$2" >"$dir/filter-config.json"
    fi
    PROXY_LISTEN=127.0.0.1:$port UPSTREAM=127.0.0.1:$UPSTREAM_PORT STATUS_LISTEN=127.0.0.1:$status \
      PLAIN=$plain FILTER_WASM=$(realpath "$OIDC_WASM") FILTER_CONFIG_FILE=$dir/filter-config.json \
      WORKERS=$KONG_WORKERS LOG_LEVEL=notice hosts/kong/nginx.sh start "$dir" >"$dir/stdout.log" 2>&1 &
    PIDS+=($!)
    printf -v "KONG_PID_$1" '%s' "$!"
    printf -v "KONG_PORT_$1" '%s' "$port"
    KONG_STATUS+=("$1 $status")
  }
  # The filter configs: those of our gateway's routes above, as Kong's JSON.
  kong_client='"issuer":"http://127.0.0.1:'$IDP_PORT'","client_id":["kong"],"client_secret":["secret"]'
  kong_session='"session_secret":"benchmark-session-secret-0123456789","auth_methods":["password","session"]'
  start_kong plain ""
  start_kong session "{$kong_client,$kong_session}"
  start_kong many "{$kong_client,$kong_session,\"cache_tokens\":false}"
  start_kong bearer "{$kong_client,\"auth_methods\":[\"bearer\"]}"
  start_kong bearer_cold "{$kong_client,\"auth_methods\":[\"bearer\"]}"
  if [ "$KONG_LOAD" = yes ] && [ "$LOAD_DURATION" -gt 0 ]; then
    start_kong load "{\"issuer\":\"http://127.0.0.1:$LOAD_IDP_PORT\",\"client_id\":[\"kong\"],\"client_secret\":[\"secret\"],$kong_session,\"cache_tokens\":false}"
  fi
  # They start together (each worker compiles the filter); wait until every one answers.
  for entry in "${KONG_STATUS[@]}"; do
    wait_http "http://127.0.0.1:${entry#* }/status" "Kong's engine (${entry% *}; log: $WORK/kong-${entry% *}/logs/error.log)"
  done
fi

if [ "$PEER" != no ]; then
  APACHE_PORT=$(free_port)
  mkdir -p "$WORK/peer"
  sed -e "s#@DIR@#$WORK/peer#g; s#@PORT@#$APACHE_PORT#g; s#@IDP_PORT@#$IDP_PORT#g" \
    -e "s#@UPSTREAM_PORT@#$UPSTREAM_PORT#g; s#@PASSPHRASE@#$(head -c 24 /dev/urandom | base64 | tr -d '/+=')#g" \
    bench/peer/httpd.conf.in >"$WORK/peer/httpd.conf"
  "$APACHE" -f "$WORK/peer/httpd.conf" -DFOREGROUND >"$WORK/peer/stdout.log" 2>&1 &
  APACHE_PID=$!
  PIDS+=("$APACHE_PID")
  wait_http "http://127.0.0.1:$APACHE_PORT/plain" "Apache (log: $WORK/peer/error.log)"
fi

# Logins. Each prints the Cookie header value that carries the new session.

# Ours: the password grant; the answer sets the session cookie.
login_ours() {
  curl -s -o /dev/null -D - --max-time 10 -u john:doe "http://127.0.0.1:$PROXY_PORT/oidc" \
    | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | paste -sd ';' -
}

# The peer: the authorization code flow, driven as test-idp.md describes: Apache redirects to
# the IdP, whose login form is posted; the redirects end back at Apache, which sets its session
# cookie (chunked when large). Only the mod_auth_openidc_session cookies are kept.
login_peer() {
  local jar=$WORK/peer/jar form_url
  rm -f "$jar"
  form_url=$(curl -s -L --max-time 10 -c "$jar" -b "$jar" -o /dev/null -w '%{url_effective}' "http://127.0.0.1:$APACHE_PORT/peer/")
  curl -s -L --max-time 10 -c "$jar" -b "$jar" -o /dev/null \
    --data-urlencode username=john --data-urlencode password=doe "$form_url/login"
  awk -F'\t' '$6 ~ /^mod_auth_openidc_session/ { printf "%s%s=%s", (n++ ? "; " : ""), $6, $7 }' "$jar"
}

# Kong's engine with the filter: the same password grant.
login_kong() {
  curl -s -o /dev/null -D - --max-time 10 -u john:doe "http://127.0.0.1:$KONG_PORT_session/" \
    | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | paste -sd ';' -
}

# Scenarios: URL, how to get the Cookie (or other) header, and the server whose CPU time counts.
declare -A URL HEADER LOGIN SERVER_PID DESCRIBE BASELINE
add_scenario() { # name url login-function-or-"" pid baseline description
  NAMES+=("$1")
  URL[$1]=$2
  LOGIN[$1]=$3
  SERVER_PID[$1]=$4
  BASELINE[$1]=$5
  DESCRIBE[$1]=$6
  HEADER[$1]="x-bench: 1"
}
NAMES=()
add_scenario upstream "http://127.0.0.1:$UPSTREAM_PORT/" "" "$UPSTREAM_PID" "" "upstream direct"
add_scenario no-filter "http://127.0.0.1:$PROXY_PORT/plain" "" "$GATEWAY_PID" no-filter "ours: gateway, no filter"
add_scenario no-op "http://127.0.0.1:$PROXY_PORT/noop" "" "$GATEWAY_PID" no-filter "ours: gateway, no-op filter"
if [ "$OIDC" = yes ]; then
  add_scenario oidc-session "http://127.0.0.1:$PROXY_PORT/oidc" login_ours "$GATEWAY_PID" no-filter "ours: OIDC filter, session"
fi
if [ "$KONG" != no ]; then
  add_scenario kong-plain "http://127.0.0.1:$KONG_PORT_plain/" "" "$KONG_PID_plain" kong-plain "Kong engine: nginx, no filter"
  add_scenario kong-session "http://127.0.0.1:$KONG_PORT_session/" login_kong "$KONG_PID_session" kong-plain "Kong engine: OIDC filter, session"
fi
if [ "$PEER" != no ]; then
  add_scenario peer-plain "http://127.0.0.1:$APACHE_PORT/plain" "" "$APACHE_PID" peer-plain "peer: Apache, no auth"
  add_scenario peer-session "http://127.0.0.1:$APACHE_PORT/peer/" login_peer "$APACHE_PID" peer-plain "peer: mod_auth_openidc, session"
fi

# Scenarios whose every request carries a header picked at random from a file (one line per
# session or token) by bench/pick-header.lua, with one wrk thread per connection; each side's
# baseline is run the same way (its file: X-Bench lines), so the script's cost is in both.
declare -A FILE ONCE
seq 1 "$SESSIONS" | sed 's/^/X-Bench: /' >"$WORK/plain-headers.txt"
add_scenario no-filter-many "http://127.0.0.1:$PROXY_PORT/plain" "" "$GATEWAY_PID" no-filter-many "ours: gateway, no filter (script)"
FILE[no-filter-many]=$WORK/plain-headers.txt
if [ "$OIDC" = yes ]; then
  add_scenario oidc-many "http://127.0.0.1:$PROXY_PORT/many" "" "$GATEWAY_PID" no-filter-many "ours: OIDC filter, $SESSIONS sessions"
  FILE[oidc-many]=$WORK/ours-sessions.txt
  add_scenario oidc-rs256 "http://127.0.0.1:$PROXY_PORT/bearer" "" "$GATEWAY_PID" no-filter-many "ours: OIDC filter, bearer RS256 x$TOKENS"
  FILE[oidc-rs256]=$WORK/tokens-RS256.txt
  add_scenario oidc-es256 "http://127.0.0.1:$PROXY_PORT/bearer" "" "$GATEWAY_PID" no-filter-many "ours: OIDC filter, bearer ES256 x$TOKENS"
  FILE[oidc-es256]=$WORK/tokens-ES256.txt
fi
if [ "$KONG" != no ]; then
  add_scenario kong-plain-many "http://127.0.0.1:$KONG_PORT_plain/" "" "$KONG_PID_plain" kong-plain-many "Kong engine: nginx, no filter (script)"
  FILE[kong-plain-many]=$WORK/plain-headers.txt
  add_scenario kong-many "http://127.0.0.1:$KONG_PORT_many/" "" "$KONG_PID_many" kong-plain-many "Kong engine: OIDC filter, $KONG_SESSIONS sessions"
  FILE[kong-many]=$WORK/kong-sessions.txt
  add_scenario kong-rs256 "http://127.0.0.1:$KONG_PORT_bearer/" "" "$KONG_PID_bearer" kong-plain-many "Kong engine: OIDC filter, bearer RS256 x$TOKENS"
  FILE[kong-rs256]=$WORK/tokens-RS256.txt
  add_scenario kong-es256 "http://127.0.0.1:$KONG_PORT_bearer/" "" "$KONG_PID_bearer" kong-plain-many "Kong engine: OIDC filter, bearer ES256 x$TOKENS"
  FILE[kong-es256]=$WORK/tokens-ES256.txt
fi
if [ "$PEER" != no ]; then
  add_scenario peer-plain-many "http://127.0.0.1:$APACHE_PORT/plain" "" "$APACHE_PID" peer-plain-many "peer: Apache, no auth (script)"
  FILE[peer-plain-many]=$WORK/plain-headers.txt
  add_scenario peer-many "http://127.0.0.1:$APACHE_PORT/peer/" "" "$APACHE_PID" peer-plain-many "peer: mod_auth_openidc, $PEER_SESSIONS sessions"
  FILE[peer-many]=$WORK/peer-sessions.txt
fi

# The many-sessions scenarios' logins, once: every one a real login (bench/login-sessions.py).
# The peer's first: they are the slow ones, and its sessions idle out after an hour
# (bench/peer/httpd.conf.in), ours and Kong's after Kong's 900 s, so theirs come last. Kong's
# engine logs in its own sessions through its own filter, at the same time as ours (the two
# share the IdP, each its own proxy).
if [ "$PEER" != no ]; then
  echo "logging in $PEER_SESSIONS sessions (peer, authorization code flow)..."
  start=$SECONDS
  python3 bench/login-sessions.py peer "http://127.0.0.1:$APACHE_PORT/peer/" "$PEER_SESSIONS" "$WORK/peer-sessions.txt"
  echo "  $((SECONDS - start)) s"
fi
login_many() { # what url count file
  local start=$SECONDS
  python3 bench/login-sessions.py ours "$2" "$3" "$4"
  echo "  $1: $3 sessions in $((SECONDS - start)) s"
}
if [ "$OIDC" = yes ]; then
  echo "logging in $SESSIONS sessions (ours, password grant)$([ "$KONG" != no ] && echo " and $KONG_SESSIONS through Kong's engine (same grant)")..."
  kong_login_pid=
  if [ "$KONG" != no ]; then
    login_many "Kong's engine" "http://127.0.0.1:$KONG_PORT_many/" "$KONG_SESSIONS" "$WORK/kong-sessions.txt" &
    kong_login_pid=$!
  fi
  login_many ours "http://127.0.0.1:$PROXY_PORT/many" "$SESSIONS" "$WORK/ours-sessions.txt"
  [ -z "$kong_login_pid" ] || wait "$kong_login_pid" || { echo "the logins through Kong's engine failed" >&2; exit 1; }
fi

# Logs in (when the scenario needs it) and checks the scenario answers 200.
prepare() { # name
  local name=$1 cookie code
  # A file scenario is checked with its file's first line.
  [ -n "${FILE[$name]:-}" ] && HEADER[$name]=$(head -1 "${FILE[$name]}")
  if [ -n "${LOGIN[$name]}" ]; then
    cookie=$(${LOGIN[$name]}) || true
    [ -n "$cookie" ] || { echo "$name: the login gave no session cookie" >&2; exit 1; }
    HEADER[$name]="Cookie: $cookie"
    COOKIE_SIZE[$name]=${#cookie}
  fi
  code=$(curl -s -o /dev/null --max-time 10 -w '%{http_code}' -H "${HEADER[$name]}" "${URL[$name]}")
  if [ "$code" != 200 ]; then
    echo "$name: ${URL[$name]} answered $code" >&2
    tail -20 "$WORK/gateway.log" >&2
    [ -f "$WORK/peer/error.log" ] && tail -20 "$WORK/peer/error.log" >&2
    exit 1
  fi
}

# CPU seconds (user + system, in clock ticks) used so far by a process and its children.
cpu_ticks() { # pid
  local pid total=0 fields
  for pid in $1 $(pgrep -P "$1" || true); do
    read -r -a fields <"/proc/$pid/stat" 2>/dev/null || continue
    # After "pid (comm)", field 14 is utime, 15 stime, 16 and 17 those of reaped children.
    total=$((total + fields[13] + fields[14] + fields[15] + fields[16]))
  done
  echo "$total"
}
TICKS_PER_SECOND=$(getconf CLK_TCK)

# Runs wrk; sets RPS and CPU_US (server CPU microseconds per request). Fails on errors or
# non-2xx answers.
run_wrk() { # name seconds
  local out before after requests
  before=$(cpu_ticks "${SERVER_PID[$1]}")
  if [ -n "${FILE[$1]:-}" ]; then
    out=$(timeout $(($2 + 30)) wrk -t "$CONNECTIONS" -c "$CONNECTIONS" -d "${2}s" -s bench/pick-header.lua "${URL[$1]}" -- "${FILE[$1]}" "$CONNECTIONS" ${ONCE[$1]:-})
  else
    out=$(timeout $(($2 + 30)) wrk -t "$WRK_THREADS" -c "$CONNECTIONS" -d "${2}s" -H "${HEADER[$1]}" "${URL[$1]}")
  fi
  after=$(cpu_ticks "${SERVER_PID[$1]}")
  if grep -q "Non-2xx or 3xx responses" <<<"$out"; then
    echo "$1: some answers were not 2xx:" >&2
    echo "$out" >&2
    exit 1
  fi
  # A closed keep-alive connection is not a failed request; still, say so.
  grep "Socket errors" <<<"$out" | sed "s/^ */note: $1: /" >&2 || true
  RPS=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  CPU_US=$(awk -v t=$((after - before)) -v hz="$TICKS_PER_SECOND" -v n="$requests" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }')
}

declare -A COOKIE_SIZE
echo "warming up..."
for name in "${NAMES[@]}"; do
  prepare "$name"
  run_wrk "$name" 1
done

declare -A RESULTS CPU
for round in $(seq 1 "$ROUNDS"); do
  for name in "${NAMES[@]}"; do
    prepare "$name"
    run_wrk "$name" "$DURATION"
    RESULTS[$name]="${RESULTS[$name]:-} $RPS"
    CPU[$name]="${CPU[$name]:-} $CPU_US"
    printf 'round %d  %-16s %10.0f req/s %8s µs CPU/request\n' "$round" "$name" "$RPS" "$CPU_US"
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
declare -A MED MED_CPU
for name in "${NAMES[@]}"; do
  MED[$name]=$(median <<<"${RESULTS[$name]}")
  MED_CPU[$name]=$(median <<<"${CPU[$name]}")
done

echo
echo "wrk -t$WRK_THREADS -c$CONNECTIONS, ${DURATION}s x $ROUNDS rounds (median), gateway workers: $WORKERS, $(nproc) cores"
[ "$PEER" != no ] && echo "peer: $(dpkg-query -W -f '${Package} ${Version}, ' apache2 libapache2-mod-auth-openidc 2>/dev/null | sed 's/, $//') (event MPM)"
printf '%-46s %9s %12s %16s %14s\n' "scenario" "req/s" "vs upstream" "vs own baseline" "CPU µs/req"
for name in "${NAMES[@]}"; do
  base=${BASELINE[$name]}
  awk -v n="${DESCRIBE[$name]}" -v r="${MED[$name]}" -v u="${MED[upstream]}" -v b="${MED[${base:-upstream}]}" \
    -v has_base="$base" -v cpu="${MED_CPU[$name]}" \
    'BEGIN { vs = has_base ? sprintf("%.3f", r / b) : "-"; printf "%-46s %9.0f %12.3f %16s %14.1f\n", n, r, r / u, vs, cpu }'
done
echo "(CPU µs/req: the server's own CPU time, all its processes and threads, per request)"

awk -v a="${MED[no-op]}" -v b="${MED[no-filter]}" \
  'BEGIN { printf "\nno-op filter cost: %.1f%% of the no-filter throughput (target: under 10%%)\n", (1 - a / b) * 100 }'
if [ "$OIDC" = yes ] && [ "$PEER" != no ]; then
  awk -v o="${MED[oidc-session]}" -v p="${MED[peer-session]}" -v oc="${MED_CPU[oidc-session]}" -v pc="${MED_CPU[peer-session]}" \
    -v ob="${MED[no-filter]}" -v pb="${MED[peer-plain]}" -v obc="${MED_CPU[no-filter]}" -v pbc="${MED_CPU[peer-plain]}" 'BEGIN {
      printf "ours / peer, authenticated by session cookie: %.2f x the req/s, %.2f x the CPU per request\n", o / p, oc / pc
      printf "ours / peer, no authentication:               %.2f x the req/s, %.2f x the CPU per request\n", ob / pb, obc / pbc
      printf "auth cost, CPU per request over its own baseline: ours %.1f µs, peer %.1f µs\n", oc - obc, pc - pbc
    }'
  echo "session cookie sent: ours ${COOKIE_SIZE[oidc-session]} bytes, peer ${COOKIE_SIZE[peer-session]} bytes (Cookie header value)"
fi
if [ "$KONG" != no ]; then
  awk -v k="${MED[kong-session]}" -v p="${MED[kong-plain]}" -v kc="${MED_CPU[kong-session]}" -v pc="${MED_CPU[kong-plain]}" \
    -v o="${MED[oidc-session]:-0}" -v g="${MED[no-filter]}" 'BEGIN {
      printf "Kong engine, OIDC filter by session cookie / plain nginx: %.2f x the req/s, %.2f x the CPU per request\n", k / p, kc / pc
      if (o > 0) printf "(our gateway, same filter / no filter: %.2f)\n", o / g
    }'
  echo "Kong engine: nginx 1.27.4 + ngx_wasm_module a376e67c + wasmtime 26.0.0 (Kong 3.10's pin), $KONG_WORKERS worker(s)"
else
  echo "note: the Kong engine rows were skipped (make kong-engine builds the engine; KONG=yes requires it)"
fi
if [ "$OIDC" = no ]; then
  echo "note: the OIDC scenario was skipped (needs node, tests/idp/node_modules and $OIDC_WASM: make deps wasm)"
fi

# The scenarios with many credentials: ratios within the run, against the baselines run the
# same way (wrk -tN -cN with bench/pick-header.lua).
echo "(script) rows and those after them: wrk -t$CONNECTIONS -c$CONNECTIONS with bench/pick-header.lua, a header picked per request"
if [ "$OIDC" = yes ]; then
  for name in oidc-many oidc-rs256 oidc-es256; do
    awk -v d="${DESCRIBE[$name]}" -v r="${MED[$name]}" -v b="${MED[no-filter-many]}" -v c="${MED_CPU[$name]}" -v bc="${MED_CPU[no-filter-many]}" \
      'BEGIN { printf "%-47s %.3f of the no-filter gateway, auth cost %.1f µs CPU per request\n", d ":", r / b, c - bc }'
  done
fi
if [ "$OIDC" = yes ] && [ "$PEER" != no ]; then
  awk -v o="${MED[oidc-many]}" -v p="${MED[peer-many]}" -v oc="${MED_CPU[oidc-many]}" -v pc="${MED_CPU[peer-many]}" \
    -v pb="${MED[peer-plain-many]}" -v pbc="${MED_CPU[peer-plain-many]}" -v n="$SESSIONS" -v pn="$PEER_SESSIONS" 'BEGIN {
      printf "peer, %d sessions: %.3f of its Apache, auth cost %.1f µs CPU per request\n", pn, p / pb, pc - pbc
      printf "ours / peer, %d / %d sessions: %.2f x the req/s, %.2f x the CPU per request\n", n, pn, o / p, oc / pc
    }'
fi
if [ "$KONG" != no ]; then
  for name in kong-many kong-rs256 kong-es256; do
    ours=oidc-${name#kong-}
    awk -v d="${DESCRIBE[$name]}" -v r="${MED[$name]}" -v b="${MED[kong-plain-many]}" -v c="${MED_CPU[$name]}" -v bc="${MED_CPU[kong-plain-many]}" \
      -v o="${MED[$ours]}" -v ob="${MED[no-filter-many]}" -v base="Kong's nginx without filter" \
      'BEGIN { printf "%-47s %.3f of %s, auth cost %.1f µs CPU per request (our gateway: %.3f)\n", d ":", r / b, base, c - bc, o / ob }'
  done
fi

# Cold bearer tokens: each of TOKENS tokens per algorithm sent once to a route (its own plugin
# instance, so its own memory of verified tokens) that has seen none of them, so every request
# verifies a signature; against the cached rows above, where every token was verified before.
# Kong's engine gets the same tokens on an nginx of its own, which has seen none of them either.
cold_bearer() { # side url pid baseline cached-prefix what
  local alg name cached
  for alg in RS256 ES256; do
    name=$1-cold-$alg
    URL[$name]=$2
    SERVER_PID[$name]=$3
    FILE[$name]=$WORK/cold-tokens-$alg.txt
    ONCE[$name]=once
    run_wrk "$name" "$DURATION"
    cached=$5-$(tr 'A-Z' 'a-z' <<<"$alg")
    awk -v a="$alg" -v what="$6" -v c="$CPU_US" -v w="${MED_CPU[$cached]}" -v b="${MED_CPU[$4]}" -v n="$TOKENS" \
      'BEGIN { printf "bearer %s, CPU per request over %s: cold (%d tokens, each sent once) %.1f µs, cached %.1f µs\n", a, what, n, c - b, w - b }'
  done
}
if [ "$OIDC" = yes ]; then
  cold_bearer oidc "http://127.0.0.1:$PROXY_PORT/bearer-cold" "$GATEWAY_PID" no-filter-many oidc "the no-filter gateway"
fi
if [ "$KONG" != no ]; then
  cold_bearer kong "http://127.0.0.1:$KONG_PORT_bearer_cold/" "$KONG_PID_bearer_cold" kong-plain-many kong "Kong's nginx without filter"
fi

# Profiles: one more run of each of our OIDC scenarios with `perf record` on the gateway; the
# perf map (/tmp/perf-PID.map) names the filter's functions.
if [ -n "$PROFILE" ] && [ "$OIDC" = yes ]; then
  echo
  for name in oidc-session oidc-many oidc-rs256 oidc-es256; do
    prepare "$name"
    perf record -q -F 1999 -g -p "$GATEWAY_PID" -o "$PROFILE/$name.data" -- sleep "$DURATION" 2>/dev/null &
    perf_pid=$!
    run_wrk "$name" "$DURATION"
    wait "$perf_pid" || true
    perf report -q -i "$PROFILE/$name.data" --no-children --sort symbol --percent-limit 0.7 --stdio -g none \
      2>/dev/null | sed 's/ *$//' | grep -v '^$' >"$PROFILE/$name.txt" || true
    printf 'profile %-13s %10.0f req/s %8s µs CPU/request: %s\n' "$name" "$RPS" "$CPU_US" "$PROFILE/$name.txt"
  done
fi

# Resident memory of processes, in KiB: "all wasm", where wasm is the resident part of the
# filters' linear memories. wasmtime reserves each 32-bit linear memory as one region (a guard,
# the accessible pages, then the rest of its 4 GiB and guard pages inaccessible): the readable
# mappings that run contiguously up to an inaccessible mapping of 1 GiB or more are a linear
# memory, which grows to its high-water mark and never shrinks. The rest is the host's own
# heap, stacks and code.
memory_kb() { # pid...
  local pid
  for pid in "$@"; do cat "/proc/$pid/smaps" 2>/dev/null || true; done | awk '
    /^[0-9a-f]+-[0-9a-f]+ / { split($1, range, "-"); contiguous = range[1] == end; end = range[2]; perms = $2 }
    /^Size:/ { size = $2 }
    /^Rss:/ {
      all += $2
      if (perms ~ /^---/) { if (size >= 1048576 && contiguous) wasm += run; run = 0 }
      else run = contiguous ? run + $2 : $2
    }
    END { printf "%d %d\n", all, wasm }'
}
# Appends "seconds all wasm" to a file every RSS_INTERVAL seconds, until killed; the processes
# are asked for each time (nginx's workers are the master's children of the moment).
sample_memory() { # file pids-function
  local file=$1 start=$SECONDS
  while :; do
    echo "$((SECONDS - start)) $(memory_kb $("$2"))" >>"$file"
    sleep "$RSS_INTERVAL" &
    wait $! || true
  done
}
# Prints a sample file as MiB, one sample per line.
print_memory() { # file what
  echo "  $2 resident memory, MiB (every ${RSS_INTERVAL} s; wasm: the filters' linear memories):"
  awk '{ printf "    %5d s  all %6.1f  wasm %6.1f  the rest %6.1f\n", $1, $2 / 1024, $3 / 1024, ($2 - $3) / 1024 }' "$1"
}
RSS_INTERVAL=${RSS_INTERVAL:-30}

# The load run: LOAD_CONNECTIONS connections for LOAD_DURATION seconds over SESSIONS sessions of
# the /load route, whose IdP's tokens live LOAD_TOKEN_TTL seconds: sessions refresh their
# tokens during the run (one refresh per session, its new cookie kept by the wrk script). The
# server's memory is sampled every RSS_INTERVAL seconds during the run (default 30).
LOAD_FAILED=no
load_run() { # id (files) name (output) what url pids-function
  local id=$1 name=$2 what=$3 url=$4 pids=$5 memory=$WORK/$1-memory.txt sampler start out
  local refreshes non2xx socket_errors start_epoch
  echo
  echo "$name: logging in $SESSIONS sessions..."
  python3 bench/login-sessions.py ours "$url" "$SESSIONS" "$WORK/$id-sessions.txt"
  curl -fs -o /dev/null -X DELETE "http://127.0.0.1:$LOAD_IDP_PORT/__test/events"
  start=$SECONDS
  start_epoch=$(date +%s.%N)
  sample_memory "$memory" "$pids" &
  sampler=$!
  PIDS+=("$sampler")
  echo "$name: wrk -t$LOAD_CONNECTIONS -c$LOAD_CONNECTIONS for ${LOAD_DURATION}s ($what), tokens live ${LOAD_TOKEN_TTL}s (load $(cut -d' ' -f1-3 /proc/loadavg))..."
  out=$(timeout $((LOAD_DURATION + 60)) wrk -t "$LOAD_CONNECTIONS" -c "$LOAD_CONNECTIONS" -d "${LOAD_DURATION}s" --latency \
    -s bench/pick-header.lua "$url" -- "$WORK/$id-sessions.txt" "$LOAD_CONNECTIONS")
  kill "$sampler"
  wait "$sampler" 2>/dev/null || true
  echo "$((SECONDS - start)) $(memory_kb $("$pids"))" >>"$memory"
  # The IdP's events since the run began (it keeps the last 10000 of every kind): the refreshes
  # it granted, and when, to set beside the memory series.
  curl -fs "http://127.0.0.1:$LOAD_IDP_PORT/__test/events" >"$WORK/$id-idp-events.json" || echo '[]' >"$WORK/$id-idp-events.json"
  refreshes=$(python3 -c '
import datetime, json, sys
events = json.load(open(sys.argv[1]))
start = float(sys.argv[2])
times = [datetime.datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp() for e in events
         if e.get("type") == "token" and e.get("grant_type") == "refresh_token" and e.get("status") == 200]
full = len(events) >= 10000
text = ("at least " if full else "") + str(len(times))
if times:
    text += ", from %d s to %d s into the run" % (min(times) - start, max(times) - start)
if full:
    text += " (the IdP keeps its last 10000 events, of every kind)"
print(text)' "$WORK/$id-idp-events.json" "$start_epoch")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
  socket_errors=$(grep "Socket errors" <<<"$out" | sed 's/^ *//' || true)
  latency() { awk -v p="$1" '$1 == p {print $2}' <<<"$out"; }
  echo "$out" | grep -E "requests in|Requests/sec" | sed 's/^ */  /'
  echo "  latency: p50 $(latency 50%), p90 $(latency 90%), p99 $(latency 99%), max $(awk '/Latency/ {print $4; exit}' <<<"$out")"
  echo "  non-2xx answers: ${non2xx:-0}; socket errors: ${socket_errors:-none}"
  echo "  token refreshes at the IdP: $refreshes; cookies re-issued: $(awk '/^cookies_set/ {print $2}' <<<"$out")"
  awk -v what="$what" 'NR == 1 { first = $2 } { last = $2 } END { printf "  %s RSS: %d MiB at the start, %d MiB at the end\n", what, first / 1024, last / 1024 }' "$memory"
  print_memory "$memory" "$what"
  if [ -n "$non2xx" ] || [ -n "$socket_errors" ]; then
    echo "$name: errors (above)" >&2
    LOAD_FAILED=yes
  fi
}
gateway_pids() { echo "$GATEWAY_PID"; }
kong_load_pids() { pgrep -P "$KONG_PID_load" || true; }
if [ "$OIDC" = yes ] && [ "$LOAD_DURATION" -gt 0 ]; then
  load_run load "load run" gateway "http://127.0.0.1:$PROXY_PORT/load" gateway_pids
  if [ "$KONG_LOAD" = yes ]; then
    load_run kong-load "Kong load run" "Kong's engine workers" "http://127.0.0.1:$KONG_PORT_load/" kong_load_pids
  fi
  [ "$LOAD_FAILED" = no ] || exit 1
fi
