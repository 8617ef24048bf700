//! eBPF programs of procfs-trace: a kprobe and a kretprobe for every row of the
//! shared probe table (`procfs_trace_common::for_each_probe!`).
//!
//! Entry programs are named after the kernel function, exit programs add `_ret`.
//! All the work is in `emit`, driven by the per-probe specs user space computes
//! from the running kernel's BTF.
#![no_std]
#![no_main]

mod emit;
mod extract;
mod filter;
mod maps;
mod syscalls;

use aya_ebpf::{
    macros::{kprobe, kretprobe, raw_tracepoint},
    programs::{ProbeContext, RawTracePointContext, RetProbeContext},
};
use procfs_trace_common::{for_each_probe, ProbeId};

macro_rules! define_programs {
    ($(($func:ident, $exit:ident, $id:ident, $group:ident, $role:ident)),* $(,)?) => {
        $(
            #[kprobe]
            pub fn $func(ctx: ProbeContext) -> u32 {
                emit::on_entry(&ctx, ProbeId::$id)
            }

            #[kretprobe]
            pub fn $exit(ctx: RetProbeContext) -> u32 {
                emit::on_exit(&ctx, ProbeId::$id)
            }
        )*
    };
}

for_each_probe!(define_programs);

/// Notes the followed syscall a thread enters (see `syscalls`).
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter(ctx: RawTracePointContext) -> i32 {
    syscalls::on_sys_enter(&ctx)
}

/// Closes a syscall that reached procfs.
#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn sys_exit(ctx: RawTracePointContext) -> i32 {
    syscalls::on_sys_exit(&ctx)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
