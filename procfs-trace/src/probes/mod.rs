//! Which probes to attach on this kernel, and attaching them.

pub mod attach;
pub mod plan;
pub mod recipes;
