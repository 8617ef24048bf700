//! Builds probe events in the ring buffer: one entry handler, one exit handler,
//! shared by every probed function.

use aya_ebpf::{
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_smp_processor_id, bpf_ktime_get_ns,
    },
    programs::{ProbeContext, RetProbeContext},
};
use procfs_trace_common::{
    entry_key, flags, kind, phase, Chain, Config, EventHeader, ProbeEvent, ProbeId, COMM_LEN,
};

use crate::{
    extract::{base, read_name, walk, Miss},
    filter::wanted,
    maps::{config, ENTRY_ARGS, EVENTS, LOST},
};

/// The current task, if the filters want it reported.
struct Task {
    tgid: u32,
    tid: u32,
    comm: [u8; COMM_LEN],
}

#[inline(always)]
fn current(cfg: &Config) -> Option<Task> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    let comm = bpf_get_current_comm().unwrap_or([0; COMM_LEN]);
    wanted(cfg, tgid, &comm).then_some(Task {
        tgid,
        tid: pid_tgid as u32,
        comm,
    })
}

#[inline(always)]
fn count_lost() {
    if let Some(n) = LOST.get_ptr_mut(0) {
        // SAFETY: per-CPU slot, so no other writer races this increment.
        unsafe { *n += 1 };
    }
}

/// Reserves an event and fills the fields every event has; `None` counts a loss.
#[inline(always)]
fn start(
    task: &Task,
    probe: ProbeId,
    ph: u8,
) -> Option<aya_ebpf::maps::ring_buf::RingBufEntry<ProbeEvent>> {
    let Some(mut entry) = EVENTS.reserve::<ProbeEvent>(0) else {
        count_lost();
        return None;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: `ev` points at a reserved, exclusively owned ProbeEvent-sized slot;
    // every field is written before submit (name only up to name_len).
    unsafe {
        (*ev).header = EventHeader {
            // SAFETY: plain helper calls.
            ts_ns: bpf_ktime_get_ns(),
            tgid: task.tgid,
            tid: task.tid,
            cpu: bpf_get_smp_processor_id(),
            kind: kind::PROBE,
            size: core::mem::size_of::<ProbeEvent>() as u16,
            comm: task.comm,
        };
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

/// Sets `flag` on success, `fault` on a faulting read, nothing when unused.
#[inline(always)]
fn mark(res: &Result<u64, Miss>, flag: u8, fault: u8) -> u8 {
    match res {
        Ok(_) => flag,
        Err(Miss::Fault) => fault,
        Err(Miss::Unused) => 0,
    }
}

/// kprobe body: name, position and callback address from the arguments.
#[inline(always)]
pub fn on_entry(ctx: &ProbeContext, probe: ProbeId) -> u32 {
    let cfg = config();
    let Some(task) = current(cfg) else { return 0 };
    let spec = &cfg.probes[probe as usize];

    let pos_base = base(ctx, &spec.pos);
    if let Ok(b) = pos_base {
        let _ = ENTRY_ARGS.insert(&entry_key(task.tid, probe as u16), &b, 0);
    }

    let Some(mut entry) = start(&task, probe, phase::ENTRY) else {
        return 0;
    };
    let ev = entry.as_mut_ptr();

    let pos = pos_base.and_then(|b| walk(&spec.pos, b));
    let addr = base(ctx, &spec.addr).and_then(|b| walk(&spec.addr, b));
    let mut fl =
        mark(&pos, flags::POS, flags::POS_FAULT) | mark(&addr, flags::ADDR, flags::ADDR_FAULT);
    // SAFETY: see `start`; the name is read straight into the reserved slot.
    unsafe {
        (*ev).pos = pos.unwrap_or(0) as i64;
        (*ev).addr = addr.unwrap_or(0);
        let name = base(ctx, &spec.name)
            .and_then(|b| walk(&spec.name, b))
            .and_then(|p| read_name(p, &mut (*ev).name).map(u64::from));
        fl |= mark(&name, flags::NAME, flags::NAME_FAULT);
        (*ev).name_len = name.unwrap_or(0) as u16;
        (*ev).flags = fl;
    }
    entry.submit(0);
    0
}

/// kretprobe body: return value, and the position the function left behind.
#[inline(always)]
pub fn on_exit(ctx: &RetProbeContext, probe: ProbeId) -> u32 {
    let cfg = config();
    let Some(task) = current(cfg) else { return 0 };
    let spec = &cfg.probes[probe as usize];
    let pos = saved_pos(&spec.pos, entry_key(task.tid, probe as u16));

    let Some(mut entry) = start(&task, probe, phase::EXIT) else {
        return 0;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: see `start`.
    unsafe {
        (*ev).ret = ctx.ret::<i64>();
        (*ev).pos = pos.as_ref().copied().unwrap_or(0) as i64;
        (*ev).flags = flags::RET | mark(&pos, flags::POS, flags::POS_FAULT);
    }
    entry.submit(0);
    0
}

#[inline(always)]
fn saved_pos(chain: &Chain, key: u64) -> Result<u64, Miss> {
    // SAFETY: the value is copied out before the entry is removed.
    let b = match unsafe { ENTRY_ARGS.get(&key) } {
        Some(b) => *b,
        None if chain.arg == procfs_trace_common::NO_ARG => return Err(Miss::Unused),
        None => return Err(Miss::Fault),
    };
    let _ = ENTRY_ARGS.remove(&key);
    walk(chain, b)
}
