//! WASI: the command contract a plan's modules are checked against ([`contract`], a leaf), what every
//! runtime shares to run a command ([`command`]), and the preview1 subset the built-in ABI's modules get
//! ([`shim`]).

pub mod command;
pub mod contract;
pub mod output;
pub mod shim;
