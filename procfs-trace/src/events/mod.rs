//! Events from the kernel, decoded from ring-buffer records.

pub mod decode;
