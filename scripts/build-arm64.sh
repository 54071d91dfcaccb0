#!/usr/bin/env bash
# Cross-builds the harness and the workloads for arm64 boards (Jetson, Raspberry Pi 4/5) on an x86 machine:
#   $CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/release/harness   (default CARGO_TARGET_DIR: target)
#   artifacts-aarch64/wasm/<name>.wasm     the same bytes as artifacts/wasm (a module is architecture-free)
#   artifacts-aarch64/native/<name>        each workload built for aarch64
# The `.cwasm` files are precompiled by the aarch64 harness itself on first use (into artifacts-aarch64/cwasm/),
# so they carry its target triple. No container images or node: the container and node runtimes are not part
# of the arm64 build. Needs Debian's gcc-aarch64-linux-gnu (scripts/setup-lab.sh installs it).
# Usage: scripts/build-arm64.sh [name ...]   (default: every workload)
set -euo pipefail
cd "$(dirname "$0")/.."

triple=aarch64-unknown-linux-gnu
command -v aarch64-linux-gnu-gcc >/dev/null ||
  { echo "aarch64-linux-gnu-gcc is missing: run scripts/setup-lab.sh (Debian's gcc-aarch64-linux-gnu)" >&2; exit 1; }
rustup target list --installed | grep -qx "$triple" ||
  { echo "the $triple target is missing: run 'rustup target add $triple' (scripts/setup-lab.sh does it)" >&2; exit 1; }
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  names=(noop fibonacci sieve nbody mandelbrot matmul sha256 aes-gcm json fuzzy image-resize transfer fannkuch-redux fault)
fi
target_dir=${CARGO_TARGET_DIR:-target}

cargo build --quiet --release -j 2 -p harness --target "$triple"
echo "built $target_dir/$triple/release/harness"

out=artifacts-aarch64
mkdir -p "$out/wasm" "$out/native"
for name in "${names[@]}"; do
  [ -f "artifacts/wasm/$name.wasm" ] || bash scripts/build-workloads.sh "$name"
  cp "artifacts/wasm/$name.wasm" "$out/wasm/$name.wasm"
  HARNESS_WORKLOAD="$name" cargo build --quiet --release -j 2 -p workload-entry --bin workload --target "$triple"
  cp "$target_dir/$triple/release/workload" "$out/native/$name"
  aarch64-linux-gnu-strip "$out/native/$name"
  echo "built $name for aarch64: $(stat -c %s "$out/native/$name") B native"
done
