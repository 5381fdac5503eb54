#!/usr/bin/env bash
# Runs every test suite and ends with one summary line: "summary: N passed, N failed".
#   1. cargo test (unit tests of the filter core, gateway conformance, end-to-end tests)
#   2. the test IdP's own tests (node --test)
#   3. the browser login in real headless Chromium (tests/browser, node --test)
#   4. the seed transcript with the real HTTPie against the `make run` stack
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

echo "== cargo test (filter core, gateway conformance, end-to-end)"
cargo test --workspace --no-fail-fast 2>&1 | tee "$LOGS/cargo.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
count_cargo "$LOGS/cargo.log"

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

echo "== seed transcript (HTTPie against the make-run stack)"
if scripts/stack.sh start; then
  PATH="$PWD/tests/.venv/bin:$PATH" tests/seed/run.sh 2>&1 | tee "$LOGS/seed.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  scripts/stack.sh stop
else
  echo "the stack did not start; logs:"; tail -n 30 .run/*.log
  scripts/stack.sh stop
  status=1; failed=$((failed + 1))
fi
passed=$((passed + $(grep -Eo '^seed: [0-9]+ passed' "$LOGS/seed.log" 2>/dev/null | awk '{s+=$2} END {print s+0}')))
failed=$((failed + $(grep -Eo '^seed: [0-9]+ passed, [0-9]+ failed' "$LOGS/seed.log" 2>/dev/null | awk '{s+=$4} END {print s+0}')))

if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo
echo "summary: $passed passed, $failed failed"
exit "$status"
