// Which workload this build serves (HARNESS_WORKLOAD) and whether the Wasm command imports sightglass's
// `bench.start`/`bench.end` (HARNESS_BENCH_IMPORTS=1, the default) are chosen at build time:
// scripts/build-commands.sh builds once per command directory, as sightglass builds one module per benchmark.
fn main() {
    println!("cargo::rerun-if-env-changed=HARNESS_WORKLOAD");
    println!("cargo::rerun-if-env-changed=HARNESS_BENCH_IMPORTS");
    println!("cargo::rustc-check-cfg=cfg(bench_imports)");
    let name = std::env::var("HARNESS_WORKLOAD").unwrap_or_else(|_| "noop".to_string());
    println!("cargo::rustc-env=HARNESS_WORKLOAD_SELECTED={name}");
    let bench = std::env::var("HARNESS_BENCH_IMPORTS").unwrap_or_else(|_| "1".to_string());
    if bench != "0" {
        println!("cargo::rustc-cfg=bench_imports");
    }
}
