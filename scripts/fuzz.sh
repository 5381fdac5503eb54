#!/usr/bin/env bash
# Randomised robustness run: every "never panics" / "never fails open" property test of the
# filter core (cookie codec, config parser, JWT and JWKS parsers, form/query/cookie parsers, the
# whole request state machine) with many more cases than `make test` uses.
#   CASES=200000 make fuzz
set -euo pipefail
cd "$(dirname "$0")/.."
CASES=${CASES:-20000}
echo "property tests with $CASES cases each"
PROPTEST_CASES=$CASES cargo test --release --lib -- never_panic fail_open never_open 2>&1 | tail -n 30
