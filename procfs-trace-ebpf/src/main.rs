//! eBPF programs of procfs-trace: a kprobe and a kretprobe for every row of the
//! shared probe table (`procfs_trace_common::for_each_probe!`).
//!
//! Entry programs are named after the kernel function, exit programs add `_ret`;
//! their fentry and fexit twins are `fe_<function>` and `fx_<function>`.
//! The count-only programs the overhead benchmark compares with are in an
//! object of their own (`bin/procfs-trace-twins.rs`).
//! All the work is in `emit`, driven by the per-probe specs user space computes
//! from the running kernel's BTF.
#![no_std]
#![no_main]

mod counts;
mod emit;
mod extract;
mod filter;
mod maps;
mod syscalls;

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::{fentry, fexit, kprobe, kretprobe, raw_tracepoint},
    programs::{FEntryContext, FExitContext, ProbeContext, RawTracePointContext, RetProbeContext},
};
use procfs_trace_common::{for_each_probe, ProbeId};
use procfs_trace_ebpf::func_ret;

macro_rules! define_programs {
    ($(($func:ident, $exit:ident, $id:ident, $group:ident, $role:ident)),* $(,)?) => {
        $(
            #[kprobe]
            pub fn $func(ctx: ProbeContext) -> u32 {
                emit::on_entry(&ctx, ProbeId::$id)
            }

            #[kretprobe]
            pub fn $exit(ctx: RetProbeContext) -> u32 {
                emit::on_exit(ctx.ret::<i64>(), ProbeId::$id)
            }

            pastey::paste! {
                /// fentry twin of the kprobe; the target is chosen at load time.
                #[fentry]
                pub fn [<fe_ $func>](ctx: FEntryContext) -> i32 {
                    emit::on_entry(&ctx, ProbeId::$id) as i32
                }

                /// fexit twin of the kretprobe.
                #[fexit]
                pub fn [<fx_ $func>](ctx: FExitContext) -> i32 {
                    emit::on_exit(func_ret(&ctx), ProbeId::$id) as i32
                }
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

/// Drops an exiting thread's slots (see `maps::forget_thread`).
#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn sched_process_exit(_ctx: RawTracePointContext) -> i32 {
    // do_exit runs in the exiting thread, so it is the current task.
    maps::forget_thread(bpf_get_current_pid_tgid() as u32);
    0
}

/// Moves the slots of a thread whose `execve` made it the leader: the
/// kernel gave it the leader's id midway (`de_thread`), and its syscall's
/// exit looks its slot up by that id.
#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn sched_process_exec(ctx: RawTracePointContext) -> i32 {
    // (struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
    let old = ctx.arg::<u64>(1) as u32;
    let tid = bpf_get_current_pid_tgid() as u32;
    if old != tid {
        maps::rekey_thread(old, tid);
    }
    0
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
