//! Attributes procfs work to the syscall that caused it.
//!
//! `sys_enter` only remembers a followed syscall per thread; the first probe
//! that fires inside it reads its path (see `emit`), and `sys_exit` writes
//! the whole syscall as one record, only for syscalls that reached procfs.
//! Syscalls that never do, by far the most, cost one map lookup and no events;
//! the exceptions are paths under /proc, fd copies and cwd changes, reported
//! even without a probe hit so that user space can tie later reads and
//! relative paths to their path.

use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_get_current_task, bpf_ktime_get_ns, bpf_probe_read_kernel,
        bpf_probe_read_user,
    },
    programs::RawTracePointContext,
};
use procfs_trace_common::{
    at_flags_arg, shape, syscall_reads, syscall_shape, FdMagicOffsets, Pending, Syscall, F_DUPFD,
    F_DUPFD_CLOEXEC, PROC_SUPER_MAGIC,
};

use crate::{
    counts,
    emit::{current, emit_syscall, read_path, Task},
    maps::{config, frame, inserted, BLANK_PENDING, PENDING},
};

/// Whether the user path at `ptr` is `/proc` or starts with `/proc/`.
#[inline(always)]
fn under_proc(ptr: u64) -> bool {
    // SAFETY: a checked read of user memory; a fault means "no".
    match unsafe { bpf_probe_read_user(ptr as *const [u8; 6]) } {
        Ok(b) => &b[..5] == b"/proc" && (b[5] == b'/' || b[5] == 0),
        Err(_) => false,
    }
}

/// Whether the current task's fd `fd` is a file of a proc mount.
#[inline(always)]
fn fd_on_procfs(o: &FdMagicOffsets, fd: u64) -> bool {
    if o.valid == 0 {
        return false;
    }
    // SAFETY: kernel pointers are only dereferenced through checked reads; a
    // fault or a NULL on the way means "no".
    let read = |at: u64| unsafe { bpf_probe_read_kernel(at as *const u64) }.ok();
    let task = unsafe { bpf_get_current_task() };
    let Some(files) = read(task + u64::from(o.task_files)) else {
        return false;
    };
    let Some(fdt) = read(files + u64::from(o.files_fdt)) else {
        return false;
    };
    let Some(fds) = read(fdt + u64::from(o.fdt_fd)) else {
        return false;
    };
    let Some(file) = read(fds.wrapping_add(fd.wrapping_mul(8))) else {
        return false;
    };
    let Some(inode) = read(file + u64::from(o.file_inode)) else {
        return false;
    };
    let Some(sb) = read(inode + u64::from(o.inode_sb)) else {
        return false;
    };
    read(sb + u64::from(o.sb_magic)) == Some(PROC_SUPER_MAGIC)
}

/// raw_tracepoint/sys_enter: `(struct pt_regs *regs, long id)`.
#[inline(always)]
pub fn on_sys_enter(ctx: &RawTracePointContext) -> i32 {
    let nr: u64 = ctx.arg(1);
    let sh = syscall_shape(nr);
    if sh == shape::NONE {
        return 0;
    }
    let cfg = config();
    let Some(task) = current(cfg) else { return 0 };
    let regs: u64 = ctx.arg(0);
    let read = |off: u32| -> u64 {
        // SAFETY: a checked kernel read of the syscall's saved registers.
        unsafe { bpf_probe_read_kernel(regs.wrapping_add(off as u64) as *const u64) }.unwrap_or(0)
    };
    let arg0 = read(cfg.regs_arg0);
    let arg1 = read(cfg.regs_arg1);
    let at_flags = match at_flags_arg(nr) {
        Some(2) => read(cfg.regs_arg2) as u32,
        Some(_) => read(cfg.regs_arg3) as u32,
        None => 0,
    };
    let force = match sh {
        shape::PATH => under_proc(arg0),
        shape::AT_PATH => under_proc(arg1),
        // fcntl is followed only when it duplicates.
        shape::DUP => nr != Syscall::Fcntl as u64 || arg1 == F_DUPFD || arg1 == F_DUPFD_CLOEXEC,
        shape::CWD_PATH | shape::CWD_FD => true,
        _ => false,
    };
    let Some(p) = slot(task.tid) else { return 0 };
    // SAFETY: plain helper call.
    let now = unsafe { bpf_ktime_get_ns() };
    p.begin(
        now,
        task.tid,
        &task.comm,
        nr as u32,
        [arg0, arg1],
        at_flags,
        force,
    );
    0
}

/// Thread `tid`'s slot in `PENDING`, created blank by its first followed syscall.
#[inline(always)]
fn slot(tid: u32) -> Option<&'static mut Pending> {
    let p = match PENDING.get_ptr_mut(&tid) {
        Some(p) => p,
        None => {
            let blank = BLANK_PENDING.get(0)?;
            inserted(PENDING.insert(&tid, blank, 0));
            PENDING.get_ptr_mut(&tid)?
        }
    };
    // SAFETY: a per-thread slot only this thread writes.
    Some(unsafe { &mut *p })
}

/// raw_tracepoint/sys_exit: `(struct pt_regs *regs, long ret)`.
#[inline(always)]
pub fn on_sys_exit(ctx: &RawTracePointContext) -> i32 {
    let Some(p) = frame(bpf_get_current_pid_tgid() as u32) else {
        return 0;
    };
    // Another syscall's: the kernel skipped this thread's last run of
    // sys_exit (counted as a skipped run) and left its syscall behind.
    // Closing it now would count an operation twice and give it this
    // syscall's return value.
    let regs: u64 = ctx.arg(0);
    // SAFETY: a checked kernel read of the syscall's saved registers.
    let nr = unsafe { bpf_probe_read_kernel((regs + u64::from(config().regs_nr)) as *const u64) };
    if nr != Ok(u64::from(p.nr)) {
        p.active = 0;
        return 0;
    }
    let ret: i64 = ctx.arg(1);
    // An open whose fd is on procfs though its path did not say so (relative
    // to a cwd or dirfd in /proc, a proc mounted elsewhere), so that reads
    // of that fd have a path.
    let opened_proc = p.emitted == 0
        && ret >= 0
        && (p.nr == Syscall::Open as u32 || p.nr == Syscall::Openat as u32)
        && fd_on_procfs(&config().fd_magic, ret as u64);
    // A failed dup copies nothing; a failed chdir leaves the cwd.
    let bookkeeping = matches!(
        syscall_shape(u64::from(p.nr)),
        shape::DUP | shape::CWD_PATH | shape::CWD_FD
    );
    if p.emitted == 0 && (opened_proc || p.force != 0 && !(ret < 0 && bookkeeping)) {
        // A /proc path that reached no probe (all cached, say), an fd copied
        // or a cwd moved: still report it, so later reads of the fd it
        // returns, or paths relative to the cwd, have a path.
        read_path(p);
    }
    if p.emitted != 0 {
        let task = Task {
            tid: p.tid,
            ..Task::current()
        };
        counts::operation(&task, syscall_reads(u64::from(p.nr)), ret);
        emit_syscall(&task, p, ret);
    }
    p.active = 0;
    0
}
