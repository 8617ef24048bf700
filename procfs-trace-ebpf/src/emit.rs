//! Builds events in the ring buffer: one entry and one exit handler shared by
//! every probed function, and the syscall events that frame them.

use aya_ebpf::helpers::{
    bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_smp_processor_id, bpf_ktime_get_ns,
    bpf_probe_read_user_str_bytes,
};
use procfs_trace_common::{
    counts::Entered, entry_key, flags, kind, loss, phase, shape, syscall_flags, syscall_shape,
    Chain, Config, EventHeader, Pending, ProbeEvent, ProbeId, SyscallEvent, COMM_LEN,
};

use crate::{
    counts,
    extract::{base, nr_in_ns, read_name, walk, Args, Read, OK},
    filter::wanted,
    maps::{armed, config, count_loss, inserted, ENTERED, EVENTS, PENDING},
};

/// The current task, if the filters want it reported.
pub struct Task {
    /// Process id.
    pub tgid: u32,
    /// Thread id.
    pub tid: u32,
    /// Task name.
    pub comm: [u8; COMM_LEN],
}

impl Task {
    /// The current task, unfiltered.
    #[inline(always)]
    pub fn current() -> Task {
        let pid_tgid = bpf_get_current_pid_tgid();
        Task {
            tgid: (pid_tgid >> 32) as u32,
            tid: pid_tgid as u32,
            comm: bpf_get_current_comm().unwrap_or([0; COMM_LEN]),
        }
    }
}

/// The current task, when user space is listening and the filters want it.
#[inline(always)]
pub fn current(cfg: &Config) -> Option<Task> {
    if !armed(procfs_trace_common::armed::EVENTS) {
        return None;
    }
    let task = Task::current();
    wanted(cfg, task.tgid, &task.comm).then_some(task)
}

/// Counts an event that could not be written, and marks the thread's
/// syscall in progress, whose operation is now incomplete.
#[inline(always)]
fn count_lost(tid: u32) {
    count_loss(loss::RING);
    if let Some(p) = PENDING.get_ptr_mut(&tid) {
        // SAFETY: a per-thread slot only this thread writes.
        unsafe { (*p).lost = 1 };
    }
}

#[inline(always)]
fn header(task: &Task, ts_ns: u64, k: u16, size: usize) -> EventHeader {
    EventHeader {
        ts_ns,
        tgid: task.tgid,
        tid: task.tid,
        // SAFETY: plain helper call.
        cpu: unsafe { bpf_get_smp_processor_id() },
        kind: k,
        size: size as u16,
        comm: task.comm,
    }
}

/// `bpf_ringbuf_query`: bytes not yet consumed.
const BPF_RB_AVAIL_DATA: u64 = 0;
/// `bpf_ringbuf_submit` flags.
const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;

/// How a record is submitted: user space drains the ring on a timer, so a
/// record wakes it only once `wake_bytes` are waiting. A wake-up per record
/// (the kernel's default when the reader has caught up, as it has between
/// bursts) queues an irq_work and an IPI on the traced task's CPU.
#[inline(always)]
fn wake() -> u64 {
    if EVENTS.query(BPF_RB_AVAIL_DATA) >= u64::from(config().wake_bytes) {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    }
}

/// Emits the entry of the syscall this thread is in, once, before its first probe event.
#[inline(always)]
pub fn flush_syscall(task: &Task) {
    let Some(p) = PENDING.get_ptr_mut(&task.tid) else {
        return;
    };
    // SAFETY: a per-thread slot only this thread writes.
    let pending = unsafe { &mut *p };
    if pending.emitted != 0 {
        return;
    }
    pending.emitted = 1;
    let Some(mut entry) = EVENTS.reserve::<SyscallEvent>(0) else {
        count_lost(task.tid);
        return;
    };
    let ev = entry.as_mut_ptr();
    let sh = syscall_shape(pending.nr as u64);
    let (fd, path_ptr) = match sh {
        shape::AT_PATH => (pending.arg0 as i64, pending.arg1),
        shape::PATH | shape::CWD_PATH => (-100, pending.arg0),
        shape::FD1 => (pending.arg1 as i64, 0),
        _ => (pending.arg0 as i64, 0),
    };
    // SAFETY: exclusively owned reserved slot; every field is written.
    unsafe {
        (*ev).header = header(
            task,
            pending.ts_ns,
            kind::SYSCALL,
            core::mem::size_of::<SyscallEvent>(),
        );
        (*ev).nr = pending.nr;
        (*ev).phase = phase::ENTRY;
        (*ev).fd = fd;
        (*ev).ret = 0;
        (*ev).flags = 0;
        (*ev).path_len = 0;
        (*ev).at_flags = pending.at_flags;
        (*ev).reserved = 0;
        if path_ptr != 0 {
            match bpf_probe_read_user_str_bytes(path_ptr as *const u8, &mut (*ev).path) {
                Ok(s) => {
                    (*ev).path_len = s.len() as u16;
                    (*ev).flags = syscall_flags::PATH;
                }
                Err(_) => (*ev).flags = syscall_flags::PATH_FAULT,
            }
        }
    }
    entry.submit(wake());
}

