//! Puts the records the kernel pairs back into the order things happened.
//!
//! Inside a followed syscall the kernel writes each probed call once, when
//! it returns (innermost first), and the syscall itself last. Every record
//! carries its halves' places in the syscall's sequence of entries and
//! exits, so once the syscall's record arrives its thread's calls are
//! unfolded into entries and exits in that order, framed by the syscall's
//! entry and exit: the stream an entry and an exit event per call would
//! have made. Everything else passes through as it comes.
//!
//! A syscall whose record was lost leaves its calls without a frame: they
//! come out, in order, as unframed work as soon as the thread is seen doing
//! something else, or at the end.

use std::collections::HashMap;

use super::decode::{CallHit, Event, ProbeHit};

/// A thread's calls waiting for their syscall's record.
#[derive(Default)]
struct Frame {
    /// Entry time of the syscall they are in.
    frame_ns: u64,
    /// Entries and exits, as they came.
    halves: Vec<Option<ProbeHit>>,
    /// Each half's unwrapped place in the sequence, and its index in
    /// `halves` (sorted, rather than the halves, which are large).
    order: Vec<(u64, usize)>,
    /// The unwrapped place of the latest exit.
    last_exit: u64,
}

impl Frame {
    fn add(&mut self, c: CallHit) {
        // Places are 16 bits in the kernel; exits arrive in their order, so
        // each unwraps against the one before, and an entry against its exit.
        // The first starts high enough for the entries before it.
        let exit = match self.halves.is_empty() {
            true => (1 << 32) + u64::from(c.exit_seq),
            false => self.last_exit + u64::from(c.exit_seq.wrapping_sub(self.last_exit as u16)),
        };
        self.last_exit = exit;
        if let Some(entry) = c.entry {
            let back = u64::from(c.exit_seq.wrapping_sub(c.entry_seq));
            self.order.push((exit - back, self.halves.len()));
            self.halves.push(Some(entry));
        }
        self.order.push((exit, self.halves.len()));
        self.halves.push(Some(c.exit));
    }

    fn drain(&mut self, out: &mut Vec<Event>) {
        self.order.sort_unstable();
        for (_, i) in self.order.drain(..) {
            out.extend(self.halves[i].take().map(Event::Probe));
        }
        self.halves.clear();
    }
}

/// Unfolds paired records, per thread.
#[derive(Default)]
pub struct Unpairer {
    frames: HashMap<u32, Frame, foldhash::fast::RandomState>,
    /// Emptied frames, kept for their room: growing each syscall's from
    /// nothing showed in profiles of the replay benchmark.
    spare: Vec<Frame>,
}

/// Emptied frames kept for reuse at most.
const MAX_SPARE: usize = 64;

impl Unpairer {
    /// An unpairer with nothing waiting.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one record; appends to `out` the events it completes, in order.
    pub fn push(&mut self, ev: Event, out: &mut Vec<Event>) {
        match ev {
            Event::Call(c) => {
                let spare = &mut self.spare;
                let frame = self
                    .frames
                    .entry(c.exit.origin.tid)
                    .or_insert_with(|| spare.pop().unwrap_or_default());
                if frame.frame_ns != c.frame_ns {
                    // The previous syscall's record was lost.
                    frame.drain(out);
                    frame.frame_ns = c.frame_ns;
                }
                frame.add(*c);
            }
            Event::SyscallCall(s) => {
                let [entry, exit] = *s;
                let mut frame = self.frames.remove(&entry.origin.tid);
                if let Some(f) = frame.as_mut().filter(|f| f.frame_ns != entry.origin.ts_ns) {
                    // An earlier syscall's, whose record was lost.
                    f.drain(out);
                }
                out.push(Event::Syscall(entry));
                if let Some(mut f) = frame {
                    f.drain(out);
                    self.keep(f);
                }
                out.push(Event::Syscall(exit));
            }
            other => {
                if !self.frames.is_empty() {
                    if let Some(mut f) = self.frames.remove(&other.origin().tid) {
                        f.drain(out);
                        self.keep(f);
                    }
                }
                out.push(other);
            }
        }
    }

    fn keep(&mut self, f: Frame) {
        if self.spare.len() < MAX_SPARE {
            self.spare.push(f);
        }
    }

