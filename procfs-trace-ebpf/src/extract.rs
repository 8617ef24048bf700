//! Follows the BTF-derived pointer chains from a probed function's arguments.

use aya_ebpf::{
    helpers::{bpf_probe_read_kernel, bpf_probe_read_kernel_str_bytes},
    programs::ProbeContext,
};
use procfs_trace_common::{Chain, MAX_CHAIN, NAME_LEN, NO_ARG};

/// Why a chain produced no value.
pub enum Miss {
    /// The chain is not configured for this probe on this kernel.
    Unused,
    /// A read faulted (NULL or unmapped pointer on the way).
    Fault,
}

/// The raw argument the chain starts from.
#[inline(always)]
pub fn base(ctx: &ProbeContext, chain: &Chain) -> Result<u64, Miss> {
    if chain.arg == NO_ARG {
        return Err(Miss::Unused);
    }
    arg(ctx, chain.arg).ok_or(Miss::Fault)
}

/// Register argument `n` (x86-64 calling convention).
///
/// The verifier only allows context reads at a constant offset, and LLVM merges
/// per-arm loads of a `match` into one load at a computed offset; reading all
/// six registers first and then choosing among the values avoids that.
#[inline(always)]
fn arg(ctx: &ProbeContext, n: u8) -> Option<u64> {
    use core::ptr::{addr_of, read_volatile};
    let r = ctx.regs;
    // SAFETY: `regs` is the kprobe's pt_regs context; each read is a constant-offset field.
    let regs = unsafe {
        [
            read_volatile(addr_of!((*r).rdi)),
            read_volatile(addr_of!((*r).rsi)),
            read_volatile(addr_of!((*r).rdx)),
            read_volatile(addr_of!((*r).rcx)),
            read_volatile(addr_of!((*r).r8)),
            read_volatile(addr_of!((*r).r9)),
        ]
    };
    match n {
        0 => Some(regs[0]),
        1 => Some(regs[1]),
        2 => Some(regs[2]),
        3 => Some(regs[3]),
        4 => Some(regs[4]),
        5 => Some(regs[5]),
        _ => None,
    }
}

/// Walks `chain` from `start`: each step adds an offset and reads 8 bytes.
#[inline(always)]
pub fn walk(chain: &Chain, start: u64) -> Result<u64, Miss> {
    let mut v = start;
    for i in 0..MAX_CHAIN {
        if i >= chain.steps as usize {
            break;
        }
        if v == 0 {
            return Err(Miss::Fault);
        }
        let field = v.wrapping_add(chain.offsets[i] as i64 as u64) as *const u64;
        // SAFETY: bpf_probe_read_kernel checks the address; a bad one is an error, not a crash.
        v = unsafe { bpf_probe_read_kernel(field) }.map_err(|_| Miss::Fault)?;
    }
    Ok(v)
}

/// Reads the NUL-terminated string at `ptr` into `out`, returning its length.
#[inline(always)]
pub fn read_name(ptr: u64, out: &mut [u8; NAME_LEN]) -> Result<u16, Miss> {
    if ptr == 0 {
        return Err(Miss::Fault);
    }
    // SAFETY: the helper bounds the read to `out` and checks the source address.
    let s = unsafe { bpf_probe_read_kernel_str_bytes(ptr as *const u8, out) }
        .map_err(|_| Miss::Fault)?;
    Ok(s.len() as u16)
}
