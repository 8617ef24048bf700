//! The kernel's own counts (`COUNTS`): every completed call per process and
//! function, each process's operations, read bytes and time in outermost
//! calls. They are bumped whether or not the ring buffer has room, so the
//! live tables built from them stay exact when events are lost. Only while
//! user space wants them (`armed::COUNTS`): every probe run pays for them.

use procfs_trace_common::{
    armed,
    counts::{latency_slot, CountKey, Counts, Entered, Nesting, LATENCY_SLOTS, PROCESS},
    loss, Group, ProbeId,
};

use crate::{
    emit::Task,
    maps::{self, count_loss, inserted, COUNTS, NESTING},
};

/// `BPF_NOEXIST`: a row another CPU created meanwhile is kept.
const NOEXIST: u64 = 1;

/// This CPU's share of the row `key`, created empty if need be.
#[inline(always)]
fn row(key: &CountKey) -> Option<&'static mut Counts> {
    if COUNTS.get_ptr_mut(key).is_none() {
        // Fails only when another CPU created it first; failing to create it
        // at all shows as the next lookup's miss, counted as a loss.
        let _ = COUNTS.insert(key, &Counts::ZERO, NOEXIST);
    }
    match COUNTS.get_ptr_mut(key) {
        // SAFETY: a per-CPU value: no other writer races this program on
        // this CPU, and the map outlives it.
        Some(p) => Some(unsafe { &mut *p }),
        None => {
            count_loss(loss::MAP_INSERT);
            None
        }
    }
}

/// Notes that `probe`'s call, which no followed syscall frames, began on
/// thread `tid` at `now`. A framed call's nesting is its syscall's stack.
#[inline(always)]
pub fn enter(tid: u32, probe: ProbeId, now: u64) {
    if !maps::armed(armed::COUNTS) {
        return;
    }
    let bit = 1u64 << (probe as u32 & 63);
    match NESTING.get_ptr_mut(&tid) {
        // SAFETY: a per-thread slot only this thread writes.
        Some(n) => unsafe {
            if (*n).open == 0 {
                (*n).start_ns = now;
            }
            (*n).open |= bit;
        },
        None => inserted(NESTING.insert(
            &tid,
            &Nesting {
                open: bit,
                start_ns: now,
            },
            0,
        )),
    }
}

/// Whether a returning call was its thread's outermost open one.
pub enum Nest {
    /// Inside a followed syscall, whose stack of open calls told: true when
    /// the call's entry was at its bottom.
    Framed(bool),
    /// Elsewhere: `NESTING` tells.
    Unframed,
}

/// Counts `probe`'s call ending at `now` with `ret`; `entered` is what its
/// entry left (a call whose entry was not seen is not counted: it has no time).
#[inline(always)]
pub fn exit(task: &Task, probe: ProbeId, e: &Entered, now: u64, ret: i64, nest: Nest) {
    if !maps::armed(armed::COUNTS) {
        return;
    }
    if e.seen() {
        let key = CountKey {
            tgid: task.tgid,
            probe: probe as u16,
            reserved: 0,
            show: e.show,
        };
        if let Some(c) = row(&key) {
            let d = now.saturating_sub(e.ts_ns);
            c.calls += 1;
            c.total_ns += d;
            c.latency[latency_slot(d) & (LATENCY_SLOTS - 1)] += 1;
        }
    }
    let start_ns = match nest {
        Nest::Framed(true) => e.ts_ns,
        Nest::Framed(false) => return,
        Nest::Unframed => match outermost_unframed(task.tid, probe) {
            Some(start_ns) => start_ns,
            None => return,
        },
    };
    // The outermost call returned. Work no followed syscall frames is an
    // operation of its own (as user space's flows make it), whose bytes are
    // what its outermost call returned.
    let Some(p) = row(&process_key(task.tgid)) else {
        return;
    };
    p.total_ns += now.saturating_sub(start_ns);
    p.comm = task.comm;
    if matches!(nest, Nest::Unframed) {
        p.calls += 1;
        if probe.def().group == Group::Read && ret > 0 {
            p.bytes += ret as u64;
        }
    }
}

/// Closes `probe`'s unframed call on thread `tid` in `NESTING`: when it was
/// the last open one, the time the outermost began.
#[inline(always)]
fn outermost_unframed(tid: u32, probe: ProbeId) -> Option<u64> {
    let bit = 1u64 << (probe as u32 & 63);
    let n = NESTING.get_ptr_mut(&tid)?;
    // SAFETY: a per-thread slot only this thread writes.
    let n = unsafe { &mut *n };
    if n.open & bit == 0 {
        return None;
    }
    n.open &= !bit;
    (n.open == 0).then_some(n.start_ns)
}

/// Counts an operation a followed syscall framed; `read` when it returns bytes read.
#[inline(always)]
pub fn operation(task: &Task, read: bool, ret: i64) {
    if !maps::armed(armed::COUNTS) {
        return;
    }
    let Some(p) = row(&process_key(task.tgid)) else {
        return;
    };
    p.calls += 1;
    p.comm = task.comm;
    if read && ret > 0 {
        p.bytes += ret as u64;
    }
}

#[inline(always)]
fn process_key(tgid: u32) -> CountKey {
    CountKey {
        tgid,
        probe: PROCESS,
        reserved: 0,
        show: 0,
    }
}
