//! Events from the kernel: decoding, symbol names, and rendering.

pub mod decode;
pub mod render;
