//! Rebuilding call flows from the event stream: call trees per thread
//! (`call`), grouped into user-level operations (`op`) by `builder`, and
//! printed with their verdicts by `print`.

pub mod builder;
pub mod call;
pub mod op;
pub mod perfetto;
pub mod print;
