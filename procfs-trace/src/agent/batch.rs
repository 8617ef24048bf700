//! Records copied out of the ring buffer, waiting for the sink, decoded by
//! the thread that copied them. Each is kept without the unwritten tail of
//! its name or path buffer, which is most of a record, and given back
//! zero-padded to the size the kernel wrote.

use crate::events::decode::{decode, significant_len, CallHit, DecodeError, Event, SyscallHit};

/// The largest record given back padded (a syscall event is 200 bytes); a
/// longer one, which no kind is, is kept whole.
const PADDED_MAX: usize = 256;

/// Bytes before each record: its size, then the bytes kept of it.
const FRAME: usize = 8;

/// Memory a decoded entry or exit holds besides itself: its task name and
/// its dentry name or path, in small allocations.
const EVENT_HEAP: usize = 64;

/// Memory a decoded record holds besides itself: a paired one boxes both
/// halves, each with its strings.
fn heap(decoded: &Result<Event, DecodeError>) -> usize {
    match decoded {
        Ok(Event::Call(_)) => std::mem::size_of::<CallHit>() + 2 * EVENT_HEAP,
        Ok(Event::SyscallCall(_)) => std::mem::size_of::<[SyscallHit; 2]>() + 2 * EVENT_HEAP,
        Ok(_) => EVENT_HEAP,
        Err(_) => 0,
    }
}

/// Records in ring order, with their decoding.
#[derive(Debug, Default)]
pub struct Batch {
    bytes: Vec<u8>,
    decoded: Vec<Result<Event, DecodeError>>,
    /// What the decodings hold besides themselves.
    heap: usize,
}

impl Batch {
    /// Appends one record as the kernel wrote it, and its decoding.
    pub fn push(&mut self, raw: &[u8]) {
        let kept = if raw.len() <= PADDED_MAX {
            significant_len(raw)
        } else {
            raw.len()
        };
        self.bytes
            .extend_from_slice(&(raw.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(&(kept as u32).to_le_bytes());
        self.bytes.extend_from_slice(&raw[..kept]);
        let decoded = decode(raw);
        self.heap += heap(&decoded);
        self.decoded.push(decoded);
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.decoded.len()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.decoded.is_empty()
    }

    /// About the memory it takes.
    pub fn bytes(&self) -> usize {
        self.bytes.capacity()
            + self.decoded.capacity() * std::mem::size_of::<Result<Event, DecodeError>>()
            + self.heap
    }

    /// Gives each record in order, at its full size with the bytes not kept
    /// as zeros, and its decoding to `f`; stops at the first error.
    pub fn try_for_each<E>(
        self,
        mut f: impl FnMut(&[u8], Result<Event, DecodeError>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut padded = [0u8; PADDED_MAX];
        let mut rest = &self.bytes[..];
        for decoded in self.decoded {
            let word = |at: usize| {
                u32::from_le_bytes(rest[at..at + 4].try_into().expect("four bytes")) as usize
            };
            let (size, kept) = (word(0), word(4));
            let record = &rest[FRAME..FRAME + kept];
            if kept == size {
                f(record, decoded)?;
            } else {
                padded[..kept].copy_from_slice(record);
                padded[kept..size].fill(0);
                f(&padded[..size], decoded)?;
            }
            rest = &rest[FRAME + kept..];
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use procfs_trace_common::{kind, phase, ProbeId};

    use super::*;
    use crate::events::decode::{
        decode,
        tests::{kernel_bytes, raw, syscall_event},
    };

    /// The records given back, each checked against its decoding.
    fn records(batch: Batch) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        batch
            .try_for_each(|r, d| {
                assert_eq!(decode(r), d);
                out.push(r.to_vec());
                Ok::<_, ()>(())
            })
            .unwrap();
        out
    }

    #[test]
    fn a_record_comes_back_at_its_size_with_only_its_name_kept() {
        let mut ev = raw(ProbeId::ProcRootLookup, phase::ENTRY);
        ev.name = [0x55; procfs_trace_common::NAME_LEN];
        ev.name[..4].copy_from_slice(b"self");
        ev.name_len = 4;
        let bytes = kernel_bytes(&ev);
        let mut batch = Batch::default();
        batch.push(&bytes);
        batch.push(b"short");
        assert_eq!(batch.len(), 2);
        // The frame and the record up to its name's end: far less than its 136 bytes.
        assert_eq!(batch.bytes.len(), 2 * FRAME + 72 + 4 + 5);
        let back = records(batch);
        assert_eq!(back[0].len(), bytes.len());
        assert_eq!(&back[0][..76], &bytes[..76]);
        assert!(back[0][76..].iter().all(|&b| b == 0));
        assert_eq!(decode(&back[0]), decode(&bytes));
        // What the layout does not describe is kept as it came, for decoding to refuse.
        assert_eq!(back[1], b"short");
    }

    #[test]
    fn a_syscall_record_keeps_its_path() {
        let bytes = kernel_bytes(&syscall_event(257, phase::ENTRY, "/proc/self/stat"));
        let mut batch = Batch::default();
        batch.push(&bytes);
        assert_eq!(batch.bytes.len(), FRAME + 72 + "/proc/self/stat".len());
        let back = records(batch);
        assert_eq!(back[0].len(), 200);
        assert_eq!(decode(&back[0]), decode(&bytes));
    }

    #[test]
    fn a_paired_record_counts_both_halves() {
        use crate::events::decode::tests::call_event;
        let ev = call_event(ProbeId::ProcPidLookup, (1, 2), 10, (20, 30), "1");
        let (mut one, mut paired) = (Batch::default(), Batch::default());
        one.push(&kernel_bytes(&raw(ProbeId::ProcPidLookup, phase::ENTRY)));
        paired.push(&kernel_bytes(&ev));
        assert!(paired.heap >= 2 * one.heap + 2 * std::mem::size_of::<Event>());
        assert_eq!(records(paired).len(), 1);
    }

    #[test]
    fn a_length_out_of_range_keeps_the_whole_record() {
        let mut ev = raw(ProbeId::ProcRootLookup, phase::ENTRY);
        ev.name_len = 500;
        let bytes = kernel_bytes(&ev);
        let mut batch = Batch::default();
        batch.push(&bytes);
        assert_eq!(records(batch), vec![bytes.clone()]);
        let mut unknown = bytes;
        let at = core::mem::offset_of!(procfs_trace_common::EventHeader, kind);
        unknown[at] = 9;
        assert_ne!(
            u16::from_le_bytes([unknown[at], unknown[at + 1]]),
            kind::PROBE
        );
        let mut batch = Batch::default();
        batch.push(&unknown);
        assert_eq!(records(batch), vec![unknown]);
    }

    #[test]
    fn an_error_stops_the_walk() {
        let mut batch = Batch::default();
        for r in [b"a", b"b", b"c"] {
            batch.push(r);
        }
        let mut seen = 0;
        let r = batch.try_for_each(|rec, _| {
            seen += 1;
            if rec == b"b" {
                Err("stop")
            } else {
                Ok(())
            }
        });
        assert_eq!((r, seen), (Err("stop"), 2));
    }
}
