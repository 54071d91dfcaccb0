#!/usr/bin/env bash
# Builds built-in workloads as WASI commands in the sightglass convention, one directory per benchmark:
#   artifacts/commands/<dir>/benchmark.wasm             wasm32-wasip1 command (`_start`)
#   artifacts/commands/<dir>/benchmark                  native executable of the host, same contract
#   artifacts/commands/<dir>/benchmark.static           the same, statically linked (for container images)
#   artifacts/commands/<dir>/default.input              the harness's own small input for the workload
#   artifacts/commands/<dir>/benchmark.stdout.expected  the built-in workload's output for default.input
# <dir> is <workload> (imports bench.start/bench.end) or <workload>-nobench (no bench imports), and transfer-wasi:
# `transfer` moving its bytes through WASI (stdin or a preopened file in, stdout out); the plan gives its input,
# so it has no default.input and no expected output.
# Usage: scripts/build-commands.sh [workload ...]   (default: fibonacci sha256 nbody, plus transfer-wasi)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
  echo "the wasm32-wasip1 target is missing: run 'rustup target add wasm32-wasip1' (scripts/setup.sh does it)" >&2
  exit 1
fi

names=("$@")
with_transfer_wasi=0
if [ ${#names[@]} -eq 0 ]; then
  names=(fibonacci sha256 nbody)
  with_transfer_wasi=1
fi

target_dir=${CARGO_TARGET_DIR:-target}
out=artifacts/commands
# The static twin is built for the host triple named explicitly, so that the static flag reaches the program and
# not the build scripts and proc macros (which cargo builds for the host and cannot link statically).
host=$(rustc -vV | sed -n 's/^host: //p')
static_flags_var="CARGO_TARGET_$(echo "$host" | tr 'a-z-' 'A-Z_')_RUSTFLAGS"

# build_module WORKLOAD DIR BENCH_IMPORTS(1|0): DIR/benchmark.wasm
build_module() {
  local workload=$1 dir=$2 bench=$3
  mkdir -p "$out/$dir"
  # Symbols stripped from the module only (target-scoped flags leave the host build untouched).
  HARNESS_WORKLOAD="$workload" HARNESS_BENCH_IMPORTS="$bench" CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS="-C strip=symbols" \
    cargo build --quiet --release -p workload-command --bin benchmark --target wasm32-wasip1
  cp "$target_dir/wasm32-wasip1/release/benchmark.wasm" "$out/$dir/benchmark.wasm"
}

# build_native WORKLOAD DIR...: each DIR/benchmark (dynamically linked, like artifacts/native) and
# DIR/benchmark.static (statically linked, so that it runs in a `FROM scratch` container image). Native builds
# call no-ops for bench.start/bench.end, so one build serves a workload's bench and nobench directories.
build_native() {
  local workload=$1
  shift
  HARNESS_WORKLOAD="$workload" HARNESS_BENCH_IMPORTS=1 \
    cargo build --quiet --release -p workload-command --bin benchmark
  env HARNESS_WORKLOAD="$workload" HARNESS_BENCH_IMPORTS=1 "$static_flags_var=-C target-feature=+crt-static" \
    cargo build --quiet --release -p workload-command --bin benchmark --target "$host"
  for dir in "$@"; do
    mkdir -p "$out/$dir"
    cp "$target_dir/release/benchmark" "$out/$dir/benchmark"
    cp "$target_dir/$host/release/benchmark" "$out/$dir/benchmark.static"
    if command -v strip >/dev/null; then strip "$out/$dir/benchmark" "$out/$dir/benchmark.static"; fi
    echo "built command $dir: $(stat -c %s "$out/$dir/benchmark.wasm") B wasm," \
      "$(stat -c %s "$out/$dir/benchmark") B native, $(stat -c %s "$out/$dir/benchmark.static") B static"
  done
}

cargo build --quiet --release -p workload-command --bin command-fixtures
for name in "${names[@]}"; do
  build_module "$name" "$name" 1
  build_module "$name" "$name-nobench" 0
  build_native "$name" "$name" "$name-nobench"
  for dir in "$name" "$name-nobench"; do
    "$target_dir/release/command-fixtures" "$name" "$out/$dir"
  done
done
if [ "$with_transfer_wasi" = 1 ]; then
  build_module transfer transfer-wasi 1
  build_native transfer transfer-wasi
fi
