// Which workload this build serves is chosen by HARNESS_WORKLOAD at build time (scripts/build-workloads.sh
// builds once per workload), so each .wasm and native binary holds one workload, as a deployed function would.
fn main() {
    println!("cargo:rerun-if-env-changed=HARNESS_WORKLOAD");
    let name = std::env::var("HARNESS_WORKLOAD").unwrap_or_else(|_| "noop".to_string());
    println!("cargo:rustc-env=HARNESS_WORKLOAD_SELECTED={name}");
}
