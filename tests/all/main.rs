//! The end-to-end tests, one module per topic, in one test binary: the harness library and its heavy
//! dependencies (wasmtime, wasmi, bollard) are linked once rather than once per topic. They drive the real
//! `harness` binary on the real built workloads (scripts/build-workloads.sh, which scripts/test.sh runs first).
//!
//! All modules share one process: a test needs nothing process-wide of its own (no environment variables, no
//! fixed temporary names or ports), and a test whose figures count the whole machine runs alone
//! ([`common::machine`]).

mod common;

mod browsers;
mod busy_baseline;
mod cold_windows;
mod commands;
mod containers;
mod energy;
mod engine_parity;
mod failures;
mod faults_children;
mod faults_commands;
mod faults_inputs;
mod faults_integrity;
mod faults_load;
mod faults_plans;
mod faults_run;
mod fit_model;
mod fleet;
mod interrupt;
mod lab_probes;
mod load;
mod load_serving;
mod measure_spine;
mod model_scope;
mod node;
mod plan_errors;
mod precision;
mod report;
mod report_browser;
mod run;
mod selfcheck;
mod usb_meter;
