//! What the tracer's programs (`main.rs`) and their benchmark twins
//! (`bin/procfs-trace-twins.rs`) share; it also lets `procfs-trace` name this
//! crate as a build dependency.
#![no_std]

use aya_ebpf::{helpers::generated::bpf_get_func_ret, programs::FExitContext, EbpfContext as _};

/// The traced function's return value (`bpf_get_func_ret`, Linux 5.17+).
#[inline(always)]
pub fn func_ret(ctx: &FExitContext) -> i64 {
    let mut v: u64 = 0;
    // SAFETY: the helper writes one u64 to `v`.
    unsafe { bpf_get_func_ret(ctx.as_ptr(), &mut v) };
    v as i64
}
