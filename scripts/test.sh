#!/usr/bin/env bash
# Runs every test suite and ends with one summary line: "summary: N passed, N failed".
#   1. cargo test (unit tests of the filter core, gateway conformance, end-to-end tests)
#   2. the test IdP's own tests (node --test)
#   3. the browser login in real headless Chromium (tests/browser, node --test)
#   4. the seed transcript with the real HTTPie against the `make run` stack, on each host: our
#      gateway and Kong's Wasm engine (`make kong-engine`; HOSTS="gateway kong" by default)
# The end-to-end suites in 1 run every test on both hosts too (tests/common/hosts.rs), and
# tests/e2e_kong_load.rs puts KONG_LOAD_SECONDS (60) of load through Kong's engine.
set -uo pipefail
cd "$(dirname "$0")/.."
LOGS=target/test-logs
mkdir -p "$LOGS"
passed=0
failed=0
status=0

count_cargo() { # log
  local p f
  p=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' "$1" | awk '{s+=$4} END {print s+0}')
  f=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' "$1" | awk '{s+=$6} END {print s+0}')
  passed=$((passed + p)); failed=$((failed + f))
}

echo "== cargo test (filter core, gateway conformance, end-to-end on both hosts)"
KONG_LOAD_SECONDS=${KONG_LOAD_SECONDS:-60} cargo test --workspace --no-fail-fast 2>&1 | tee "$LOGS/cargo.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
count_cargo "$LOGS/cargo.log"
for host in gateway kong; do
  echo "e2e on $host: $(grep -c "^test $host::.* ok$" "$LOGS/cargo.log") passed, $(grep -c "^test $host::.* FAILED$" "$LOGS/cargo.log") failed"
done | tee "$LOGS/hosts.log"

echo "== test IdP (node --test)"
node --test tests/idp/test/ 2>&1 | tee "$LOGS/idp.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
passed=$((passed + $(grep -Eo '^# pass [0-9]+' "$LOGS/idp.log" | awk '{s+=$3} END {print s+0}')))
failed=$((failed + $(grep -Eo '^# fail [0-9]+' "$LOGS/idp.log" | awk '{s+=$3} END {print s+0}')))

echo "== browser login (headless Chromium, node --test)"
node --test tests/browser/ 2>&1 | tee "$LOGS/browser.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
passed=$((passed + $(grep -Eo '^# pass [0-9]+' "$LOGS/browser.log" | awk '{s+=$3} END {print s+0}')))
failed=$((failed + $(grep -Eo '^# fail [0-9]+' "$LOGS/browser.log" | awk '{s+=$3} END {print s+0}')))

for host in ${HOSTS:-gateway kong}; do
  echo "== seed transcript on $host (HTTPie against the make-run stack, HOST=$host)"
  seed_log="$LOGS/seed-$host.log"
  rm -f "$seed_log"
  if HOST=$host scripts/stack.sh start; then
    engine_log=""
    [ "$host" = kong ] && engine_log=.run/kong/logs/error.log
    PATH="$PWD/tests/.venv/bin:$PATH" ENGINE_ERROR_LOG=$engine_log tests/seed/run.sh 2>&1 | tee "$seed_log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
    HOST=$host scripts/stack.sh stop
  else
    echo "the stack did not start on $host; logs:"; tail -n 30 .run/*.log
    HOST=$host scripts/stack.sh stop
    status=1; failed=$((failed + 1))
  fi
  passed=$((passed + $(grep -Eo '^seed: [0-9]+ passed' "$seed_log" 2>/dev/null | awk '{s+=$2} END {print s+0}')))
  failed=$((failed + $(grep -Eo '^seed: [0-9]+ passed, [0-9]+ failed' "$seed_log" 2>/dev/null | awk '{s+=$4} END {print s+0}')))
done

if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo
echo "summary: $passed passed, $failed failed"
exit "$status"
