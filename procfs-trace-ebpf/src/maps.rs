//! Maps and the load-time configuration shared with user space.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LruPerCpuHashMap, PerCpuArray, RingBuf},
};
use procfs_trace_common::{
    counts::{CountKey, Counts, Entered, Nesting},
    loss, Config, Pending, THREAD_SLOTS,
};

/// Set by user space at load time (`EbpfLoader::set_global`); read with `read_volatile`
/// so the compiler does not fold the all-zero initial value.
#[unsafe(no_mangle)]
pub static CONFIG: Config = Config::EMPTY;

/// Events to user space. 4 MiB holds ~30k events: a burst of a few ms at full rate.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(4 << 20, 0);

/// What user space wants now (index 0): bits of `procfs_trace_common::armed`.
/// Attaching takes time (seconds under emulation), and a probe that fires
/// before the rest, or the syscall tracepoints, are in place would report
/// flows cut short: nothing is emitted until every attachment is made, nor
/// once detaching begins.
#[map]
pub static ARMED: Array<u32> = Array::with_max_entries(1, 0);

/// Whether user space wants `what` (a bit of `procfs_trace_common::armed`).
#[inline(always)]
pub fn armed(what: u32) -> bool {
    ARMED.get(0).is_some_and(|a| *a & what != 0)
}

/// Losses per CPU, by kind: slots of `procfs_trace_common::loss`.
#[map]
pub static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(loss::SLOTS, 0);

/// Counts one loss of `kind` (a slot of `procfs_trace_common::loss`).
#[inline(always)]
pub fn count_loss(kind: u32) {
    if let Some(n) = LOST.get_ptr_mut(kind) {
        // SAFETY: per-CPU slot, so no other writer races this increment.
        unsafe { *n += 1 };
    }
}

/// Counts a failed map insert; the caller carries on without the entry.
#[inline(always)]
pub fn inserted<E>(r: Result<(), E>) {
    if r.is_err() {
        count_loss(loss::MAP_INSERT);
    }
}

/// Traced tgids: set by user space for `--pid`, and extended with descendants
/// of the agent once they are seen (so a reparented task stays traced).
#[map]
pub static TRACED: HashMap<u32, u8> = HashMap::with_max_entries(16384, 0);

/// What a call's entry leaves for its exit (its start, the pos chain's base,
/// its show callback), keyed by `entry_key(tid, probe)`, for calls no
/// followed syscall frames; inside one, its `Pending` holds them.
#[map]
pub static ENTERED: HashMap<u64, Entered> = HashMap::with_max_entries(16384, 0);

/// Each thread's open probed calls that no followed syscall frames, by
/// tid; removed when the thread exits (`forget_thread`).
#[map]
pub static NESTING: HashMap<u32, Nesting> = HashMap::with_max_entries(THREAD_SLOTS, 0);

/// Calls, time and latencies per process and function, and each process's
/// operations, bumped before any event is reserved so that a full ring buffer
/// loses none of them. User space sizes it at load time for the CPU count.
#[map]
pub static COUNTS: LruPerCpuHashMap<CountKey, Counts> =
    LruPerCpuHashMap::with_max_entries(16384, 0);

/// Each thread's followed syscall, by tid. A slot is created by the
/// thread's first followed syscall and kept, idle, between them: filling it
/// in place costs a lookup, where inserting and deleting 648 bytes per
/// syscall took the map's locks and copied them. Removed when the thread
/// exits (`forget_thread`). Not LRU: an LRU map reclaims the coldest slot
/// when it needs room, and the coldest is that of a thread blocked inside
/// a followed syscall, whose record would vanish uncounted. Here a thread
/// that finds the map full is not followed, and that is counted.
#[map]
pub static PENDING: HashMap<u32, Pending> = HashMap::with_max_entries(THREAD_SLOTS, 0);

/// A blank `Pending` to create a slot from, too large for the BPF stack.
/// Never written: it holds the zeros the kernel created it with.
#[map]
pub static BLANK_PENDING: Array<Pending> = Array::with_max_entries(1, 0);

/// The followed syscall thread `tid` is in, if any.
#[inline(always)]
pub fn frame(tid: u32) -> Option<&'static mut Pending> {
    let p = PENDING.get_ptr_mut(&tid)?;
    // SAFETY: a per-thread slot only this thread writes.
    let p = unsafe { &mut *p };
    (p.active != 0).then_some(p)
}

/// Drops thread `tid`'s slots, at its exit.
#[inline(always)]
pub fn forget_thread(tid: u32) {
    // Most threads never had one: a missing slot is the common case.
    let _ = PENDING.remove(&tid);
    let _ = NESTING.remove(&tid);
}

/// Moves thread `old`'s slots to `new`: the ids an `execve` from a thread
/// other than the leader enters and leaves with.
#[inline(always)]
pub fn rekey_thread(old: u32, new: u32) {
    rekey(&PENDING, old, new);
    rekey(&NESTING, old, new);
}

#[inline(always)]
fn rekey<V>(map: &HashMap<u32, V>, old: u32, new: u32) {
    if let Some(v) = map.get_ptr(&old) {
        // SAFETY: the value is copied into the new entry before the old one goes.
        inserted(map.insert(&new, unsafe { &*v }, 0));
        let _ = map.remove(&old);
    }
}

/// Reads the configuration set at load time.
#[inline(always)]
pub fn config() -> &'static Config {
    // SAFETY: CONFIG is a valid static; volatile keeps the loader-set value from being folded.
    unsafe { &*core::ptr::read_volatile(&&CONFIG) }
}
