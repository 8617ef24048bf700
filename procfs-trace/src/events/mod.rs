//! Events from the kernel, decoded from ring-buffer records.

pub mod decode;
pub mod pairs;

use std::sync::Arc;

/// Names a kernel text address (a show callback an event carries).
pub type Symbolize<'a> = &'a dyn Fn(u64) -> Option<Arc<str>>;