/// Emits a syscall's exit event (only for syscalls whose entry was emitted).
#[inline(always)]
pub fn emit_syscall_exit(task: &Task, p: &Pending, ret: i64) {
    let Some(mut entry) = EVENTS.reserve::<SyscallEvent>(0) else {
        // The exit itself: its operation will lack an end, which says enough.
        count_lost(task.tid);
        return;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: exclusively owned reserved slot; every field but `path` is written,
    // and path_len is 0.
    unsafe {
        // SAFETY: plain helper call.
        (*ev).header = header(
            task,
            bpf_ktime_get_ns(),
            kind::SYSCALL,
            core::mem::size_of::<SyscallEvent>(),
        );
        (*ev).nr = p.nr;
        (*ev).phase = phase::EXIT;
        (*ev).flags = if p.lost != 0 {
            syscall_flags::RET | syscall_flags::LOST
        } else {
            syscall_flags::RET
        };
        (*ev).path_len = 0;
        (*ev).at_flags = p.at_flags;
        (*ev).reserved = 0;
        (*ev).fd = p.arg0 as i64;
        (*ev).ret = ret;
    }
    entry.submit(wake());
}

/// Reserves an event and fills the fields every event has; `None` counts a loss.
#[inline(always)]
fn start(
    task: &Task,
    probe: ProbeId,
    ph: u8,
    ts_ns: u64,
) -> Option<aya_ebpf::maps::ring_buf::RingBufEntry<ProbeEvent>> {
    let Some(mut entry) = EVENTS.reserve::<ProbeEvent>(0) else {
        count_lost(task.tid);
        return None;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: `ev` points at a reserved, exclusively owned ProbeEvent-sized slot;
    // every field is written before submit (name only up to name_len).
    unsafe {
        (*ev).header = header(task, ts_ns, kind::PROBE, core::mem::size_of::<ProbeEvent>());
        (*ev).probe = probe as u16;
        (*ev).phase = ph;
        (*ev).flags = 0;
        (*ev).name_len = 0;
        (*ev).reserved = 0;
        (*ev).ret = 0;
        (*ev).pos = 0;
        (*ev).addr = 0;
    }
    Some(entry)
}

/// Entry body (kprobe or fentry): name, position and callback address from the arguments.
#[inline(always)]
pub fn on_entry(ctx: &impl Args, probe: ProbeId) -> u32 {
    let cfg = config();
    let Some(task) = current(cfg) else { return 0 };
    flush_syscall(&task);
    let spec = &cfg.probes[probe as usize];
    // SAFETY: plain helper call.
    let now = unsafe { bpf_ktime_get_ns() };

    let pos_base = base(ctx, &spec.pos);
    let (pos, addr) = match spec.pidns.arg {
        procfs_trace_common::NO_ARG => (
            walk(&spec.pos, pos_base),
            walk(&spec.addr, base(ctx, &spec.addr)),
        ),
        _ => {
            let ns = walk(&spec.pidns, base(ctx, &spec.pidns));
            (
                nr_in_ns(ns, &cfg.pidns, true),
                nr_in_ns(ns, &cfg.pidns, false),
            )
        }
    };
    let entered = Entered {
        ts_ns: now,
        pos_base: pos_base.value,
        pos_ok: u64::from(pos_base.state == OK),
        show: if spec.addr_is_show != 0 {
            addr.value
        } else {
            0
        },
    };
    inserted(ENTERED.insert(&entry_key(task.tid, probe as u16), &entered, 0));
    counts::enter(task.tid, probe, now);

    let Some(mut entry) = start(&task, probe, phase::ENTRY, now) else {
        return 0;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: see `start`; the name is read straight into the reserved slot.
    unsafe {
        (*ev).pos = pos.value as i64;
        (*ev).addr = addr.value;
        let name = read_name(walk(&spec.name, base(ctx, &spec.name)), &mut (*ev).name);
        (*ev).name_len = name.value as u16;
        (*ev).flags = pos.flag(flags::POS, flags::POS_FAULT)
            | addr.flag(flags::ADDR, flags::ADDR_FAULT)
            | name.flag(flags::NAME, flags::NAME_FAULT);
    }
    entry.submit(wake());
    0
}

/// Exit body (kretprobe or fexit): return value, and the position the function left behind.
#[inline(always)]
pub fn on_exit(ret: i64, probe: ProbeId) -> u32 {
    let cfg = config();
    let Some(task) = current(cfg) else { return 0 };
    let spec = &cfg.probes[probe as usize];
    // SAFETY: plain helper call.
    let now = unsafe { bpf_ktime_get_ns() };
    let key = entry_key(task.tid, probe as u16);
    // SAFETY: the value is copied out before the entry is removed.
    let entered = match unsafe { ENTERED.get(&key) } {
        Some(e) => {
            let e = *e;
            let _ = ENTERED.remove(&key);
            e
        }
        None => Entered::UNSEEN,
    };
    let ret = if spec.ret32 != 0 {
        ret as i32 as i64
    } else {
        ret
    };
    counts::exit(&task, probe, &entered, now, ret);
    let pos = saved_pos(&spec.pos, &entered);

    let Some(mut entry) = start(&task, probe, phase::EXIT, now) else {
        return 0;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: see `start`.
    unsafe {
        (*ev).ret = ret;
        (*ev).pos = pos.value as i64;
        (*ev).flags = flags::RET | pos.flag(flags::POS, flags::POS_FAULT);
    }
    entry.submit(wake());
    0
}

#[inline(always)]
fn saved_pos(chain: &Chain, entered: &Entered) -> Read {
    if chain.arg == procfs_trace_common::NO_ARG {
        return Read::UNUSED;
    }
    if entered.pos_ok == 0 {
        // The entry was not seen (attached mid-call), its map insert failed,
        // or its base could not be read.
        return Read::FAULT;
    }
    walk(chain, Read::ok(entered.pos_base))
}
