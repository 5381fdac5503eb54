#!/usr/bin/env bash
# Runs Kong's Wasm engine (target/kong-engine, built by `make kong-engine`) for one instance dir.
#   hosts/kong/nginx.sh start  <run-dir>   renders <run-dir>/nginx.conf and runs nginx in the
#                                          foreground (the caller owns the process); the render
#                                          settings (render-conf.sh's environment) are kept in
#                                          <run-dir>/render.env for reloads
#   hosts/kong/nginx.sh reload <run-dir>   re-renders (e.g. after the admin API wrote a new
#                                          filter-config.json), checks and reloads nginx, then
#                                          waits until only new workers accept connections
# Kong itself reconfigures filter chains without a reload (its Lua rebuilds the chain); plain
# nginx has no such API, so a config change is a graceful reload (see README.md).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NGINX=${KONG_ENGINE:-$ROOT/target/kong-engine}/sbin/nginx
cmd=${1:-}
RUN_DIR=${2:-}
[ -n "$cmd" ] && [ -n "$RUN_DIR" ] || { echo "usage: $0 start|reload <run-dir>" >&2; exit 2; }
RUN_DIR=$(mkdir -p "$RUN_DIR" && cd "$RUN_DIR" && pwd)

if [ ! -x "$NGINX" ]; then
  echo "Kong's Wasm engine is not built: run \`make kong-engine\` (no $NGINX)" >&2
  exit 1
fi

case "$cmd" in
  start)
    # Keep the settings so a reload renders the same server (paths made absolute: the reload
    # may run from another directory).
    for var in FILTER_WASM FILTER_CONFIG_FILE; do
      [ -n "${!var:-}" ] && printf -v "$var" '%s' "$(realpath -m "${!var}")"
    done
    for var in PROXY_LISTEN UPSTREAM STATUS_LISTEN FILTER_WASM FILTER_CONFIG_FILE PLAIN WORKERS \
      SHM_KV_SIZE LOG_LEVEL RESOLVER; do
      [ -n "${!var+x}" ] && printf '%s=%q\n' "$var" "${!var}"
    done >"$RUN_DIR/render.env"
    KONG_RUN_DIR=$RUN_DIR "$HERE/render-conf.sh"
    exec "$NGINX" -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf"
    ;;
  reload)
    set -a
    # shellcheck disable=SC1091
    . "$RUN_DIR/render.env"
    set +a
    KONG_RUN_DIR=$RUN_DIR "$HERE/render-conf.sh"
    if ! out=$("$NGINX" -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" -t 2>&1); then
      echo "nginx refused the new configuration: $out" >&2
      exit 1
    fi
    master=$(cat "$RUN_DIR/pids/nginx.pid")
    workers() { # the master's children whose title says they still accept connections
      local title
      for pid in $(pgrep -P "$master"); do
        title=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
        case "$title" in *"is shutting down"*) ;; "nginx: worker process"*) echo "$pid" ;; esac
      done
      return 0
    }
    old=$(workers | sort)
    "$NGINX" -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" -s reload
    want=${WORKERS:-2}
    deadline=$((SECONDS + 60))
    while :; do
      now=$(workers | sort)
      fresh=$(comm -13 <(echo "$old") <(echo "$now") | grep -c . || true)
      stale=$(comm -12 <(echo "$old") <(echo "$now") | grep -c . || true)
      if [ "$fresh" -ge "$want" ] && [ "$stale" -eq 0 ]; then break; fi
      if [ "$SECONDS" -ge "$deadline" ]; then
        echo "nginx reload: new workers did not take over within 60 s (see $RUN_DIR/logs/error.log)" >&2
        exit 1
      fi
      sleep 0.05
    done
    # The new workers accept connections once they have loaded the filter (init_process).
    if [ -n "${STATUS_LISTEN:-}" ]; then
      until curl -fsS -o /dev/null "http://$STATUS_LISTEN/status"; do
        [ "$SECONDS" -lt "$deadline" ] || { echo "nginx reload: status listener silent" >&2; exit 1; }
        sleep 0.05
      done
    fi
    ;;
  *) echo "usage: $0 start|reload <run-dir>" >&2; exit 2 ;;
esac
