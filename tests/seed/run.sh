#!/usr/bin/env bash
# Runs the user's scenario (shared/seeds/openid-connect-logout.md) with the very
# `http` commands it shows, against a gateway already listening on :8000 (proxy)
# and :8001 (Admin API) and the test IdP (tests/idp), then checks each status the
# seed shows and, through the IdP's /__test/events, what the gateway did there.
#
# Environment:
#   IDP_URL            test IdP (default http://127.0.0.1:8080)
#   IDP_CLIENT_ID/IDP_CLIENT_SECRET  client for the final introspection (kong/secret)
#   HTTP_BIN           HTTPie's `http` (default tests/.venv/bin/http, else PATH)
#   SEED_DOC           the seed document; when found, the commands below are
#                      checked against it (default ../shared/seeds/... beside the repo)
#   SEED_TIMEOUT       seconds a command may take before it counts as unanswered (60)
#   ENGINE_ERROR_LOG   Kong's engine: nginx's error.log, checked for crashed workers,
#                      [alert] and [emerg] lines after the transcript (scripts/stack.sh
#                      with HOST=kong writes .run/kong/logs/error.log)
# HTTPie runs with a throwaway HTTPIE_CONFIG_DIR, so `--session=john` starts empty.
# The only things added to each command are `--print=hb`, to see the status
# line, and `--ignore-stdin`, since a script's stdin is not a terminal.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
export IDP_URL=${IDP_URL:-http://127.0.0.1:8080}
seed_doc=${SEED_DOC:-$root/../shared/seeds/openid-connect-logout.md}

# The seed's commands, verbatim, and the status each one shows.
seed_commands=(
'http -f patch :8001/plugins/5f35b796-ced6-4c00-9b2a-90eef745f4f9 \
  config.auth_methods=session                                    \
  config.auth_methods=password                                   \
  config.logout_uri_suffix=/logout                               \
  config.logout_methods=POST                                     \
  config.logout_revoke=true'
'http -a john:doe --session=john :8000'
'http --session=john :8000'
'http --session=john --follow -a john: post :8000/logout'
'http --session=john :8000'
)
seed_statuses=(200 200 200 200 401)

die() { echo "seed: $*" >&2; exit 2; }

find_httpie() {
  if [[ -n "${HTTP_BIN:-}" ]]; then echo "$HTTP_BIN"
  elif [[ -x "$root/tests/.venv/bin/http" ]]; then echo "$root/tests/.venv/bin/http"
  elif command -v http >/dev/null; then command -v http
  else return 1
  fi
}

# Fails if the seed document is at hand and its commands differ from ours.
check_against_doc() {
  [[ -f "$seed_doc" ]] || { echo "(seed document not found at $seed_doc: commands not compared)"; return 0; }
  python3 - "$seed_doc" "${seed_commands[@]}" <<'PY' || die "the commands in run.sh differ from the seed document"
import re, sys
normal = lambda s: " ".join(s.replace("\\\n", " ").split())
doc = [normal(b) for b in re.findall(r"```bash\n(.*?)```", open(sys.argv[1]).read(), re.S)]
ours = [normal(c) for c in sys.argv[2:]]
if doc != ours:
    print("document:", *doc, "run.sh:", *ours, sep="\n  ", file=sys.stderr)
    sys.exit(1)
PY
}

port_open() { python3 -c 'import socket,sys; socket.create_connection(("localhost", int(sys.argv[1])), 2).close()' "$1" 2>/dev/null; }

httpie=$(find_httpie) || die "HTTPie not found: pip install -r tests/requirements.txt (the Makefile puts it in tests/.venv)"
curl -sf "$IDP_URL/__test/health" >/dev/null || die "the test IdP does not answer at $IDP_URL (node tests/idp/server.js)"
for port in 8001 8000; do port_open "$port" || die "nothing listens on localhost:$port: start the gateway first"; done
check_against_doc

HTTPIE_CONFIG_DIR=$(mktemp -d)
export HTTPIE_CONFIG_DIR
trap 'rm -rf "$HTTPIE_CONFIG_DIR"' EXIT
echo '{"disable_update_warnings": true}' >"$HTTPIE_CONFIG_DIR/config.json"

# `http` as the seed types it, printing the response head and body.
http() { "$httpie" --print=hb --ignore-stdin "$@"; }
# Each command runs in a child shell under `timeout`, so a host that never answers fails the
# step instead of hanging the run.
export -f http
export httpie

passed=0
failed=0
count() { # reads check lines on stdin, echoes them, counts ok/FAIL
  local line
  while IFS= read -r line; do
    echo "$line"
    case $line in
      "  ok "*) passed=$((passed + 1)) ;;
      "  FAIL "*) failed=$((failed + 1)) ;;
    esac
  done
}

# Runs one of checks.py's checks and counts its lines; a crash counts as a failure.
run_check() {
  local output rc
  output=$(python3 "$here/checks.py" "$@" 2>&1)
  rc=$?
  count <<<"$output"
  if ((rc != 0)) && ! grep -q '^  FAIL ' <<<"$output"; then
    count <<<"  FAIL checks.py $1 stopped with status $rc"
  fi
}

marks=()
for i in "${!seed_commands[@]}"; do
  command=${seed_commands[$i]}
  expected=${seed_statuses[$i]}
  out="$HTTPIE_CONFIG_DIR/step-$((i + 1)).txt"
  printf '\n$ %s\n' "$command"
  timeout "${SEED_TIMEOUT:-60}" bash -c "$command" >"$out" 2>&1
  [[ $? -eq 124 ]] && echo "(no answer within ${SEED_TIMEOUT:-60} s)" >>"$out"
  cat "$out"
  status=$(sed -n 's/^HTTP\/[0-9.]* \([0-9][0-9][0-9]\).*/\1/p' "$out" | head -n 1)
  if [[ "$status" == "$expected" ]]; then
    count <<<"  ok   step $((i + 1)) answered $expected"
  else
    count <<<"  FAIL step $((i + 1)) answered ${status:-no response}, the seed shows $expected"
  fi
  if ((i == 0)); then run_check patch-response "$out"; fi
  mark=$(python3 "$here/checks.py" mark) || die "cannot read the IdP's events at $IDP_URL"
  marks+=("$mark")
done

echo
echo "What the gateway did at the IdP:"
run_check idp "${marks[@]}"

if [[ -n "${ENGINE_ERROR_LOG:-}" ]]; then
  echo
  echo "Kong's engine ($ENGINE_ERROR_LOG):"
  bad=$(grep -E 'exited on signal|\[alert\]|\[emerg\]' "$ENGINE_ERROR_LOG" 2>/dev/null | head -n 5)
  if [[ ! -f "$ENGINE_ERROR_LOG" ]]; then
    count <<<"  FAIL no error.log at $ENGINE_ERROR_LOG"
  elif [[ -n "$bad" ]]; then
    count <<<"  FAIL error.log shows a crashed worker or an alert: $(cut -c1-200 <<<"$bad" | tr '\n' ' ')"
  else
    count <<<"  ok   error.log: no crashed worker, no [alert] or [emerg]"
  fi
fi

echo
echo "seed: $passed passed, $failed failed"
((failed == 0))
