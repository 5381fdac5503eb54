#!/usr/bin/env bash
# Builds Kong 3.10's Wasm engine: nginx 1.27.4 + Kong/ngx_wasm_module a376e67c on wasmtime 26.0.0
# (the crates.io crate wasmtime-c-api-impl, built by hosts/kong/engine as libwasmtime.a).
#
# The result is installed once per set of inputs in
#   ${XDG_CACHE_HOME:-$HOME/.cache}/openid-connect/kong-engine-<hash of the inputs>/
# (outside the work tree, so a fresh clone on the same machine reuses it) and linked at
# target/kong-engine. Run it as `make kong-engine`; a cached engine takes about a second.
#
# Sources: ../shared/hosts/ beside the repository (KONG_HOSTS_DIR overrides).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HOSTS_DIR=${KONG_HOSTS_DIR:-$ROOT/../shared/hosts}
NGINX_VERSION=1.27.4
MODULE_COMMIT=a376e67c
NGINX_TGZ=$HOSTS_DIR/nginx-$NGINX_VERSION.tar.gz
MODULE_TGZ=$HOSTS_DIR/ngx_wasm_module-$MODULE_COMMIT.tar.gz
ENGINE_CRATE=hosts/kong/engine
BUILD_DIR=$ROOT/target/kong-engine-build
LINK=$ROOT/target/kong-engine

say() { echo "kong-engine: $*" >&2; }

for f in "$NGINX_TGZ" "$MODULE_TGZ"; do
  [ -f "$f" ] || { say "missing $f (the engine's sources; set KONG_HOSTS_DIR)"; exit 1; }
done

# Everything that changes the engine: the sources, the wasmtime wrapper crate and this script.
hash=$(cat "$NGINX_TGZ" "$MODULE_TGZ" "$ENGINE_CRATE/Cargo.toml" "$ENGINE_CRATE/Cargo.lock" \
  "$ENGINE_CRATE/src/lib.rs" "$0" | sha256sum | cut -c1-16)
CACHE_ROOT=${XDG_CACHE_HOME:-$HOME/.cache}/openid-connect
PREFIX=$CACHE_ROOT/kong-engine-$hash

link() {
  mkdir -p "$ROOT/target"
  ln -sfn "$PREFIX" "$LINK"
  say "$("$LINK/sbin/nginx" -v 2>&1) with ngx_wasm_module $MODULE_COMMIT and wasmtime 26.0.0 at target/kong-engine -> $PREFIX"
}

if [ -f "$PREFIX/.complete" ] && [ -x "$PREFIX/sbin/nginx" ]; then
  link
  exit 0
fi

started=$(date +%s)

# Debian build dependencies, installed when missing (we run as root on the project's machines).
missing=()
command -v cmake >/dev/null || missing+=(cmake)
for pkg in libssl-dev libpcre2-dev zlib1g-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  say "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 1. wasmtime's C API as a static library (its own workspace and target dir: never part of the
#    project's `cargo test --workspace`).
say "building wasmtime 26.0.0's C API (release; several minutes on 2 cores the first time)"
cargo build --release --locked --manifest-path "$ENGINE_CRATE/Cargo.toml" --target-dir "$BUILD_DIR"
LIB=$BUILD_DIR/release/libwasmtime.a
# The crate's build script installs its headers, with a conf.h for the enabled features, here:
out_include=$(ls -d "$BUILD_DIR"/release/build/wasmtime-c-api-impl-*/out/include 2>/dev/null | head -n1)
[ -f "$out_include/wasmtime/conf.h" ] || { say "wasmtime's generated headers are missing"; exit 1; }
INCLUDE=$BUILD_DIR/include
rm -rf "$INCLUDE"
cp -r "$out_include" "$INCLUDE"
# The crate's build script has no WAT entry in its feature list, so conf.h leaves it undefined
# although `wat` is enabled, and wasmtime.h declares wasmtime_wat2wasm (which ngx_wasm_module
# calls) only under WASMTIME_FEATURE_WAT.
sed -i 's|^/\* #undef WASMTIME_FEATURE_WAT \*/$|#define WASMTIME_FEATURE_WAT|' "$INCLUDE/wasmtime/conf.h"
grep -q '^#define WASMTIME_FEATURE_WAT' "$INCLUDE/wasmtime/conf.h" ||
  sed -i 's|^#endif // WASMTIME_CONF_H|#define WASMTIME_FEATURE_WAT\n#endif // WASMTIME_CONF_H|' "$INCLUDE/wasmtime/conf.h"
grep -q '^#define WASMTIME_FEATURE_WAT' "$INCLUDE/wasmtime/conf.h" ||
  { say "could not declare WASMTIME_FEATURE_WAT in conf.h"; exit 1; }

# 2. nginx with the module, installed into the cache directory (nginx's prefix).
SRC=$BUILD_DIR/src
rm -rf "$SRC" "$PREFIX"
mkdir -p "$SRC"
tar -xzf "$NGINX_TGZ" -C "$SRC"
tar -xzf "$MODULE_TGZ" -C "$SRC"
NGINX_SRC=$(ls -d "$SRC"/nginx-*/ | head -n1)
MODULE_SRC=$(ls -d "$SRC"/ngx_wasm_module-*/ | head -n1)
configure=./configure
[ -x "$NGINX_SRC/configure" ] || configure=auto/configure # the repository's tag has no top-level script
say "configuring and building nginx $NGINX_VERSION with ngx_wasm_module $MODULE_COMMIT"
(
  cd "$NGINX_SRC"
  NGX_WASM_RUNTIME=wasmtime \
    NGX_WASM_RUNTIME_INC="$INCLUDE" \
    NGX_WASM_RUNTIME_LD_OPT="$LIB -lm -ldl -lpthread" \
    NGX_WASM_CARGO=0 \
    "$configure" --prefix="$PREFIX" --add-module="$MODULE_SRC" --with-http_ssl_module \
    >"$BUILD_DIR/configure.log" 2>&1 || { tail -n 30 "$BUILD_DIR/configure.log"; exit 1; }
  make -j"$(nproc)" >"$BUILD_DIR/make.log" 2>&1 || { grep -E 'error|Error' "$BUILD_DIR/make.log" | head -n 30; exit 1; }
  make install >>"$BUILD_DIR/make.log" 2>&1
)
"$PREFIX/sbin/nginx" -V >"$PREFIX/VERSION" 2>&1
cat >"$PREFIX/BUILD" <<TXT
nginx $NGINX_VERSION + Kong/ngx_wasm_module $MODULE_COMMIT + wasmtime-c-api-impl 26.0.0
inputs sha256 (first 16): $hash
built in $(($(date +%s) - started)) s on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ)
TXT
touch "$PREFIX/.complete"
say "built in $(($(date +%s) - started)) s"
link
