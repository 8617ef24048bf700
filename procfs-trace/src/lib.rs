//! procfs-trace: an eBPF tracer of the Linux kernel's procfs paths, and a
//! model of procfs that every traced flow is checked against.
//!
//! The binary (`main.rs`) parses the command line (`cli`, one module per
//! subcommand) and runs it; the library also serves the fuzz target, the
//! benchmarks and the tests.

pub mod agent;
pub mod bounded;
pub mod check;
pub mod cli;
pub mod doctor;
pub mod events;
pub mod explain;
pub mod flows;
pub mod kernel;
pub mod live;
pub mod model;
pub mod paths;
pub mod probes;
pub mod recording;
pub mod render;
pub mod replay;
pub mod serve;
pub mod tour;
