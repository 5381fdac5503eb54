#!/usr/bin/env bash
# Throughput through the gateway, printed as ratios measured in one run with one load generator
# (wrk): straight to the upstream, through the gateway with no filter, with the no-op
# conformance filter, and (when the OIDC filter and Node are available) with the OIDC filter
# authenticating every request by its session cookie.
#
#   bench/run.sh                      # defaults below; override with the environment:
#   DURATION=10 CONNECTIONS=32 ROUNDS=3 WORKERS=1 bench/run.sh
#
# Each round runs every scenario once, in turn; the table shows the median round.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-8}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-1}
WRK_THREADS=${WRK_THREADS:-1}
CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
OIDC_WASM=${OIDC_WASM:-$TARGET_DIR/filters/openid_connect.wasm}

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)..."
  if [ "$(id -u)" = 0 ]; then apt-get install -y -q wrk >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
  else sudo apt-get install -y -q wrk >/dev/null; fi
fi

echo "building the gateway (profile bench-native) and the conformance filter..."
"$CARGO" build -q --profile bench-native -p gateway --bin gateway --example bench_upstream
rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
"$CARGO" build -q --release --target wasm32-wasip1 -p conformance-filter
GATEWAY=$TARGET_DIR/bench-native/gateway
UPSTREAM=$TARGET_DIR/bench-native/examples/bench_upstream
NOOP_WASM=$(realpath "$TARGET_DIR/wasm32-wasip1/release/conformance_filter.wasm")

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url what
  for _ in $(seq 1 300); do
    curl -fs -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "$2 did not come up ($1)" >&2
  exit 1
}

"$UPSTREAM" 0 >"$WORK/upstream.port" &
PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$WORK/upstream.port" ] && break; sleep 0.05; done
UPSTREAM_PORT=$(head -1 "$WORK/upstream.port")

# The OIDC scenario needs the test IdP (Node) and the filter built by `make wasm`.
OIDC=no
if [ -f "$OIDC_WASM" ] && command -v node >/dev/null && [ -d tests/idp/node_modules ]; then
  OIDC=yes
  IDP_PORT=$(free_port)
  node tests/idp/server.js --port "$IDP_PORT" --jwks-file "$WORK/jwks.json" --quiet >"$WORK/idp.log" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$IDP_PORT/.well-known/openid-configuration" "the test IdP"
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
EOF
  fi
} >"$WORK/gateway.yaml"

"$GATEWAY" --config "$WORK/gateway.yaml" >/dev/null 2>"$WORK/gateway.log" &
PIDS+=($!)
wait_http "http://127.0.0.1:$ADMIN_PORT/status" "the gateway"

declare -A URL HEADER
NAMES=("upstream" "no-filter" "no-op")
URL[upstream]="http://127.0.0.1:$UPSTREAM_PORT/"
URL[no-filter]="http://127.0.0.1:$PROXY_PORT/plain"
URL[no-op]="http://127.0.0.1:$PROXY_PORT/noop"
HEADER[upstream]="x-bench: 1"
HEADER[no-filter]="x-bench: 1"
HEADER[no-op]="x-bench: 1"

if [ "$OIDC" = yes ]; then
  # Log in once with the password grant; the session cookie then authenticates every request.
  COOKIE=$(curl -s -o /dev/null -D - -u john:doe "http://127.0.0.1:$PROXY_PORT/oidc" \
    | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | paste -sd ';' -)
  STATUS=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $COOKIE" "http://127.0.0.1:$PROXY_PORT/oidc")
  if [ -n "$COOKIE" ] && [ "$STATUS" = 200 ]; then
    NAMES+=("oidc-session")
    URL[oidc-session]="http://127.0.0.1:$PROXY_PORT/oidc"
    HEADER[oidc-session]="Cookie: $COOKIE"
  else
    echo "note: the OIDC scenario is skipped (login gave status $STATUS); see $WORK/gateway.log" >&2
    OIDC=no
  fi
fi

for name in "${NAMES[@]}"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "${HEADER[$name]}" "${URL[$name]}")
  [ "$code" = 200 ] || { echo "$name: ${URL[$name]} answered $code" >&2; cat "$WORK/gateway.log" >&2; exit 1; }
done

run_wrk() { # name seconds -> requests/s (fails on errors or non-2xx answers)
  local out
  out=$(wrk -t "$WRK_THREADS" -c "$CONNECTIONS" -d "${2}s" -H "${HEADER[$1]}" "${URL[$1]}")
  if grep -q "Non-2xx or 3xx responses" <<<"$out"; then
    echo "$1: some answers were not 2xx:" >&2
    echo "$out" >&2
    exit 1
  fi
  awk '/^Requests\/sec:/ {print $2}' <<<"$out"
}

echo "warming up..."
for name in "${NAMES[@]}"; do run_wrk "$name" 1 >/dev/null; done

declare -A RESULTS
for round in $(seq 1 "$ROUNDS"); do
  for name in "${NAMES[@]}"; do
    rps=$(run_wrk "$name" "$DURATION")
    RESULTS[$name]="${RESULTS[$name]:-} $rps"
    printf 'round %d  %-13s %10.0f req/s\n' "$round" "$name" "$rps"
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
declare -A MED
for name in "${NAMES[@]}"; do MED[$name]=$(median <<<"${RESULTS[$name]}"); done

echo
echo "wrk -t$WRK_THREADS -c$CONNECTIONS, ${DURATION}s x $ROUNDS rounds (median), gateway workers: $WORKERS, $(nproc) cores"
printf '%-22s %12s %14s %18s\n' "scenario" "req/s" "vs upstream" "vs gateway alone"
describe() {
  case $1 in
    upstream) echo "upstream direct" ;;
    no-filter) echo "gateway, no filter" ;;
    no-op) echo "gateway, no-op filter" ;;
    oidc-session) echo "gateway, OIDC session" ;;
  esac
}
for name in "${NAMES[@]}"; do
  awk -v n="$(describe "$name")" -v r="${MED[$name]}" -v u="${MED[upstream]}" -v g="${MED[no-filter]}" -v self="$name" \
    'BEGIN { vs = (self == "upstream") ? "-" : sprintf("%.3f", r / g); printf "%-22s %12.0f %14.3f %18s\n", n, r, r / u, vs }'
done
awk -v a="${MED[no-op]}" -v b="${MED[no-filter]}" \
  'BEGIN { printf "\nno-op filter cost: %.1f%% of the no-filter throughput (target: under 10%%)\n", (1 - a / b) * 100 }'
