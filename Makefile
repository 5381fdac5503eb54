# Two commands do everything on a fresh machine: `make run` and `make test`.
# Every target installs what it needs (wasm target, npm packages, HTTPie in a venv).

SHELL := /bin/bash
CARGO ?= cargo
WASM_TARGET := wasm32-wasip1
FILTERS_DIR := target/filters
FILTER_WASM := $(FILTERS_DIR)/openid_connect.wasm
# Every worker of every proxy compiles the module: `make wasm` fails above this size (1 MiB).
WASM_MAX_BYTES := 1048576
VENV := tests/.venv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: lint run test wasm gateway deps rust-deps node-deps py-deps browser-deps bench fuzz clean-run kong-engine

## Build everything and start the IdP (:8080), the echo upstream (:9000) and the gateway (:8000, admin :8001).
## HOST=kong runs the filter in Kong 3.10's Wasm engine instead (nginx on :8000, Kong's Admin API on :8001).
run: deps wasm gateway $(if $(filter kong,$(HOST)),kong-engine)
	@HOST=$(or $(HOST),gateway) scripts/stack.sh run

## All tests: unit, conformance, end-to-end, the IdP's own tests and the seed transcript.
test: deps browser-deps wasm gateway kong-engine
	@scripts/test.sh

## The filter, built for wasm32-wasip1 with its Kong metadata beside it (Kong's <name>.meta.json).
wasm: rust-deps
	$(CARGO) build --release --target $(WASM_TARGET) -p openid-connect
	@mkdir -p $(FILTERS_DIR)
	@cp target/$(WASM_TARGET)/release/openid_connect.wasm $(FILTER_WASM)
	@cp filter-config/openid_connect.meta.json $(FILTERS_DIR)/openid_connect.meta.json
	@size=$$(stat -c %s $(FILTER_WASM)); echo "openid_connect.wasm: $$size bytes ($(FILTER_WASM))"; \
	if [ "$$size" -gt $(WASM_MAX_BYTES) ]; then \
		echo "error: openid_connect.wasm is $$size bytes, over the $(WASM_MAX_BYTES)-byte cap by $$((size - $(WASM_MAX_BYTES))) bytes;" \
			"see Cargo.toml's [profile.release] and bench/wasm-size.py for where the bytes go" >&2; \
		exit 1; \
	fi

gateway: rust-deps
	$(CARGO) build -p gateway

## Kong 3.10's Wasm engine (nginx 1.27.4 + ngx_wasm_module a376e67c + wasmtime 26) from ../shared/hosts,
## cached outside the work tree by a hash of its inputs and linked at target/kong-engine (hosts/kong/).
kong-engine:
	@hosts/kong/build.sh

deps: rust-deps node-deps py-deps

rust-deps:
	@rustup target list --installed 2>/dev/null | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

node-deps: tests/idp/node_modules/.package-lock.json

tests/idp/node_modules/.package-lock.json: tests/idp/package-lock.json
	cd tests/idp && npm ci --no-audit --no-fund
	@touch $@

## Headless Chromium for the browser test (Debian's chromium, installed when /usr/bin/chromium is
## missing; never a downloaded browser) and the test's npm packages (playwright-core).
browser-deps: tests/browser/node_modules/.package-lock.json
	@[ -x /usr/bin/chromium ] || { $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y chromium chromium-driver; }

tests/browser/node_modules/.package-lock.json: tests/browser/package-lock.json
	cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	@touch $@

py-deps: $(VENV)/.installed

$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	@touch $@

## Throughput ratios: gateway with no filter, a no-op filter and the OIDC filter vs the upstream alone.
bench: deps wasm kong-engine
	@bench/run.sh

## Randomised robustness runs: the property tests with many more cases (CASES=N), then every
## cargo-fuzz target (fuzz/) for FUZZ_SECONDS each (default 60; FUZZ_TARGETS picks some), with
## executions and coverage per target at the end. fuzz/README.md has the details.
fuzz:
	@scripts/fuzz.sh

## The rules CI enforces (.ci/run): formatting, clippy with warnings as errors under the workspace's
## lints (Cargo.toml: no unsafe, no unwrap/expect/panic/indexing outside tests, unreachable_pub),
## and no import cycles between the modules of src/ or gateway/src/.
lint: rust-deps
	cargo fmt --all -- --check
	$(CARGO) clippy -p openid-connect -p gateway -p test-http-client --all-targets -- -D warnings
	python3 scripts/check-cycles.py
