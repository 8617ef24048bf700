//! Trace files: what `record` writes and `replay`, `info` and the tests read.
//! The layout is specified in docs/recording-format.md.

pub mod columns;
pub mod format;
pub mod reader;
pub mod writer;
