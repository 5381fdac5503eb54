#!/usr/bin/env bash
# Starts the demo stack the seed scenario runs against: the test IdP (:8080), the echo
# upstream (:9000) and the host running the filter (proxy :8000, admin :8001) with run/gateway.yaml.
#   scripts/stack.sh run     in the foreground; Ctrl-C stops everything it started
#   scripts/stack.sh start   in the background (PIDs in .run/pids), for tests
#   scripts/stack.sh stop    stops what `start` started
# HOST picks the host:
#   HOST=gateway (default)   our gateway (gateway/)
#   HOST=kong                Kong 3.10's Wasm engine (`make kong-engine`): nginx with Kong's
#                            config (hosts/kong/) on :8000 with 2 workers, status on :8100, and
#                            our gateway in admin-only mode as Kong's Admin API on :8001 (a PATCH
#                            rewrites the filter config and reloads nginx)
set -euo pipefail
cd "$(dirname "$0")/.."

IDP_PORT=${IDP_PORT:-8080}
ECHO_PORT=${ECHO_PORT:-9000}
RUN_DIR=.run
PIDS=$RUN_DIR/pids
GATEWAY=${GATEWAY:-target/debug/gateway}
HOST=${HOST:-gateway}
KONG_DIR=$RUN_DIR/kong
KONG_STATUS=127.0.0.1:8100
case "$HOST" in gateway | kong) ;; *) echo "stack: HOST must be gateway or kong, not $HOST" >&2; exit 2 ;; esac

wait_for() { # url, what
  local url=$1 what=$2
  for _ in $(seq 1 150); do
    if python3 - "$url" <<'PY' 2>/dev/null; then return 0; fi
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=1).read()
PY
    sleep 0.2
  done
  echo "stack: $what did not become ready at $url (logs in $RUN_DIR/)" >&2
  return 1
}

stop() {
  [ -f "$PIDS" ] || return 0
  # nginx's workers are the master's children: remembered so none outlives a forced stop.
  local children
  children=$(while read -r pid; do pgrep -P "$pid" || true; done < "$PIDS")
  while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$PIDS"
  while read -r pid; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done < "$PIDS"
  for pid in $children; do kill -9 "$pid" 2>/dev/null || true; done
  rm -f "$PIDS"
}

start() {
  stop
  mkdir -p "$RUN_DIR"
  local ports=(8000 8001 "$IDP_PORT" "$ECHO_PORT")
  [ "$HOST" = kong ] && ports+=(8100)
  for port in "${ports[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "stack: port $port is already in use; stop what runs there first" >&2
      exit 1
    fi
  done
  node tests/idp/server.js --port "$IDP_PORT" >"$RUN_DIR/idp.log" 2>&1 &
  echo $! >>"$PIDS"
  node tests/echo/server.js --port "$ECHO_PORT" >"$RUN_DIR/echo.log" 2>&1 &
  echo $! >>"$PIDS"
  wait_for "http://127.0.0.1:$IDP_PORT/.well-known/openid-configuration" "the IdP"
  wait_for "http://127.0.0.1:$ECHO_PORT/" "the echo upstream"
  if [ "$HOST" = gateway ]; then
    IDP_PORT=$IDP_PORT ECHO_PORT=$ECHO_PORT "$GATEWAY" --config run/gateway.yaml >"$RUN_DIR/gateway.log" 2>&1 &
    echo $! >>"$PIDS"
    wait_for "http://127.0.0.1:8001/" "the gateway"
    return 0
  fi
  # Kong's engine: the admin API first (it writes the filter config nginx starts from).
  rm -rf "$KONG_DIR"
  mkdir -p "$KONG_DIR"
  IDP_PORT=$IDP_PORT ECHO_PORT=$ECHO_PORT "$GATEWAY" --config run/gateway.yaml \
    --export-config "$KONG_DIR/filter-config.json" \
    --on-change "hosts/kong/nginx.sh reload $KONG_DIR" >"$RUN_DIR/gateway.log" 2>&1 &
  echo $! >>"$PIDS"
  wait_for "http://127.0.0.1:8001/" "the admin API (gateway in admin-only mode)"
  PROXY_LISTEN=127.0.0.1:8000 UPSTREAM=127.0.0.1:$ECHO_PORT STATUS_LISTEN=$KONG_STATUS \
    FILTER_CONFIG_FILE=$KONG_DIR/filter-config.json WORKERS=2 LOG_LEVEL=${LOG_LEVEL:-info} \
    hosts/kong/nginx.sh start "$KONG_DIR" >"$RUN_DIR/nginx.log" 2>&1 &
  local nginx_pid=$!
  echo "$nginx_pid" >>"$PIDS"
  wait_for "http://$KONG_STATUS/status" "Kong's Wasm engine (nginx)"
  # A worker caught in a `send() returned zero` loop writes gigabytes of [alert] a minute: stop
  # nginx before error.log fills the disk.
  (
    while sleep 1; do
      size=$(stat -c %s "$KONG_DIR/logs/error.log" 2>/dev/null || echo 0)
      if [ "$size" -gt $((256 * 1024 * 1024)) ]; then
        echo "stack: $KONG_DIR/logs/error.log grew past 256 MB; stopping nginx" >&2
        kill -TERM "$nginx_pid" 2>/dev/null
        exit 0
      fi
    done
  ) >>"$RUN_DIR/nginx.log" 2>&1 &
  echo $! >>"$PIDS"
}

case "${1:-run}" in
  start) start ;;
  stop) stop ;;
  run)
    trap 'echo; echo "stopping..."; stop; exit 0' INT TERM
    start
    cat <<TXT

Running on $HOST (logs in $RUN_DIR/$([ "$HOST" = kong ] && echo "; nginx's error.log in $KONG_DIR/logs/")):
  proxy     http://localhost:8000  (admin API http://localhost:8001$([ "$HOST" = gateway ] && echo ", metrics /metrics"))
  IdP       http://127.0.0.1:$IDP_PORT  (users john/doe, jane/doe; client kong/secret)
  upstream  http://127.0.0.1:$ECHO_PORT  (echoes each request as JSON)

The seed scenario (shared/seeds/openid-connect-logout.md), with HTTPie from $(pwd)/tests/.venv/bin:
  export PATH=$(pwd)/tests/.venv/bin:\$PATH
  http -f patch :8001/plugins/5f35b796-ced6-4c00-9b2a-90eef745f4f9 config.auth_methods=session config.auth_methods=password config.logout_uri_suffix=/logout config.logout_methods=POST config.logout_revoke=true
  http -a john:doe --session=john :8000
  http --session=john :8000
  http --session=john --follow -a john: post :8000/logout
  http --session=john :8000

Ctrl-C stops everything.
TXT
    if [ "$HOST" = kong ]; then tail -n 0 -F "$KONG_DIR/logs/error.log" & else tail -n 0 -F "$RUN_DIR/gateway.log" & fi
    echo $! >>"$PIDS"
    while true; do sleep 1; done
    ;;
  *) echo "usage: $0 [run|start|stop]" >&2; exit 2 ;;
esac
