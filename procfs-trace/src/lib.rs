//! procfs-trace: an eBPF tracer of the Linux kernel's procfs paths, and a
//! model of procfs that every traced flow is checked against.
//!
//! The binary (`main.rs`, `cli.rs`) is a thin shell over these modules; the
//! library exists so the fuzz target and the benchmarks can reach the reader,
//! the decoder and the flow pipeline.

pub mod agent;
pub mod check;
pub mod doctor;
pub mod events;
pub mod explain;
pub mod flows;
pub mod kernel;
pub mod live;
pub mod model;
pub mod probes;
pub mod recording;
pub mod render;
pub mod replay;
pub mod tour;