    /// Ends the stream: calls still waiting come out without their frame.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        let mut frames: Vec<Frame> = self.frames.drain().map(|(_, f)| f).collect();
        frames.sort_by_key(|f| f.frame_ns);
        for mut f in frames {
            f.drain(out);
        }
    }
}

/// What the kernel writes for an unpaired stream: inside each followed
/// syscall, a call record at each exit and the syscall's record at its own.
/// `None` when the kernel would not say all the stream does: a call
/// without its exit, or a syscall without its exit, inside a frame.
#[cfg(test)]
pub(crate) fn pair_like_the_kernel(events: &[Event]) -> Option<Vec<Event>> {
    use super::decode::SyscallHit;

    /// A thread's followed syscall: its entry, next place, open entries.
    struct InKernel {
        entry: SyscallHit,
        seq: u16,
        open: Vec<(u16, ProbeHit)>,
    }
    let mut frames: HashMap<u32, InKernel> = HashMap::new();
    let mut out = Vec::new();
    for ev in events {
        let tid = ev.origin().tid;
        let frame = frames.get_mut(&tid);
        match (ev, frame) {
            (Event::Syscall(s), f) if s.phase == super::decode::Phase::Entry => {
                if f.is_some() {
                    return None;
                }
                let entry = s.clone();
                frames.insert(
                    tid,
                    InKernel {
                        entry,
                        seq: 0,
                        open: Vec::new(),
                    },
                );
            }
            (Event::Syscall(s), Some(f)) => {
                if !f.open.is_empty() {
                    return None;
                }
                let f = frames.remove(&tid).expect("matched");
                let exit = SyscallHit {
                    fd: f.entry.fd,
                    ..s.clone()
                };
                out.push(Event::SyscallCall(Box::new([f.entry, exit])));
            }
            (Event::Probe(p), Some(f)) if p.phase == super::decode::Phase::Entry => {
                f.open.push((f.seq, p.clone()));
                f.seq += 1;
            }
            (Event::Probe(p), Some(f)) => {
                let at = f.open.iter().rposition(|(_, e)| e.probe == p.probe);
                let (entry_seq, entry) = match at {
                    Some(i) => {
                        let (s, e) = f.open.remove(i);
                        (s, Some(e))
                    }
                    None => (0, None),
                };
                out.push(Event::Call(Box::new(CallHit {
                    entry,
                    exit: p.clone(),
                    entry_seq,
                    exit_seq: f.seq,
                    frame_ns: f.entry.origin.ts_ns,
                })));
                f.seq += 1;
            }
            (other, _) => out.push(other.clone()),
        }
    }
    frames.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use procfs_trace_common::{ProbeId, Syscall};

    use super::*;
    use crate::{events::decode::Phase, flows::script::Script};

    /// What each event is, in order: `+probe`, `-probe`, `>syscall`, `<syscall`.
    fn shape(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                Event::Probe(p) => {
                    let sign = if p.phase == Phase::Entry { '+' } else { '-' };
                    format!("{sign}{}", p.probe.def().func)
                }
                Event::Syscall(s) => {
                    let sign = if s.phase == Phase::Entry { '>' } else { '<' };
                    format!("{sign}{}", s.syscall.name())
                }
                other => panic!("not unfolded: {other:?}"),
            })
            .collect()
    }

    fn unpair(records: Vec<Event>) -> Vec<Event> {
        let mut u = Unpairer::new();
        let mut out = Vec::new();
        for r in records {
            u.push(r, &mut out);
        }
        u.finish(&mut out);
        out
    }

    #[test]
    fn paired_records_unfold_into_the_order_things_happened() {
        let mut s = Script::new();
        s.sys(7, Syscall::Openat, Some("/proc/1/status"), -100)
            .pid_lookup(7, "1")
            .sys(8, Syscall::Read, None, 3)
            .entry_lookup(7, "status")
            .enter(8, ProbeId::SeqReadIter, None)
            .exit(8, ProbeId::SeqReadIter, 10)
            .sys_ret(7, Syscall::Openat, 3)
            .sys_ret(8, Syscall::Read, 10);
        let paired = pair_like_the_kernel(&s.events).unwrap();
        // The kernel's records: each call at its exit, innermost first.
        assert!(matches!(&paired[0], Event::Call(c) if c.exit.probe == ProbeId::ProcPidLookup));
        assert_eq!(paired.len(), 7);
        let out = unpair(paired);
        // The same events, each thread's in its order (threads interleave
        // by syscall: a syscall's events come when its record does).
        let of = |tid: u32, evs: &[Event]| -> Vec<Event> {
            evs.iter()
                .filter(|e| e.origin().tid == tid)
                .cloned()
                .collect()
        };
        for tid in [7, 8] {
            let want: Vec<Event> = of(tid, &s.events)
                .into_iter()
                .map(|e| match e {
                    // The exit's fd is the entry's: the kernel writes one.
                    Event::Syscall(mut x) if x.phase == Phase::Exit => {
                        x.fd = if tid == 7 { -100 } else { 3 };
                        Event::Syscall(x)
                    }
                    e => e,
                })
                .collect();
            assert_eq!(of(tid, &out), want, "thread {tid}");
        }
        assert_eq!(
            shape(&of(7, &out)),
            [
                ">openat",
                "+proc_root_lookup",
                "+proc_pid_lookup",
                "-proc_pid_lookup",
                "-proc_root_lookup",
                "+proc_tgid_base_lookup",
                "+proc_pident_lookup",
                "-proc_pident_lookup",
                "-proc_tgid_base_lookup",
                "<openat"
            ]
        );
    }

    #[test]
    fn calls_whose_syscall_record_was_lost_come_out_unframed() {
        let mut s = Script::new();
        s.sys(7, Syscall::Openat, Some("/proc/1/status"), -100)
            .pid_lookup(7, "1")
            .sys_ret(7, Syscall::Openat, 3)
            .sys(7, Syscall::Read, None, 3)
            .enter(7, ProbeId::SeqReadIter, None)
            .exit(7, ProbeId::SeqReadIter, 10)
            .sys_ret(7, Syscall::Read, 10);
        let mut paired = pair_like_the_kernel(&s.events).unwrap();
        // The openat's own record did not fit in the ring buffer.
        paired.remove(2);
        assert_eq!(
            shape(&unpair(paired.clone())),
            [
                "+proc_root_lookup",
                "+proc_pid_lookup",
                "-proc_pid_lookup",
                "-proc_root_lookup",
                ">read",
                "+seq_read_iter",
                "-seq_read_iter",
                "<read"
            ]
        );
        // The last syscall's: its calls come out at the end.
        paired.truncate(2);
        assert_eq!(shape(&unpair(paired)).len(), 4);
    }

    #[test]
    fn an_exit_without_its_entry_keeps_its_place() {
        let mut s = Script::new();
        s.sys(7, Syscall::Openat, Some("/proc/1/status"), -100)
            .pid_lookup(7, "1")
            .sys_ret(7, Syscall::Openat, 3);
        let mut paired = pair_like_the_kernel(&s.events).unwrap();
        let Event::Call(c) = &mut paired[1] else {
            panic!("the outer call's record")
        };
        c.entry = None;
        assert_eq!(
            shape(&unpair(paired)),
            [
                ">openat",
                "+proc_pid_lookup",
                "-proc_pid_lookup",
                "-proc_root_lookup",
                "<openat"
            ]
        );
    }

    #[test]
    fn places_unwrap_past_sixteen_bits() {
        let mut s = Script::new();
        s.sys(7, Syscall::Openat, Some("/proc/1/status"), -100)
            .enter(7, ProbeId::ProcRootLookup, Some("1"))
            .pid_lookup(7, "2")
            .pid_lookup(7, "3")
            .exit(7, ProbeId::ProcRootLookup, 0)
            .sys_ret(7, Syscall::Openat, 3);
        let mut paired = pair_like_the_kernel(&s.events).unwrap();
        // The syscall had made 65533 entries and exits before these.
        for r in &mut paired {
            if let Event::Call(c) = r {
                c.entry_seq = c.entry_seq.wrapping_add(65533);
                c.exit_seq = c.exit_seq.wrapping_add(65533);
            }
        }
        let out = unpair(paired);
        let names: Vec<Option<&str>> = out
            .iter()
            .filter_map(|e| match e {
                Event::Probe(p) if p.phase == Phase::Entry => Some(p.name.as_deref()),
                _ => None,
            })
            .collect();
        assert_eq!(
            names,
            [Some("1"), Some("2"), Some("2"), Some("3"), Some("3")]
        );
        assert_eq!(shape(&out).last().map(String::as_str), Some("<openat"));
        assert_eq!(shape(&out)[9], "-proc_root_lookup");
    }
}
