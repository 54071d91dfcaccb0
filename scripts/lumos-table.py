#!/usr/bin/env python3
"""Markdown tables of a run against a baseline runtime: medians of the measured (non-warm-up, ok) invocations,
ratios of medians against the baseline, cold and warm, and the artifact sizes from the manifest.
A stopgap until `harness report` lands; standard library only.

Usage: scripts/lumos-table.py runs/lumos-xeon [--baseline container]
"""
import csv
import json
import statistics
import sys
from collections import defaultdict


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    run = args[0]
    baseline = args[args.index("--baseline") + 1] if "--baseline" in args else "container"
    manifest = json.load(open(f"{run}/manifest.json"))
    runtimes = manifest["plan"]["runtimes"]
    others = [r for r in runtimes if r != baseline]
    # Lumos states its interpreter figure against AoT Wasm: show that ratio too when both ran.
    extra = ("wasmi", "wasmtime-aot") if {"wasmi", "wasmtime-aot"} <= set(runtimes) else None
    latencies = defaultdict(list)
    cells = [(w["name"], i) for w in manifest["plan"]["workloads"] for i in w["inputs"]]
    for row in csv.DictReader(open(f"{run}/invocations.csv")):
        if row["warmup"] == "true" or row["status"] != "ok":
            continue
        latencies[(row["workload"], row["input"], row["runtime"], row["mode"])].append(int(row["latency_ns"]))
    print(f"run `{run}` ({manifest['status']}), seed {manifest['seed']}, "
          f"n = {manifest['plan']['repetitions']} per cell; ratio = median(runtime) / median({baseline})\n")
    for mode in ("cold", "warm"):
        print(f"**{mode}**: median latency of `{baseline}` (ms), and ratios of medians\n")
        header = others + ([f"{extra[0]} / {extra[1]}"] if extra else [])
        print(f"| workload | input | {baseline} (ms) | " + " | ".join(header) + " |")
        print("|---|---|---:|" + "---:|" * len(header))
        for workload, inp in cells:
            base = latencies.get((workload, inp, baseline, mode))
            if not base:
                continue
            base_median = statistics.median(base)
            ratios = []
            for r in others:
                values = latencies.get((workload, inp, r, mode))
                ratios.append(f"{statistics.median(values) / base_median:.3g}" if values else "-")
            if extra:
                a, b = (latencies.get((workload, inp, r, mode)) for r in extra)
                ratios.append(f"{statistics.median(a) / statistics.median(b):.3g}" if a and b else "-")
            print(f"| {workload} | {inp} | {base_median / 1e6:.3g} | " + " | ".join(ratios) + " |")
        print()
    print("**artifact sizes** (bytes; image = the `FROM scratch` container image)\n")
    print("| workload | container image | .cwasm | .wasm | native | image / .cwasm | image / .wasm |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for workload, sizes in manifest["artifacts"].items():
        image, cwasm, wasm = sizes.get("container_image_bytes"), sizes.get("cwasm_bytes"), sizes.get("wasm_bytes")
        ratio = lambda a, b: f"{a / b:.2f}" if a and b else "-"
        print(f"| {workload} | {image or '-'} | {cwasm or '-'} | {wasm or '-'} | {sizes.get('native_bytes') or '-'} "
              f"| {ratio(image, cwasm)} | {ratio(image, wasm)} |")


if __name__ == "__main__":
    main()
