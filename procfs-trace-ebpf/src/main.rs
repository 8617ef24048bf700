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

use aya_ebpf::{
    macros::{kprobe, kretprobe},
    programs::{ProbeContext, RetProbeContext},
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

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
