//! Builds events in the ring buffer: one entry and one exit handler shared by
//! every probed function, and the syscall records that frame them. Inside a
//! followed syscall a call is one record, written at its exit, and the
//! syscall one more at its own; elsewhere a call's entry and exit are an
//! event each, as nothing would say when its outermost call is done.

use aya_ebpf::helpers::{
    bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_smp_processor_id, bpf_ktime_get_ns,
    bpf_probe_read_user_str_bytes,
};
use procfs_trace_common::{
    call_flags, counts::Entered, entry_key, flags, kind, loss, phase, shape, syscall_flags,
    syscall_shape, CallEvent, Chain, Config, EventHeader, Pending, ProbeEvent, ProbeId, ProbeSpec,
    SyscallCallEvent, COMM_LEN,
};

use crate::{
    counts::{self, Nest},
    extract::{base, nr_in_ns, read_name, walk, Args, Read, OK},
    filter::wanted,
    maps::{armed, config, count_loss, frame, inserted, ENTERED, EVENTS},
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

/// The current task, when user space is listening and the filters want it:
/// asked at a syscall's entry, and by probes outside a followed syscall.
#[inline(always)]
pub fn current(cfg: &Config) -> Option<Task> {
    if !armed(procfs_trace_common::armed::EVENTS) {
        return None;
    }
    let task = Task::current();
    wanted(cfg, task.tgid, &task.comm).then_some(task)
}

/// The current task and the followed syscall it is in, when user space is
/// listening and the filters want it. Inside a followed syscall, its entry
/// applied the filters and kept the task's name, so a probe there does
/// neither again, and reports the thread id the syscall entered with.
#[inline(always)]
fn traced(cfg: &Config) -> Option<(Task, Option<&'static mut Pending>)> {
    if !armed(procfs_trace_common::armed::EVENTS) {
        return None;
    }
    let pid_tgid = bpf_get_current_pid_tgid();
    if let Some(p) = frame(pid_tgid as u32) {
        let task = Task {
            tgid: (pid_tgid >> 32) as u32,
            tid: p.tid,
            comm: p.comm,
        };
        return Some((task, Some(p)));
    }
    let task = Task::current();
    wanted(cfg, task.tgid, &task.comm).then_some((task, None))
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

/// The fd a syscall works on and its path pointer (0 when it has none), as
/// its shape says.
#[inline(always)]
fn frame_args(p: &Pending) -> (i64, u64) {
    match syscall_shape(u64::from(p.nr)) {
        shape::AT_PATH => (p.arg0 as i64, p.arg1),
        shape::PATH | shape::CWD_PATH => (-100, p.arg0),
        shape::FD1 => (p.arg1 as i64, 0),
        _ => (p.arg0 as i64, 0),
    }
}

/// Marks the syscall `p` as reaching procfs, reading its path argument the
/// first time: by its exit an `execve`'s is gone.
#[inline(always)]
pub fn read_path(p: &mut Pending) {
    if p.emitted != 0 {
        return;
    }
    p.emitted = 1;
    let (_, path_ptr) = frame_args(p);
    if path_ptr == 0 {
        return;
    }
    // SAFETY: the helper bounds the read to `path` and checks the user address.
    match unsafe { bpf_probe_read_user_str_bytes(path_ptr as *const u8, &mut p.path) } {
        Ok(s) => {
            p.path_len = s.len() as u16;
            p.path_flags = syscall_flags::PATH;
        }
        Err(_) => p.path_flags = syscall_flags::PATH_FAULT,
    }
}

/// Writes a syscall that reached procfs, entry and exit in one record,
/// after the records of the calls inside it.
#[inline(always)]
pub fn emit_syscall(task: &Task, p: &Pending, ret: i64) {
    let Some(mut entry) = EVENTS.reserve::<SyscallCallEvent>(0) else {
        // Its calls, already written, arrive without their frame.
        count_loss(loss::RING);
        return;
    };
    let ev = entry.as_mut_ptr();
    let (fd, _) = frame_args(p);
    let mut fl = p.path_flags | syscall_flags::RET;
    if p.lost != 0 {
        fl |= syscall_flags::LOST;
    }
    if p.open != 0 || p.unclosed != 0 {
        fl |= syscall_flags::UNCLOSED;
    }
    // SAFETY: exclusively owned reserved slot; every field is written.
    unsafe {
        (*ev).header = header(
            task,
            p.ts_ns,
            kind::SYSCALL_CALL,
            core::mem::size_of::<SyscallCallEvent>(),
        );
        (*ev).nr = p.nr;
        (*ev).flags = fl;
        (*ev).reserved8 = 0;
        (*ev).path_len = p.path_len;
        (*ev).at_flags = p.at_flags;
        (*ev).reserved = 0;
        // SAFETY: plain helper call.
        (*ev).exit_ns = bpf_ktime_get_ns();
        (*ev).fd = fd;
        (*ev).ret = ret;
        (*ev).path = p.path;
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
        count_loss(loss::RING);
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

/// Entry body (kprobe or fentry): name, position and callback address from
/// the arguments. Inside a followed syscall it only leaves them for the
/// exit, which writes the whole call, on the syscall's stack of open calls:
/// no map operation of its own. Elsewhere it leaves them in `ENTERED` and
/// writes an entry event.
#[inline(always)]
pub fn on_entry(ctx: &impl Args, probe: ProbeId) -> u32 {
    let cfg = config();
    let Some((task, syscall)) = traced(cfg) else {
        return 0;
    };
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
    let name_base = base(ctx, &spec.name);
    let mut entered = Entered {
        ts_ns: now,
        pos_base: pos_base.value,
        show: if spec.addr_is_show != 0 {
            addr.value
        } else {
            0
        },
        pos: pos.value as i64,
        addr: addr.value,
        name_base: name_base.value,
        seq: 0,
        probe: probe as u16,
        flags: pos.flag(flags::POS, flags::POS_FAULT) | addr.flag(flags::ADDR, flags::ADDR_FAULT),
        name_state: name_base.state,
        pos_ok: u8::from(pos_base.state == OK),
        reserved: 0,
    };
    if let Some(p) = syscall {
        read_path(p);
        entered.seq = p.seq;
        p.seq = p.seq.wrapping_add(1);
        if !p.push(&entered) {
            // Deeper than the stack: counted as a failed map insert was.
            count_loss(loss::MAP_INSERT);
        }
        return 0;
    }
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
        let name = read_name(walk(&spec.name, name_base), &mut (*ev).name);
        (*ev).name_len = name.value as u16;
        (*ev).flags = entered.flags | name.flag(flags::NAME, flags::NAME_FAULT);
    }
    entry.submit(wake());
    0
}

/// Exit body (kretprobe or fexit): return value, and the position the
/// function left behind; inside a followed syscall, the whole call.
#[inline(always)]
pub fn on_exit(ret: i64, probe: ProbeId) -> u32 {
    let cfg = config();
    let Some((task, mut syscall)) = traced(cfg) else {
        return 0;
    };
    let spec = &cfg.probes[probe as usize];
    // SAFETY: plain helper call.
    let now = unsafe { bpf_ktime_get_ns() };
    let (entered, nest) = match &mut syscall {
        Some(p) => {
            let e = p.pop(probe as u16);
            (e, Nest::Framed(e.seen() && p.open == 0))
        }
        None => {
            let key = entry_key(task.tid, probe as u16);
            // SAFETY: the value is copied out before the entry is removed.
            let e = match unsafe { ENTERED.get(&key) } {
                Some(e) => {
                    let e = *e;
                    let _ = ENTERED.remove(&key);
                    e
                }
                None => Entered::UNSEEN,
            };
            (e, Nest::Unframed)
        }
    };
    let ret = if spec.ret32 != 0 {
        ret as i32 as i64
    } else {
        ret
    };
    counts::exit(&task, probe, &entered, now, ret, nest);
    let pos = saved_pos(&spec.pos, &entered);
    if let Some(p) = syscall {
        emit_call(&task, probe, spec, &entered, p, now, ret, pos);
        return 0;
    }

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

/// Writes a call that returned inside the followed syscall `p`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn emit_call(
    task: &Task,
    probe: ProbeId,
    spec: &ProbeSpec,
    entered: &Entered,
    p: &mut Pending,
    now: u64,
    ret: i64,
    pos: Read,
) {
    let seen = entered.seen();
    let exit_seq = p.seq;
    p.seq = p.seq.wrapping_add(1);
    let Some(mut entry) = EVENTS.reserve::<CallEvent>(0) else {
        p.lost = 1;
        count_loss(loss::RING);
        return;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: exclusively owned reserved slot; every field is written (name
    // only up to name_len).
    unsafe {
        (*ev).header = header(task, now, kind::CALL, core::mem::size_of::<CallEvent>());
        (*ev).probe = probe as u16;
        (*ev).exit_flags = flags::RET | pos.flag(flags::POS, flags::POS_FAULT);
        (*ev).exit_seq = exit_seq;
        (*ev).reserved = 0;
        (*ev).frame_ns = p.ts_ns;
        (*ev).ret = ret;
        (*ev).exit_pos = pos.value as i64;
        (*ev).entry_seq = entered.seq;
        (*ev).entry_ns = entered.ts_ns;
        (*ev).entry_pos = entered.pos;
        (*ev).addr = entered.addr;
        if seen {
            let name_base = Read {
                value: entered.name_base,
                state: entered.name_state,
            };
            let name = read_name(walk(&spec.name, name_base), &mut (*ev).name);
            (*ev).name_len = name.value as u16;
            (*ev).entry_flags = entered.flags | name.flag(flags::NAME, flags::NAME_FAULT);
            (*ev).call_flags = 0;
        } else {
            (*ev).name_len = 0;
            (*ev).entry_flags = 0;
            (*ev).call_flags = call_flags::NO_ENTRY;
        }
    }
    entry.submit(wake());
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
