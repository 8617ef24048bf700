//! Rebuilding call flows from the event stream: call trees per thread
//! (`call`), grouped into user-level operations (`op`) by `builder`.

pub mod builder;
pub mod call;
pub mod op;
