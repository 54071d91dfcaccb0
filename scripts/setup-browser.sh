#!/usr/bin/env bash
# Installs Debian's chromium and firefox-esr: the browser runtimes (chromium-*, firefox-*: tests/all/browsers.rs)
# and the headless-browser test of report.html (tests/all/report_browser.rs).
# Idempotent: does nothing when both are already installed. Needs root (CI runs as root) or sudo.
set -euo pipefail
if { command -v chromium >/dev/null || command -v chromium-browser >/dev/null; } \
  && { command -v firefox-esr >/dev/null || command -v firefox >/dev/null; }; then
  exit 0
fi
command -v apt-get >/dev/null || { echo "chromium or firefox-esr is missing and apt-get is not available: install them by hand" >&2; exit 1; }
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq chromium firefox-esr >/dev/null
command -v chromium >/dev/null || { echo "chromium did not install" >&2; exit 1; }
command -v firefox-esr >/dev/null || { echo "firefox-esr did not install" >&2; exit 1; }
