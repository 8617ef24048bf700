//! Rebuilding call flows from the event stream: call trees per thread
//! (`call`), grouped into user-level operations (`op`) by `builder`, with
//! each process's fds tied to the paths they were opened with (`fd_table`).

pub mod builder;
pub mod call;
pub mod fd_table;
pub mod op;
#[cfg(test)]
pub(crate) mod script;
