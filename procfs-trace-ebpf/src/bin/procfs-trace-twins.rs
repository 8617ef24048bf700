//! The count-only twin of every probe program, in an object of its own that
//! only the overhead benchmark (`procfs-trace twin`) loads, so the tracer's
//! object carries no programs it never attaches.
//!
//! A twin is the least a program attached the same way can do: one per-CPU
//! increment. The benchmark measures what the real programs cost beyond it.
//! They are named as the tracer's programs with a prefix: `ck_` (kprobe,
//! kretprobe), `cf_` (fentry) and `cx_` (fexit).
#![no_std]
#![no_main]

use aya_ebpf::{
    macros::{fentry, fexit, kprobe, kretprobe, map},
    maps::PerCpuArray,
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext},
};
use procfs_trace_common::for_each_probe;

/// Runs of the twin programs, per CPU.
#[map]
pub static TWIN_RUNS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Counts one run.
#[inline(always)]
fn bump() -> u32 {
    if let Some(n) = TWIN_RUNS.get_ptr_mut(0) {
        // SAFETY: per-CPU slot, so no other writer races this increment.
        unsafe { *n += 1 };
    }
    0
}

macro_rules! define_twins {
    ($(($func:ident, $exit:ident, $id:ident, $group:ident, $role:ident)),* $(,)?) => {
        $(
            pastey::paste! {
                /// The count-only twin of the kprobe.
                #[kprobe]
                pub fn [<ck_ $func>](_ctx: ProbeContext) -> u32 {
                    bump()
                }

                /// The count-only twin of the kretprobe.
                #[kretprobe]
                pub fn [<ck_ $exit>](_ctx: RetProbeContext) -> u32 {
                    bump()
                }

                /// The count-only twin of the fentry program.
                #[fentry]
                pub fn [<cf_ $func>](_ctx: FEntryContext) -> i32 {
                    bump() as i32
                }

                /// The count-only twin of the fexit program.
                #[fexit]
                pub fn [<cx_ $func>](_ctx: FExitContext) -> i32 {
                    bump() as i32
                }
            }
        )*
    };
}

for_each_probe!(define_twins);

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
