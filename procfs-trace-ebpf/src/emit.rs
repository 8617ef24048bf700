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
    extract::{base, read_name, walk, Read, OK},
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

/// kprobe body: name, position and callback address from the arguments.
#[inline(always)]
pub fn on_entry(ctx: &ProbeContext, probe: ProbeId) -> u32 {
    let cfg = config();
    let Some(task) = current(cfg) else { return 0 };
    let spec = &cfg.probes[probe as usize];

    let pos_base = base(ctx, &spec.pos);
    if pos_base.state == OK {
        let _ = ENTRY_ARGS.insert(&entry_key(task.tid, probe as u16), &pos_base.value, 0);
    }

    let Some(mut entry) = start(&task, probe, phase::ENTRY) else {
        return 0;
    };
    let ev = entry.as_mut_ptr();

    let pos = walk(&spec.pos, pos_base);
    let addr = walk(&spec.addr, base(ctx, &spec.addr));
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
        (*ev).pos = pos.value as i64;
        (*ev).flags = flags::RET | pos.flag(flags::POS, flags::POS_FAULT);
    }
    entry.submit(0);
    0
}

#[inline(always)]
fn saved_pos(chain: &Chain, key: u64) -> Read {
    if chain.arg == procfs_trace_common::NO_ARG {
        return Read::UNUSED;
    }
    // SAFETY: the value is copied out before the entry is removed.
    let base = match unsafe { ENTRY_ARGS.get(&key) } {
        Some(b) => Read::ok(*b),
        // The entry was not seen (attached mid-call) or its map insert failed.
        None => return Read::FAULT,
    };
    let _ = ENTRY_ARGS.remove(&key);
    walk(chain, base)
}
