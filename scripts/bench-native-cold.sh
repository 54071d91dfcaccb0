#!/usr/bin/env bash
# A native cold start as the harness measures it, against `hyperfine -N` on the same executable, in one sitting.
#
# Each pair runs hyperfine (no shell, stdin, stdout and stderr as hyperfine gives them; then again with
# `--output=pipe`) and then the harness
# (`harness measure` of a plan of native noop cold invocations, no probe: each invocation spawns
# artifacts/native/noop, feeds it its input on a pipe, reads its stdout and stderr, waits for it and reaps it)
# on the same executable with the same (empty) argv; the harness's figure is the median `latency_ns` of the
# run's measured rows in invocations.csv, the latency it records for a cold invocation. The two alternate, pair
# after pair, so drift on a shared machine touches both; the ratio is printed per pair.
#
# A benchmark, not part of CI. Needs `bash scripts/setup.sh` (or `cargo build --release -p harness` and
# `scripts/build-workloads.sh noop`); installs hyperfine from Debian's packages when it is missing.
# On a busy machine both tools' times switch between two modes (a child that finds the CPU taken waits for the
# next scheduler tick, some 2.6 ms more here): the lower quartile compares the quiet mode, the median the mix.
# Usage: scripts/bench-native-cold.sh [pairs, default 6] [invocations per side and pair, default 200]
set -euo pipefail
cd "$(dirname "$0")/.."

pairs=${1:-6}
runs=${2:-200}
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

# The median and the lower quartile, in us, of hyperfine's times (JSON) or the harness's measured rows (CSV).
stats() {
  python3 - "$1" <<'EOF'
import csv, json, statistics, sys
path = sys.argv[1]
if path.endswith(".json"):
    us = [t * 1e6 for t in json.load(open(path))["results"][0]["times"]]
else:
    rows = [r for r in csv.DictReader(open(path)) if r["warmup"] == "false" and r["status"] == "ok"]
    us = [int(r["latency_ns"]) / 1e3 for r in rows]
print(f"{statistics.median(us):.1f} {statistics.quantiles(us, n=4)[0]:.1f}")
EOF
}

ratio() {
  python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.3f}')" "$1" "$2"
}

echo "native noop cold start, $runs invocations per side and pair; $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
median_of() {
  printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}

# Two hyperfine sides: its default (the child's stdout to /dev/null) and `--output=pipe` (stdout read through a
# pipe and discarded, as hyperfine's own help advises for a fair output path): the harness must read the output
# to digest it, so the second is the like-for-like peer; both are printed.
ratios=()
ratios_pipe=()
for pair in $(seq 1 "$pairs"); do
  hyperfine -N --warmup 20 --runs "$runs" --export-json "$work/h$pair.json" "$exe" >/dev/null 2>&1
  read -r h_median h_p25 < <(stats "$work/h$pair.json")
  hyperfine -N --output=pipe --warmup 20 --runs "$runs" --export-json "$work/p$pair.json" "$exe" >/dev/null 2>&1
  read -r p_median p_p25 < <(stats "$work/p$pair.json")
  "$harness" measure --plan "$work/plan.toml" --out "$work/run$pair" >/dev/null 2>&1
  read -r m_median m_p25 < <(stats "$work/run$pair/invocations.csv")
  ratios+=("$(ratio "$m_median" "$h_median")")
  ratios_pipe+=("$(ratio "$m_median" "$p_median")")
  echo "pair $pair: median hyperfine -N ${h_median} us, -N --output=pipe ${p_median} us, harness ${m_median} us:" \
    "${ratios[-1]}x, ${ratios_pipe[-1]}x; lower quartile ${h_p25}, ${p_p25}, ${m_p25} us:" \
    "$(ratio "$m_p25" "$h_p25")x, $(ratio "$m_p25" "$p_p25")x"
done
echo "median of the pairs' ratios of medians: $(median_of "${ratios[@]}")x against hyperfine -N," \
  "$(median_of "${ratios_pipe[@]}")x against hyperfine -N --output=pipe"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
