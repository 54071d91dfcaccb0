#!/usr/bin/env bash
# Sets up a fresh machine for harness: the wasm32-wasip1 target, the harness binary (release), and every
# workload built natively and to wasm32-wasip1 into artifacts/. Idempotent: rerunning only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs) first" >&2; exit 1; }
if ! rustup target list --installed | grep -qx wasm32-wasip1; then
  rustup target add wasm32-wasip1
fi
# The lint gates of scripts/test.sh need rustfmt and clippy.
for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    rustup component add "$component"
  fi
done
# Bounded parallelism: the lab machines and CI have 2 cores.
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}
cargo build --release -p harness
scripts/build-workloads.sh
scripts/setup-runtimes.sh
scripts/setup-browser.sh  # chromium for the headless test of report.html
scripts/setup-lab.sh      # qemu-user, the aarch64 cross linker, ansible-core, openssh-server (lab tests)
