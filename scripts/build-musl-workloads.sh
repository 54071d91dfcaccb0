#!/usr/bin/env bash
# Builds every workload as a statically linked executable (<host arch>-unknown-linux-musl), from the same source as
# artifacts/native and artifacts/wasm, for the `container` runtime's `FROM scratch` images:
#   artifacts/musl/<name>
# Usage: scripts/build-musl-workloads.sh [name ...]   (default: every workload)
set -euo pipefail
cd "$(dirname "$0")/.."

# The host's architecture: a container image runs the engine's own (x86_64 on a server, aarch64 on a Jetson or Pi).
target="$(uname -m)-unknown-linux-musl"
# Cargo's per-target variable: CARGO_TARGET_<TRIPLE in capitals, - as _>_RUSTFLAGS.
rustflags_var="CARGO_TARGET_$(echo "$target" | tr 'a-z-' 'A-Z_')_RUSTFLAGS"
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  echo "the $target target is missing: run 'rustup target add $target' (scripts/setup-runtimes.sh does it)" >&2
  exit 1
fi

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  names=(noop fibonacci sieve nbody mandelbrot matmul sha256 aes-gcm json fuzzy image-resize transfer fannkuch-redux fault)
fi

target_dir=${CARGO_TARGET_DIR:-target}
mkdir -p artifacts/musl
for name in "${names[@]}"; do
  # Static: musl links its libc in, so the binary runs in an empty (scratch) image.
  env HARNESS_WORKLOAD="$name" "$rustflags_var=-C target-feature=+crt-static -C strip=symbols" \
    cargo build --quiet --release -p workload-entry --bin workload --target "$target"
  cp "$target_dir/$target/release/workload" "artifacts/musl/$name.tmp"
  mv "artifacts/musl/$name.tmp" "artifacts/musl/$name"
  echo "built $name: $(stat -c %s "artifacts/musl/$name") B static (musl)"
done
