#!/usr/bin/env bash
# A native cold start as the harness measures it, against `hyperfine -N` on the same executable, in one sitting.
#
# Each pair runs hyperfine (no shell, stdin, stdout and stderr as hyperfine gives them) and then the harness
# (`harness measure` of a plan of native noop cold invocations, no probe: each invocation spawns
# artifacts/native/noop, feeds it its input on a pipe, reads its stdout and stderr, waits for it and reaps it)
# on the same executable with the same (empty) argv; the harness's figure is the median `latency_ns` of the
# run's measured rows in invocations.csv, the latency it records for a cold invocation. The two alternate, pair
# after pair, so drift on a shared machine touches both; the ratio is printed per pair.
#
# A benchmark, not part of CI. Needs `bash scripts/setup.sh` (or `cargo build --release -p harness` and
# `scripts/build-workloads.sh noop`); installs hyperfine from Debian's packages when it is missing.
# Usage: scripts/bench-native-cold.sh [pairs, default 3] [invocations per side and pair, default 300]
set -euo pipefail
cd "$(dirname "$0")/.."

pairs=${1:-3}
runs=${2:-300}
harness=${HARNESS:-./target/release/harness}
exe=artifacts/native/noop

if ! command -v hyperfine >/dev/null; then
  apt-get install -y hyperfine >/dev/null
fi
for needed in "$harness" "$exe"; do
  [ -x "$needed" ] || { echo "$needed is missing: run bash scripts/setup.sh" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# hyperfine 1.15 (Debian 12) has no --input: its child's stdin is /dev/null, an empty input. The harness is
# given the empty input too (noop ignores it; the harness still writes it to a pipe and closes it).
cat >"$work/plan.toml" <<EOF
seed = 1
repetitions = $runs
warmup = 20
runtimes = ["native"]
modes = ["cold"]
[[workloads]]
name = "noop"
inputs = [""]
EOF

median_latency_us() {
  python3 - "$1" <<'EOF'
import csv, statistics, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["warmup"] == "false" and r["status"] == "ok"]
print(f"{statistics.median(int(r['latency_ns']) for r in rows) / 1e3:.1f}")
EOF
}

echo "native noop cold start, $runs invocations per side and pair; $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for pair in $(seq 1 "$pairs"); do
  hyperfine -N --warmup 20 --runs "$runs" --export-json "$work/h$pair.json" "$exe" >/dev/null 2>&1
  hyperfine_us=$(python3 -c 'import json, sys; print("%.1f" % (json.load(open(sys.argv[1]))["results"][0]["median"] * 1e6))' "$work/h$pair.json")
  "$harness" measure --plan "$work/plan.toml" --out "$work/run$pair" >/dev/null 2>&1
  harness_us=$(median_latency_us "$work/run$pair/invocations.csv")
  ratio=$(python3 -c "print(f'{$harness_us / $hyperfine_us:.3f}')")
  echo "pair $pair: hyperfine -N median ${hyperfine_us} us, harness median ${harness_us} us, ratio ${ratio}x"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
