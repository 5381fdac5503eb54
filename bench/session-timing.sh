#!/usr/bin/env bash
# Times the steps of the OIDC filter's session path on a real cookie (bench/session-timing):
# natively, and as wasm32-wasip1 under Node's WASI (software AES and SHA, as in the gateway).
#
#   bench/session-timing.sh                 # the release profile's opt-level (Cargo.toml)
#   OPT_LEVEL=s bench/session-timing.sh     # another opt-level, to compare
#   bench/session-timing.sh COOKIE_FILE SECRET   # another cookie (a Cookie header value)
set -euo pipefail
# A cookie file given as argument: absolute, so the wasm build finds it too.
[ $# -ge 1 ] && set -- "$(realpath "$1")" "${@:2}"
cd "$(dirname "$0")/session-timing"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(cd ../.. && pwd)/target/session-timing}
[ -n "${OPT_LEVEL:-}" ] && export CARGO_PROFILE_RELEASE_OPT_LEVEL=$OPT_LEVEL
rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
cargo build -q --release
cargo build -q --release --target wasm32-wasip1
echo "== native (opt-level ${OPT_LEVEL:-as in Cargo.toml})"
"$CARGO_TARGET_DIR/release/session-timing" "$@"
echo
echo "== wasm32-wasip1 under Node $(node --version) (opt-level ${OPT_LEVEL:-as in Cargo.toml})"
node --no-warnings run-wasi.mjs "$CARGO_TARGET_DIR/wasm32-wasip1/release/session-timing.wasm" "$@"
