#!/usr/bin/env bash
# Setup for the `container`, `node-wasm` and `node-js` runtimes (called by scripts/setup.sh): the musl target and
# the static workload executables the container images hold, and checks of the Docker engine and Node.js.
# The images themselves are built by `harness measure` when a plan needs them (no registry, no pull).
set -euo pipefail
cd "$(dirname "$0")/.."

musl="$(uname -m)-unknown-linux-musl"
if ! rustup target list --installed | grep -qx "$musl"; then
  rustup target add "$musl"
fi
scripts/build-musl-workloads.sh

# Checks only: a missing engine or node is reported, and the runtimes that need them fail with the same advice.
node_bin=${HARNESS_NODE:-node}
if ! command -v "$node_bin" >/dev/null; then
  echo "warning: node not found: node-wasm and node-js need Node.js >= 20 (apt-get install nodejs, or set HARNESS_NODE)" >&2
else
  major=$("$node_bin" -p 'process.versions.node.split(".")[0]')
  if [ "$major" -lt 20 ]; then
    echo "warning: $("$node_bin" --version) found; node-wasm and node-js need Node.js >= 20" >&2
  fi
fi
socket=${DOCKER_HOST:-unix:///var/run/docker.sock}
if ! command -v docker >/dev/null || ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  echo "warning: the Docker engine at $socket is not reachable: the container runtime needs it (start dockerd; add yourself to the docker group)" >&2
fi
