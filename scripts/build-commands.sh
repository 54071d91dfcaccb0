#!/usr/bin/env bash
# Builds built-in workloads as WASI commands in the sightglass convention, one directory per benchmark:
#   artifacts/commands/<dir>/benchmark.wasm             wasm32-wasip1 command (`_start`)
#   artifacts/commands/<dir>/benchmark                  native executable of the host, same contract
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

# build_command WORKLOAD DIR BENCH_IMPORTS(1|0)
build_command() {
  local workload=$1 dir=$2 bench=$3
  mkdir -p "$out/$dir"
  # Symbols stripped from the module only (target-scoped flags leave the host build untouched).
  HARNESS_WORKLOAD="$workload" HARNESS_BENCH_IMPORTS="$bench" CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS="-C strip=symbols" \
    cargo build --quiet --release -p workload-command --bin benchmark --target wasm32-wasip1
  cp "$target_dir/wasm32-wasip1/release/benchmark.wasm" "$out/$dir/benchmark.wasm"
  # Native builds ignore the bench imports (no-ops), so one build serves both directories of a workload.
  HARNESS_WORKLOAD="$workload" HARNESS_BENCH_IMPORTS="$bench" \
    cargo build --quiet --release -p workload-command --bin benchmark
  cp "$target_dir/release/benchmark" "$out/$dir/benchmark"
  if command -v strip >/dev/null; then strip "$out/$dir/benchmark"; fi
  echo "built command $dir: $(stat -c %s "$out/$dir/benchmark.wasm") B wasm, $(stat -c %s "$out/$dir/benchmark") B native"
}

cargo build --quiet --release -p workload-command --bin command-fixtures
for name in "${names[@]}"; do
  for variant in "$name:1" "$name-nobench:0"; do
    dir=${variant%:*}
    build_command "$name" "$dir" "${variant##*:}"
    "$target_dir/release/command-fixtures" "$name" "$out/$dir"
  done
done
if [ "$with_transfer_wasi" = 1 ]; then
  build_command transfer transfer-wasi 1
fi
