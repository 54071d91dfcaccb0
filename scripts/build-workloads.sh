#!/usr/bin/env bash
# Builds every workload twice from the same source: a wasm32-wasip1 module and a native executable.
#   artifacts/wasm/<name>.wasm     the module that wasmtime, wasmi and node load
#   artifacts/native/<name>        the executable a native cold invocation spawns
# Usage: scripts/build-workloads.sh [name ...]   (default: every workload)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
  echo "the wasm32-wasip1 target is missing: run 'rustup target add wasm32-wasip1' (scripts/setup.sh does it)" >&2
  exit 1
fi

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  names=(noop fibonacci sieve nbody mandelbrot matmul sha256 aes-gcm json fuzzy image-resize transfer fannkuch-redux fault)
fi

target_dir=${CARGO_TARGET_DIR:-target}
mkdir -p artifacts/wasm artifacts/native
for name in "${names[@]}"; do
  # Symbols stripped from the module only (target-scoped flags leave the host build untouched).
  HARNESS_WORKLOAD="$name" CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS="-C strip=symbols" \
    cargo build --quiet --release -p workload-entry --lib --target wasm32-wasip1
  cp "$target_dir/wasm32-wasip1/release/workload.wasm" "artifacts/wasm/$name.wasm"
  HARNESS_WORKLOAD="$name" cargo build --quiet --release -p workload-entry --bin workload
  cp "$target_dir/release/workload" "artifacts/native/$name"
  if command -v strip >/dev/null; then strip "artifacts/native/$name"; fi
  echo "built $name: $(stat -c %s "artifacts/wasm/$name.wasm") B wasm, $(stat -c %s "artifacts/native/$name") B native"
done
scripts/build-commands.sh  # the sightglass-convention WASI commands (issue 14), from the same sources
