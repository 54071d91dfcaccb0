#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs every test, in the one build profile CI uses (release).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --release --workspace -j 2 -- --test-threads=2
