#!/usr/bin/env bash
# Sets up (scripts/setup.sh), checks formatting and lints, and runs every test, in the one build profile CI uses (release).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Lint gates: formatting and clippy (with the workspace's [workspace.lints]) fail the run like a failing test.
cargo fmt --all --check
cargo clippy --release --workspace --all-targets -j 2 -- -D warnings
# House gates (tests/gates): no non-test function over 120 lines or file over 600 (unless it says why), no
# import cycle between files of a crate, README's layout table naming only paths that exist.
cargo run --quiet --release -j 2 -p house-gates -- .
cargo test --release --workspace -j 2 -- --test-threads=2
# After the x86 suite (its failures first; the arm64 cross build is the slowest extra step): arm64 under qemu.
bash scripts/build-arm64.sh && bash scripts/test-arm64.sh
