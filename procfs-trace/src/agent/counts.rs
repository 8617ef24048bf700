//! The kernel's own counts (the `COUNTS` map), read every tick as what
//! changed since the previous one: exact per-process and per-function
//! figures, whatever the ring buffer lost.

use std::collections::HashMap;

use aya::maps::{MapData, PerCpuHashMap};
use procfs_trace_common::{
    counts::{CountKey, Counts, LATENCY_SLOTS, PROCESS},
    ProbeId, COMM_LEN,
};

use crate::kernel::kallsyms::Kallsyms;

/// One row's figures, summed over CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// Calls; operations for a process row.
    pub calls: u64,
    /// Time in the calls; in outermost calls for a process row.
    pub total_ns: u64,
    /// Bytes read (process rows).
    pub bytes: u64,
    /// Calls per latency slot (`procfs_trace_common::counts::latency_slot`).
    pub latency: [u64; LATENCY_SLOTS],
}

impl Totals {
    fn add(&mut self, c: &Counts) {
        self.calls += c.calls;
        self.total_ns += c.total_ns;
        self.bytes += c.bytes;
        for (t, n) in self.latency.iter_mut().zip(c.latency) {
            *t += u64::from(n);
        }
    }

    /// What was added to `before` to make `self`; all of `self` when it is
    /// smaller (the kernel dropped the row and started it again).
    fn since(&self, before: &Totals) -> Totals {
        if self.calls < before.calls || self.total_ns < before.total_ns {
            return *self;
        }
        let mut d = Totals {
            calls: self.calls - before.calls,
            total_ns: self.total_ns - before.total_ns,
            bytes: self.bytes.saturating_sub(before.bytes),
            latency: [0; LATENCY_SLOTS],
        };
        for (i, v) in d.latency.iter_mut().enumerate() {
            *v = self.latency[i].saturating_sub(before.latency[i]);
        }
        d
    }

    fn is_empty(&self) -> bool {
        self.calls == 0 && self.total_ns == 0 && self.bytes == 0
    }
}

/// What a row counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// A process's operations, read bytes and time in outermost calls.
    Process {
        /// Its task name, as of a recent bump.
        comm: String,
    },
    /// Calls to a probed function.
    Calls {
        /// The function.
        probe: ProbeId,
        /// The show callback the calls reported, when they report one.
        show: Option<String>,
    },
}

/// One row's change since the previous tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// Process id.
    pub tgid: u32,
    /// What is counted.
    pub row: Row,
    /// The change.
    pub new: Totals,
}

/// The changes one tick read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountsTick {
    /// Rows that changed.
    pub rows: Vec<Counted>,
    /// Rows the kernel dropped to make room since the session began: what
    /// they gained after their last reading is missing from the figures.
    pub dropped: u64,
}

/// The previous tick's totals, and what the kernel dropped.
#[derive(Debug, Default)]
pub struct Diff {
    seen: HashMap<CountKey, Totals>,
    dropped: u64,
}

impl Diff {
    /// The rows of `now` (every row the map holds) that changed, by key; rows
    /// seen before and gone now, that the agent did not remove, count as dropped.
    pub fn update(&mut self, now: HashMap<CountKey, Totals>) -> Vec<(CountKey, Totals)> {
        self.dropped += self.seen.keys().filter(|k| !now.contains_key(k)).count() as u64;
        let changed = now
            .iter()
            .filter_map(|(k, t)| {
                let d = match self.seen.get(k) {
                    Some(before) => t.since(before),
                    None => *t,
                };
                (!d.is_empty()).then_some((*k, d))
            })
            .collect();
        self.seen = now;
        changed
    }

    /// The rows read at the last update.
    pub fn keys(&self) -> impl Iterator<Item = &CountKey> {
        self.seen.keys()
    }

    /// The agent removes `key` (its process is gone and fully read).
    pub fn forget(&mut self, key: &CountKey) {
        self.seen.remove(key);
    }

    /// Rows the kernel dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// Reads the `COUNTS` map.
pub struct KernelCounts {
    map: PerCpuHashMap<MapData, CountKey, Counts>,
    diff: Diff,
    /// `seq_read` hands its work to `seq_read_iter`, which reports the same
    /// show callback: the inner call alone times the callback.
    inner_seq_read: bool,
}

impl KernelCounts {
    /// A reader of `map`; `probed` are the functions attached.
    pub fn new(map: PerCpuHashMap<MapData, CountKey, Counts>, probed: &[ProbeId]) -> KernelCounts {
        KernelCounts {
            map,
            diff: Diff::default(),
            inner_seq_read: probed.contains(&ProbeId::SeqReadIter),
        }
    }

