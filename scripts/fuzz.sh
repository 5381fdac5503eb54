#!/usr/bin/env bash
# Randomised robustness runs, in two parts:
#  1. the property tests of the filter core ("never panics" / "never fails open": cookie codec,
#     config parser, JWT and JWKS parsers, form/query/cookie parsers, the request state machine)
#     with many more cases than `make test` uses (CASES, default 20000; PROPTESTS=0 skips them);
#  2. coverage-guided fuzzing with cargo-fuzz (libFuzzer, nightly): each target in FUZZ_TARGETS
#     for FUZZ_SECONDS, one after the other at the lowest CPU priority, starting from and adding
#     to the corpus kept in fuzz/corpus/<target>/, which is then minimised (FUZZ_CMIN=0 skips it).
#     A crash leaves its input in fuzz/artifacts/<target>/ and makes the run fail; once fixed,
#     the input goes to fuzz/regressions/<target>/, which `make test` replays with the corpus.
#   FUZZ_SECONDS=600 make fuzz
#   FUZZ_TARGETS="jwt http" FUZZ_SECONDS=30 PROPTESTS=0 make fuzz
set -euo pipefail
cd "$(dirname "$0")/.."

CASES=${CASES:-20000}
PROPTESTS=${PROPTESTS:-1}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_TARGETS=${FUZZ_TARGETS:-"session_cookie config jwt http discovery hostcalls"}
FUZZ_CMIN=${FUZZ_CMIN:-1}
# The targets are safe Rust, so by default no sanitizer: 2-3 times the executions of an ASan
# build. FUZZ_SANITIZER=address checks the unsafe code underneath (crypto, wasmtime) too.
FUZZ_SANITIZER=${FUZZ_SANITIZER:-none}

if [ "$PROPTESTS" != 0 ]; then
  echo "== property tests with $CASES cases each"
  PROPTEST_CASES=$CASES cargo test --release --lib -- never_panic fail_open never_open 2>&1 | tail -n 30
fi

# cargo-fuzz needs a nightly toolchain (for -Zsanitizer) and the cargo-fuzz subcommand.
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

# Per target: the largest input worth trying and the cargo features its build needs (hostcalls
# compiles the gateway's sources and wasmtime).
max_len() {
  case "$1" in
    session_cookie) echo 40000 ;;  # a chunked session spans up to nine 4 KiB cookies
    *) echo 8192 ;;
  esac
}
features() {
  case "$1" in
    hostcalls) echo "--no-default-features --features gateway" ;;
    *) echo "" ;;
  esac
}

# libFuzzer options of one target: the gateway logs every filter log line and refused call on
# stderr, which libFuzzer's own report does not need (it keeps its output when closing it).
extra() {
  case "$1" in
    hostcalls) echo "-close_fd_mask=2" ;;
    *) echo "" ;;
  esac
}

mkdir -p fuzz/logs
summary=()
failed=0
for target in $FUZZ_TARGETS; do
  echo "== fuzzing $target for ${FUZZ_SECONDS}s"
  mkdir -p "fuzz/corpus/$target"
  log="fuzz/logs/$target.log"
  # shellcheck disable=SC2046 # features() is a word list on purpose
  if ! nice -n 19 cargo +nightly fuzz build --sanitizer "$FUZZ_SANITIZER" $(features "$target") "$target" >"$log" 2>&1; then
    grep -E '^error' -A 6 "$log" | head -n 30
    summary+=("$(printf '%-15s BUILD FAILED (see %s)' "$target" "$log")")
    failed=1
    continue
  fi
  # shellcheck disable=SC2046 # features() is a word list on purpose
  if nice -n 19 cargo +nightly fuzz run --sanitizer "$FUZZ_SANITIZER" $(features "$target") "$target" "fuzz/corpus/$target" -- \
      -max_total_time="$FUZZ_SECONDS" -max_len="$(max_len "$target")" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 $(extra "$target") >"$log" 2>&1; then
    status=ok
  else
    status="CRASH (see $log and fuzz/artifacts/$target/)"
    failed=1
    tail -n 40 "$log"
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  if [ "$FUZZ_CMIN" != 0 ] && [ "$status" = ok ]; then
    # Keep the smallest set that reaches every edge (-use_counters=0: hit counts do not count),
    # which keeps the corpus in the repo small.
    # shellcheck disable=SC2046
    nice -n 19 cargo +nightly fuzz cmin --sanitizer "$FUZZ_SANITIZER" $(features "$target") "$target" "fuzz/corpus/$target" \
      -- -max_len="$(max_len "$target")" -use_counters=0 -rss_limit_mb=2048 >"fuzz/logs/$target.cmin.log" 2>&1 \
      || { echo "cmin of $target failed (fuzz/logs/$target.cmin.log)"; failed=1; }
  fi
  files=$(find "fuzz/corpus/$target" -type f | wc -l)
  summary+=("$(printf '%-15s %-6s %12s executions in %ss, coverage %s edges / %s features, corpus %s files' \
    "$target" "$status" "${runs:-?}" "$FUZZ_SECONDS" "${cov:-?}" "${ft:-?}" "$files")")
done

echo "== fuzzing summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
