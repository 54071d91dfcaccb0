#!/usr/bin/env bash
# `harness run` against hyperfine on the same commands, in one sitting: what each reports as the median wall
# time per run of `sleep 0.01` and of `true`, both without a shell (-N), both in hyperfine's order.
#
# Each pair runs hyperfine (`-N --runs R --warmup 5 --export-json`) and then `harness run` with the same options
# (`--order sequential --probe none`: no sampler, so its runs are timed one by one as hyperfine's are; then once
# more with `--probe auto`, the sampler and the idle baselines on), alternating pair after pair so drift on a
# shared machine touches both; the ratio of medians is printed per pair and over all pairs.
#
# A benchmark, not part of CI. Needs `bash scripts/setup.sh` (or `cargo build --release -p harness`); installs
# hyperfine 1.20.0 from crates.io into target/bench-tools when it is missing (hyperfine 2 needs a newer rustc).
# Usage: scripts/bench-run.sh [pairs, default 5] [runs per side and pair, default 200]
set -euo pipefail
cd "$(dirname "$0")/.."

pairs=${1:-5}
runs=${2:-200}
harness=${HARNESS:-./target/release/harness}
hyperfine=target/bench-tools/bin/hyperfine
[ -x "$harness" ] || { echo "$harness is missing: run bash scripts/setup.sh" >&2; exit 1; }
if [ ! -x "$hyperfine" ]; then
  cargo install hyperfine --version 1.20.0 --locked --root target/bench-tools >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median() {
  python3 -c 'import json, statistics, sys; print(statistics.median(json.load(open(sys.argv[1]))["results"][0]["times"]) * 1e6)' "$1"
}

echo "# $($hyperfine --version), harness $($harness --version | cut -d' ' -f2), $(nproc) cores, $(date -u +%F)"
index=0
for command in "sleep 0.01" "true"; do
  index=$((index + 1))
  echo "## $command ($runs runs per side and pair, -N, medians in us)"
  ratios=()
  probed=()
  for pair in $(seq 1 "$pairs"); do
    $hyperfine -N --runs "$runs" --warmup 5 --style none --export-json "$work/h.json" "$command" >/dev/null 2>&1
    $harness run -N -r "$runs" --warmup 5 --order sequential --probe none --out "$work/r$index-$pair" \
      --export-json "$work/r.json" "$command" >/dev/null 2>&1
    $harness run -N -r "$runs" --warmup 5 --order sequential --probe auto --idle 0.5 --out "$work/p$index-$pair" \
      --export-json "$work/p.json" "$command" >/dev/null 2>&1
    h=$(median "$work/h.json")
    r=$(median "$work/r.json")
    p=$(median "$work/p.json")
    ratio=$(python3 -c "print(f'{$r / $h:.3f}')")
    ratio_p=$(python3 -c "print(f'{$p / $h:.3f}')")
    ratios+=("$ratio")
    probed+=("$ratio_p")
    printf 'pair %d: hyperfine %.1f  harness %.1f (x%s)  harness with probe %.1f (x%s)\n' \
      "$pair" "$h" "$r" "$ratio" "$p" "$ratio_p"
  done
  python3 - "${ratios[*]}" "${probed[*]}" <<'EOF'
import statistics, sys
plain = [float(x) for x in sys.argv[1].split()]
probed = [float(x) for x in sys.argv[2].split()]
print(f"median ratio harness/hyperfine: {statistics.median(plain):.3f} (no probe), {statistics.median(probed):.3f} (probe auto)")
EOF
done
