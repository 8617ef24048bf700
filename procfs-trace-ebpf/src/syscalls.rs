//! Attributes procfs work to the syscall that caused it.
//!
//! `sys_enter` only remembers a followed syscall per thread; the entry event is
//! written when the first probe fires inside it (see `emit`), and `sys_exit`
//! writes the exit only for syscalls that produced an entry. Syscalls that
//! never reach procfs, by far the most, cost one map update and no events.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_kernel},
    programs::RawTracePointContext,
};
use procfs_trace_common::{shape, syscall_shape, Pending};

use crate::{
    emit::{current, emit_syscall_exit},
    maps::{config, PENDING},
};

/// raw_tracepoint/sys_enter: `(struct pt_regs *regs, long id)`.
#[inline(always)]
pub fn on_sys_enter(ctx: &RawTracePointContext) -> i32 {
    let nr: u64 = ctx.arg(1);
    if syscall_shape(nr) == shape::NONE {
        return 0;
    }
    let cfg = config();
    let Some(task) = current(cfg) else { return 0 };
    let regs: u64 = ctx.arg(0);
    let read = |off: u32| -> u64 {
        // SAFETY: a checked kernel read of the syscall's saved registers.
        unsafe { bpf_probe_read_kernel(regs.wrapping_add(off as u64) as *const u64) }.unwrap_or(0)
    };
    let pending = Pending {
        // SAFETY: plain helper call.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        arg0: read(cfg.regs_arg0),
        arg1: read(cfg.regs_arg1),
        nr: nr as u32,
        emitted: 0,
    };
    let _ = PENDING.insert(&task.tid, &pending, 0);
    0
}

/// raw_tracepoint/sys_exit: `(struct pt_regs *regs, long ret)`.
#[inline(always)]
pub fn on_sys_exit(ctx: &RawTracePointContext) -> i32 {
    let tid = bpf_get_current_pid_tgid() as u32;
    // SAFETY: the value is copied out before the entry is removed.
    let Some(p) = (unsafe { PENDING.get(&tid) }).copied() else {
        return 0;
    };
    let _ = PENDING.remove(&tid);
    if p.emitted != 0 {
        let ret: i64 = ctx.arg(1);
        emit_syscall_exit(&p, ret);
    }
    0
}
