//! The tracing session: preflight, plan, attach, stream, report.

pub mod batch;
pub mod child;
pub mod clock;
pub mod counts;
pub mod losses;
pub mod output;
pub mod reader;
pub mod record;
pub mod session;
pub mod show_names;
pub mod sink;
pub mod tracer;
pub mod twin;
pub mod user;