    /// What changed since the previous call; rows of processes that are
    /// gone are removed once read, so the map keeps room for live ones.
    pub fn read(&mut self, kallsyms: &Kallsyms) -> anyhow::Result<CountsTick> {
        let mut now = HashMap::new();
        let mut comms = HashMap::new();
        for key in self.map.keys() {
            let key = key?;
            // A row dropped between listing and reading is simply not read.
            let Ok(values) = self.map.get(&key, 0) else {
                continue;
            };
            let mut t = Totals::default();
            for v in values.iter() {
                t.add(v);
                if key.probe == PROCESS && v.comm[0] != 0 {
                    comms.insert(key.tgid, v.comm);
                }
            }
            now.insert(key, t);
        }
        let changed = self.diff.update(now);
        let mut alive_now = HashMap::new();
        let keys: Vec<CountKey> = self.diff.keys().copied().collect();
        for key in keys {
            if !*alive_now.entry(key.tgid).or_insert_with(|| alive(key.tgid)) {
                // Read in full above, and nothing can add to it any more.
                let _ = self.map.remove(&key);
                self.diff.forget(&key);
            }
        }
        let rows = changed
            .into_iter()
            .filter_map(|(key, new)| {
                let row = match key.probe {
                    PROCESS => Row::Process {
                        comm: comms.get(&key.tgid).map(comm).unwrap_or_default(),
                    },
                    raw => {
                        let probe = ProbeId::from_raw(raw)?;
                        let show = (key.show != 0
                            && !(self.inner_seq_read && probe == ProbeId::SeqRead))
                            .then(|| kallsyms.resolve(key.show))
                            .flatten()
                            .map(|s| s.name.to_owned());
                        Row::Calls { probe, show }
                    }
                };
                Some(Counted {
                    tgid: key.tgid,
                    row,
                    new,
                })
            })
            .collect();
        Ok(CountsTick {
            rows,
            dropped: self.diff.dropped(),
        })
    }
}

/// Whether process `tgid` still exists (a zombie does, until reaped).
fn alive(tgid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(tgid as i32, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

fn comm(raw: &[u8; COMM_LEN]) -> String {
    let len = raw.iter().position(|b| *b == 0).unwrap_or(COMM_LEN);
    String::from_utf8_lossy(&raw[..len]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(tgid: u32, probe: u16) -> CountKey {
        CountKey {
            tgid,
            probe,
            reserved: 0,
            show: 0,
        }
    }

    fn totals(calls: u64, total_ns: u64) -> Totals {
        let mut latency = [0; LATENCY_SLOTS];
        latency[3] = calls;
        Totals {
            calls,
            total_ns,
            bytes: 0,
            latency,
        }
    }

    #[test]
    fn ticks_report_only_what_changed() {
        let mut d = Diff::default();
        let first = d.update(HashMap::from([(key(1, 0), totals(5, 50))]));
        assert_eq!(first, vec![(key(1, 0), totals(5, 50))]);
        let second = d.update(HashMap::from([
            (key(1, 0), totals(7, 80)),
            (key(2, 0), totals(1, 9)),
        ]));
        let mut second = second;
        second.sort_by_key(|(k, _)| k.tgid);
        assert_eq!(
            second,
            vec![(key(1, 0), totals(2, 30)), (key(2, 0), totals(1, 9))]
        );
        // Nothing new: nothing reported.
        assert!(d
            .update(HashMap::from([
                (key(1, 0), totals(7, 80)),
                (key(2, 0), totals(1, 9)),
            ]))
            .is_empty());
        assert_eq!(d.dropped(), 0);
    }

    #[test]
    fn a_row_the_kernel_dropped_is_counted_and_its_return_starts_afresh() {
        let mut d = Diff::default();
        d.update(HashMap::from([
            (key(1, 0), totals(5, 50)),
            (key(2, 0), totals(4, 40)),
        ]));
        // Row 1 was dropped, then made again with fewer calls than before.
        let changed = d.update(HashMap::from([
            (key(1, 0), totals(2, 20)),
            (key(2, 0), totals(4, 40)),
        ]));
        assert_eq!(changed, vec![(key(1, 0), totals(2, 20))]);
        assert_eq!(d.dropped(), 0, "a row made again is not seen as gone");
        d.update(HashMap::from([(key(1, 0), totals(2, 20))]));
        assert_eq!(d.dropped(), 1);
        // A row the agent removed itself is not a drop.
        d.forget(&key(1, 0));
        d.update(HashMap::new());
        assert_eq!(d.dropped(), 1);
    }
}
