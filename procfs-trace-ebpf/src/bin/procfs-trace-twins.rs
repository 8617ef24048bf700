//! The twins of every probe program, in an object of their own that only
//! the overhead benchmark (`procfs-trace twin`) loads, so the tracer's
//! object carries no programs it never attaches.
//!
//! A count-only twin is the least a program attached the same way can do:
//! one per-CPU increment. An emit-floor twin of an exit is the least a
//! program that streams each call can do: reserve a call record, stamp its
//! header and return value, submit it without a wake-up. The benchmark
//! measures what the real programs cost beyond each. They are named as the
//! tracer's programs with a prefix: `ck_` (kprobe, kretprobe), `cf_`
//! (fentry), `cx_` (fexit), and for the emit-floor exits `ek_` (kretprobe)
//! and `ex_` (fexit).
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_get_smp_processor_id, bpf_ktime_get_ns},
    macros::{fentry, fexit, kprobe, kretprobe, map},
    maps::{PerCpuArray, RingBuf},
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext},
};
use procfs_trace_common::{for_each_probe, kind, twin, CallEvent, EventHeader, COMM_LEN};
use procfs_trace_ebpf::func_ret;

/// Per CPU: runs of the twin programs, and emit-floor records the ring had
/// no room for (indexed by `procfs_trace_common::twin`).
#[map]
pub static TWIN_COUNTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(2, 0);

/// The emit-floor twins' records, drained and dropped by user space.
#[map]
pub static TWIN_EVENTS: RingBuf = RingBuf::with_byte_size(4 << 20, 0);

/// `bpf_ringbuf_submit` flag: user space polls, as it does for the tracer
/// until a share of the ring waits.
const BPF_RB_NO_WAKEUP: u64 = 1;

/// Adds one to counter `at`.
#[inline(always)]
fn bump_at(at: u32) {
    if let Some(n) = TWIN_COUNTS.get_ptr_mut(at) {
        // SAFETY: per-CPU slot, so no other writer races this increment.
        unsafe { *n += 1 };
    }
}

/// Counts one run.
#[inline(always)]
fn bump() -> u32 {
    bump_at(twin::RUNS);
    0
}

/// Writes the least record a streamed call needs: its header and return value.
#[inline(always)]
fn emit(ret: i64) -> u32 {
    let Some(mut entry) = TWIN_EVENTS.reserve::<CallEvent>(0) else {
        bump_at(twin::DROPPED);
        return 0;
    };
    let ev = entry.as_mut_ptr();
    let pid_tgid = bpf_get_current_pid_tgid();
    // SAFETY: exclusively owned reserved slot; the fields not written are
    // never read (user space counts the records and drops them).
    unsafe {
        (*ev).header = EventHeader {
            ts_ns: bpf_ktime_get_ns(),
            tgid: (pid_tgid >> 32) as u32,
            tid: pid_tgid as u32,
            cpu: bpf_get_smp_processor_id(),
            kind: kind::CALL,
            size: core::mem::size_of::<CallEvent>() as u16,
            comm: [0; COMM_LEN],
        };
        (*ev).ret = ret;
    }
    entry.submit(BPF_RB_NO_WAKEUP);
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

                /// The emit-floor twin of the kretprobe.
                #[kretprobe]
                pub fn [<ek_ $exit>](ctx: RetProbeContext) -> u32 {
                    emit(ctx.ret::<i64>())
                }

                /// The emit-floor twin of the fexit program.
                #[fexit]
                pub fn [<ex_ $func>](ctx: FExitContext) -> i32 {
                    emit(func_ret(&ctx)) as i32
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
