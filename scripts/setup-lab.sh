#!/usr/bin/env bash
# Installs what the lab tests need from Debian: qemu-user (arm64 binaries under qemu-aarch64), the aarch64 cross
# linker and C library, ansible-core (the fleet playbook) and openssh-server (the two loopback hosts it runs on);
# and the Rust target the arm64 build needs. Idempotent. Needs root (CI runs as root) or sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v ansible-playbook >/dev/null || missing+=(ansible-core)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null || missing+=(openssh-client)
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || { echo "missing ${missing[*]} and apt-get is not available: install them by hand" >&2; exit 1; }
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu
fi
