#!/usr/bin/env python3
"""The load findings of docs/findings.md: runs plans/load.toml (closed loop 1-8 clients, bursts of 8, warm-pool idle power),
takes each runtime's saturation throughput (the highest closed-loop achieved rate), then runs open loop at 50% and
90% of it for energy per request, and prints the markdown tables. Standard library only.

Usage: scripts/load-findings.py --out runs/load-findings [--harness target/release/harness] [--plan plans/load.toml]
       scripts/load-findings.py --tables runs/load-findings     # tables of runs already made
"""
import csv
import json
import os
import subprocess
import sys
from collections import defaultdict

# The open-loop generator's tested ceiling on this machine (docs/benchmarks.md, `harness bench-load`): rates above it would
# measure the generator, not the runtime.
GENERATOR_CAP_RPS = 20000.0


def rows(run):
    with open(os.path.join(run, "load.csv")) as f:
        return list(csv.DictReader(f))


def num(value):
    return float(value) if value not in ("", None) else None


def measure(harness, plan, out):
    if os.path.exists(os.path.join(out, "load.csv")):
        return
    subprocess.run([harness, "measure", "--plan", plan, "--out", out], check=True)


def open_plan(capacity_plan, runtime, workload, inp, rates):
    text = open(capacity_plan).read()
    head = text.split("[[workloads]]")[0]
    head = head.replace(head[head.index("runtimes"):].split("\n")[0], f'runtimes = ["{runtime}"]')
    rates_text = ", ".join(f"{r:.1f}" for r in rates)
    return (
        f'{head}[[workloads]]\nname = "{workload}"\ninputs = ["{inp}"]\n\n'
        f"[load]\nrates = [{rates_text}]\ninstances = 8\nduration_ms = 3000\nwarmup_ms = 500\nidle_ms = 0\n\n"
        '[[probes]]\nkind = "auto"\n'
    )


def fmt(value, scale=1.0, digits=3):
    if value is None:
        return "-"
    v = value * scale
    if abs(v) >= 10 ** digits:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    harness = args[args.index("--harness") + 1] if "--harness" in args else "target/release/harness"
    plan = args[args.index("--plan") + 1] if "--plan" in args else "plans/load.toml"
    out = args[args.index("--out") + 1] if "--out" in args else args[args.index("--tables") + 1]
    run_them = "--tables" not in args
    capacity_run = os.path.join(out, "capacity")
    if run_them:
        os.makedirs(out, exist_ok=True)
        measure(harness, plan, capacity_run)
    capacity = rows(capacity_run)
    manifest = json.load(open(os.path.join(capacity_run, "manifest.json")))
    by_cell = defaultdict(dict)
    for r in capacity:
        by_cell[(r["workload"], r["input"], r["runtime"])][(r["kind"], float(r["level"]))] = r
    runtimes = manifest["plan"]["runtimes"]
    cells = [(w["name"], i) for w in manifest["plan"]["workloads"] for i in w["inputs"]]

    opened = {}
    for (workload, inp) in cells:
        for runtime in runtimes:
            levels = by_cell[(workload, inp, runtime)]
            achieved = [num(r["achieved_rps"]) for (k, _), r in levels.items() if k == "clients"]
            if not achieved:
                continue
            saturation = max(achieved)
            rates = [min(share * saturation, GENERATOR_CAP_RPS) for share in (0.5, 0.9)]
            run = os.path.join(out, f"open-{workload}-{inp}-{runtime}")
            if run_them:
                path = run + ".toml"
                with open(path, "w") as f:
                    f.write(open_plan(plan, runtime, workload, inp, rates))
                measure(harness, path, run)
            if os.path.exists(os.path.join(run, "load.csv")):
                opened[(workload, inp, runtime)] = (saturation, sorted(rows(run), key=lambda r: float(r["level"])))

    estimated = any(r["estimated"] == "true" for r in capacity)
    label = " (ESTIMATED, model probe)" if estimated else ""
    for (workload, inp) in cells:
        print(f"\n**{workload} {inp}**: closed loop, achieved requests/s at 1 / 2 / 4 / 8 clients, scaling 8 vs 1,"
              " p99 at 8 clients, burst of 8 from zero (p50 / p99)\n")
        print("| runtime | 1 | 2 | 4 | 8 | 8 vs 1 | p99 at 8 (ms) | harness CPU at 8 (cores) | burst 8 p50 (ms) | burst 8 p99 (ms) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for runtime in runtimes:
            levels = by_cell[(workload, inp, runtime)]
            a = {lvl: num(r["achieved_rps"]) for (k, lvl), r in levels.items() if k == "clients"}
            eight = levels.get(("clients", 8.0), {})
            burst = levels.get(("burst", 8.0), {})
            scaling = a[8.0] / a[1.0] if a.get(8.0) and a.get(1.0) else None
            print(f"| {runtime} | " + " | ".join(fmt(a.get(float(c)), digits=4) for c in (1, 2, 4, 8))
                  + f" | {fmt(scaling)} | {fmt(num(eight.get('p99_ns')), 1e-6)} | {fmt(num(eight.get('harness_cpu_cores')), digits=2)}"
                  + f" | {fmt(num(burst.get('p50_ns')), 1e-6)} | {fmt(num(burst.get('p99_ns')), 1e-6)} |")
        print(f"\n**{workload} {inp}**: memory and idle power of 8 warm instances, energy per request{label}\n")
        print("| runtime | memory per warm instance (MiB, PSS) | idle power of 8 warm (W, net) | saturation (req/s) |"
              " J/request at 50% | J/request at 90% | p99 at 90% (ms) | 90% level saturated |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        for runtime in runtimes:
            eight = by_cell[(workload, inp, runtime)].get(("clients", 8.0), {})
            saturation, open_rows = opened.get((workload, inp, runtime), (None, []))
            half = open_rows[0] if open_rows else {}
            ninety = open_rows[1] if len(open_rows) > 1 else {}
            unseen = " (unseen)" if eight.get("unseen") == "true" else ""
            # A rate above the generator's ceiling ran at the ceiling: say so beside the figure.
            capped = lambda row: " (capped)" if row and num(row.get("level")) >= GENERATOR_CAP_RPS else ""
            print(f"| {runtime} | {fmt(num(eight.get('memory_per_instance_bytes')), 1 / 2**20, 2)}"
                  f" | {fmt(num(eight.get('idle_pool_w')), digits=2)}{unseen} | {fmt(saturation, digits=4)}"
                  f" | {fmt(num(half.get('energy_per_request_j')))}{capped(half)}"
                  f" | {fmt(num(ninety.get('energy_per_request_j')))}{capped(ninety)}"
                  f" | {fmt(num(ninety.get('p99_ns')), 1e-6)} | {ninety.get('saturated', '-')} |")


if __name__ == "__main__":
    main()
