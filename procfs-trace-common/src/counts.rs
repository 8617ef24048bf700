//! Counts the kernel keeps itself, beside the event stream: per process and
//! probed function, so the live tables stay exact when the ring buffer
//! overflows and events are lost.

use crate::COMM_LEN;

/// `CountKey::probe` of a process's own row: its operations, the bytes they
/// read and its time in outermost probed calls.
pub const PROCESS: u16 = u16::MAX;

/// Slots of a latency histogram: slot `i` holds durations in `[2^i, 2^(i+1))`
/// nanoseconds (slot 0 also 0), the last everything from about 2 s up.
pub const LATENCY_SLOTS: usize = 32;

/// Key of the `COUNTS` map.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CountKey {
    /// Process id.
    pub tgid: u32,
    /// A [`crate::ProbeId`], or [`PROCESS`].
    pub probe: u16,
    /// Always zero.
    pub reserved: u16,
    /// The show callback the call reported (probes in `Config::show_probes`), else 0.
    pub show: u64,
}

const _: () = assert!(core::mem::size_of::<CountKey>() == 16);

/// One row of the `COUNTS` map, per CPU.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Calls whose entry and exit were both seen; for a process row, its operations.
    pub calls: u64,
    /// Their total time; for a process row, its time in outermost probed calls.
    pub total_ns: u64,
    /// Bytes its reads returned (process rows only).
    pub bytes: u64,
    /// The task name of the latest bump (process rows only).
    pub comm: [u8; COMM_LEN],
    /// Latencies of the calls (function rows only), by [`latency_slot`].
    pub latency: [u32; LATENCY_SLOTS],
}

const _: () = assert!(core::mem::size_of::<Counts>() == 168);

impl Counts {
    /// Nothing counted yet.
    pub const ZERO: Counts = Counts {
        calls: 0,
        total_ns: 0,
        bytes: 0,
        comm: [0; COMM_LEN],
        latency: [0; LATENCY_SLOTS],
    };
}

/// The histogram slot of a duration: `floor(log2(ns))`, capped at the last
/// slot. A fixed binary search, so the verifier sees no loop.
#[inline(always)]
pub fn latency_slot(ns: u64) -> usize {
    let mut v = ns;
    let mut slot = 0;
    if v >> 32 != 0 {
        v >>= 32;
        slot += 32;
    }
    if v >> 16 != 0 {
        v >>= 16;
        slot += 16;
    }
    if v >> 8 != 0 {
        v >>= 8;
        slot += 8;
    }
    if v >> 4 != 0 {
        v >>= 4;
        slot += 4;
    }
    if v >> 2 != 0 {
        v >>= 2;
        slot += 2;
    }
    if v >> 1 != 0 {
        slot += 1;
    }
    if slot >= LATENCY_SLOTS {
        LATENCY_SLOTS - 1
    } else {
        slot
    }
}

/// What the entry probe leaves for its exit: inside a followed syscall on
/// the thread's stack in its `Pending`, elsewhere in the `ENTERED` map keyed
/// by `entry_key(tid, probe)`. Inside a followed syscall the exit writes the
/// whole call as one record (a [`crate::CallEvent`]), so the entry keeps
/// what it read.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entered {
    /// When the call began.
    pub ts_ns: u64,
    /// The pos chain's base, for the position the function leaves behind.
    pub pos_base: u64,
    /// The show callback the call reported, for its `COUNTS` key (or 0).
    pub show: u64,
    /// The position at entry (valid as `flags` says).
    pub pos: i64,
    /// The callback address or mount options at entry (valid as `flags` says).
    pub addr: u64,
    /// The name chain's base, walked again at the exit: the name's bytes
    /// are read once, straight into the record.
    pub name_base: u64,
    /// The call's place in its syscall's sequence of entries and exits.
    pub seq: u16,
    /// The probe (a [`crate::ProbeId`]): an exit finds its entry on the stack by it.
    pub probe: u16,
    /// Bits of [`crate::flags`] for `pos` and `addr` at entry.
    pub flags: u8,
    /// How reading `name_base` went: 0 unused, 1 read, 2 faulted.
    pub name_state: u8,
    /// Non-zero when `pos_base` was read.
    pub pos_ok: u8,
    /// Always zero.
    pub reserved: u8,
}

const _: () = assert!(core::mem::size_of::<Entered>() == 56);

impl Entered {
    /// The entry was not seen (attached mid-call, or it could not be kept).
    /// A value rather than `None`: an `Option`'s unwritten payload is stack
    /// the 5.10 verifier refuses to let the program read.
    pub const UNSEEN: Entered = Entered {
        ts_ns: 0,
        pos_base: 0,
        show: 0,
        pos: 0,
        addr: 0,
        name_base: 0,
        seq: 0,
        probe: 0,
        flags: 0,
        name_state: 0,
        pos_ok: 0,
        reserved: 0,
    };

    /// Whether the entry was seen.
    #[inline(always)]
    pub fn seen(&self) -> bool {
        self.ts_ns != 0
    }
}

/// A thread's probed calls in progress outside any followed syscall, so its
/// time in outermost calls is counted once however deeply they nest (inside
/// one, the syscall's `Pending` stack tells).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nesting {
    /// One bit per probe whose call is open (bit `probe`; at most 64 probes).
    /// A probe whose exit was lost keeps its bit only until its next exit.
    pub open: u64,
    /// When the outermost open call began.
    pub start_ns: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_slots_are_powers_of_two() {
        assert_eq!(latency_slot(0), 0);
        assert_eq!(latency_slot(1), 0);
        assert_eq!(latency_slot(2), 1);
        assert_eq!(latency_slot(3), 1);
        assert_eq!(latency_slot(1023), 9);
        assert_eq!(latency_slot(1024), 10);
        assert_eq!(latency_slot((1 << 31) + 5), 31);
        assert_eq!(latency_slot(u64::MAX), LATENCY_SLOTS - 1);
        for s in 0..LATENCY_SLOTS {
            assert_eq!(latency_slot(1 << s), s);
            assert_eq!(latency_slot((2 << s) - 1), s);
        }
    }
}
