//! A chunk's records as columns, the form compressed from version 9 on.
//!
//! Consecutive events of one kind differ in few bytes: the same thread,
//! command, probe and flags, and times microseconds apart. Row by row,
//! those differences sit between long repeats that zstd must reference one
//! record at a time. So each known kind's fixed part is cut into 64-bit
//! words, each word replaced by its difference from the same word of the
//! kind's previous event, and the differences stored byte plane by byte
//! plane (byte `b` of word `w` of every event of the kind, together).
//! Unchanged fields become runs of zeros, and times a plane or two of
//! noise. A record's times other than its own are first taken relative to
//! it, so they difference as durations. Names and paths, of every kind, go
//! to one stream of their own, where repeats are close together.
//!
//! The transform is lossless for any sequence of records whose types are
//! below 0x80 (this format's are 1 to 3): an event too short for its kind,
//! or of a kind this build does not cut, is kept whole in the byte stream,
//! as are symbols and loss windows.
//!
//! Layout: a varint record count; a [`Tag`] byte per record; a varint per
//! record, the length of what it has in the byte stream; each layout's
//! planes in [`LAYOUTS`] order; the byte stream.

use core::mem::{offset_of, size_of};

use bytes::Buf;
use procfs_trace_common::{
    kind, CallEvent, EventHeader, ProbeEvent, SyscallCallEvent, SyscallEvent,
};
use prost::encoding::{decode_varint, encode_varint};

use super::format::{record, MAX_CHUNK};

/// How one event kind is cut into words.
struct Layout {
    /// Its `kind` field.
    kind: u16,
    /// Bytes before its name or path.
    fixed: usize,
    /// Words holding a time other than the record's `ts_ns`.
    times: &'static [usize],
}

const WORD: usize = 8;
/// The word of `ts_ns`.
const TS_WORD: usize = offset_of!(EventHeader, ts_ns) / WORD;
/// Where every event keeps its kind.
const KIND_AT: usize = offset_of!(EventHeader, kind);
/// The most words a layout has.
const MAX_WORDS: usize = offset_of!(CallEvent, name) / WORD;

/// The kinds cut into columns; a record's tag is its index here.
const LAYOUTS: [Layout; 4] = [
    Layout {
        kind: kind::PROBE,
        fixed: offset_of!(ProbeEvent, name),
        times: &[],
    },
    Layout {
        kind: kind::SYSCALL,
        fixed: offset_of!(SyscallEvent, path),
        times: &[],
    },
    Layout {
        kind: kind::CALL,
        fixed: offset_of!(CallEvent, name),
        times: &[
            offset_of!(CallEvent, frame_ns) / WORD,
            offset_of!(CallEvent, entry_ns) / WORD,
        ],
    },
    Layout {
        kind: kind::SYSCALL_CALL,
        fixed: offset_of!(SyscallCallEvent, path),
        times: &[offset_of!(SyscallCallEvent, exit_ns) / WORD],
    },
];

const _: () = {
    let mut i = 0;
    while i < LAYOUTS.len() {
        let l = &LAYOUTS[i];
        assert!(l.fixed.is_multiple_of(WORD) && l.fixed >= size_of::<EventHeader>());
        assert!(l.fixed <= MAX_WORDS * WORD);
        i += 1;
    }
};

/// What a record is in the columns: its tag byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    /// An event cut by `LAYOUTS[i]`: tag `i`.
    Cut(usize),
    /// An event kept whole in the byte stream: tag 0x40.
    Whole,
    /// Another record, kept whole: tag 0x80 | its type (below 0x80).
    Other(u8),
}

const TAG_WHOLE: u8 = 0x40;
const TAG_OTHER: u8 = 0x80;

impl Tag {
    fn byte(self) -> u8 {
        match self {
            Tag::Cut(i) => i as u8,
            Tag::Whole => TAG_WHOLE,
            Tag::Other(rtype) => TAG_OTHER | rtype,
        }
    }

    fn of(b: u8) -> Result<Tag, ColumnDamage> {
        match b {
            _ if usize::from(b) < LAYOUTS.len() => Ok(Tag::Cut(usize::from(b))),
            TAG_WHOLE => Ok(Tag::Whole),
            _ if b & TAG_OTHER != 0 => Ok(Tag::Other(b & !TAG_OTHER)),
            _ => Err(ColumnDamage::Tag(b)),
        }
    }
}

/// Why columns do not rebuild into records.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ColumnDamage {
    /// A column ends before its counts say.
    #[error("its columns end early")]
    Short,
    /// Bytes follow the last column.
    #[error("{0} bytes follow its last column")]
    Trailing(usize),
    /// A tag no writer uses.
    #[error("an unknown column tag {0:#x}")]
    Tag(u8),
    /// The records would exceed what a reader holds.
    #[error("records longer than the {MAX_CHUNK} bytes a reader holds")]
    TooLong,
}

/// The records of a row-form payload: type and body. A writer's own
/// payload, so its framing holds; a cut record ends it.
fn rows(mut raw: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let (&rtype, rest) = raw.split_first()?;
        let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let body = rest.get(4..4usize.checked_add(len)?)?;
        raw = &rest[4 + len..];
        Some((rtype, body))
    })
}

/// The layout an event is cut by.
fn layout_of(body: &[u8]) -> Option<usize> {
    let k = u16::from_le_bytes(body.get(KIND_AT..KIND_AT + 2)?.try_into().ok()?);
    LAYOUTS
        .iter()
        .position(|l| l.kind == k && body.len() >= l.fixed)
}

fn zigzag(v: u64) -> u64 {
    (v << 1) ^ ((v as i64 >> 63) as u64)
}

fn unzigzag(v: u64) -> u64 {
    (v >> 1) ^ (v & 1).wrapping_neg()
}

/// An event's words as they are differenced: its other times relative to its own.
fn words(l: &Layout, fixed: &[u8]) -> [u64; MAX_WORDS] {
    let mut w = [0u64; MAX_WORDS];
    for (v, b) in w.iter_mut().zip(fixed.chunks_exact(WORD)) {
        *v = u64::from_le_bytes(b.try_into().unwrap_or_default());
    }
    for &t in l.times {
        w[t] = w[TS_WORD].wrapping_sub(w[t]);
    }
    w
}

/// Row-form records (type, u32 length, body) as columns.
pub fn encode(raw: &[u8]) -> Vec<u8> {
    let mut tags = Vec::new();
    let mut lens = Vec::new();
    let mut stream = Vec::new();
    // Each layout's differences, row by row, transposed at the end.
    let mut diffs: [Vec<u8>; LAYOUTS.len()] = Default::default();
    let mut prev = [[0u64; MAX_WORDS]; LAYOUTS.len()];
    for (rtype, body) in rows(raw) {
        let (tag, rest) = match (rtype, layout_of(body)) {
            (record::EVENT, Some(t)) => {
                let l = &LAYOUTS[t];
                let w = words(l, &body[..l.fixed]);
                for i in 0..l.fixed / WORD {
                    let d = zigzag(w[i].wrapping_sub(prev[t][i]));
                    diffs[t].extend_from_slice(&d.to_le_bytes());
                }
                prev[t] = w;
                (Tag::Cut(t), &body[l.fixed..])
            }
            (record::EVENT, None) => (Tag::Whole, body),
            (other, _) => {
                debug_assert!(other < TAG_OTHER, "record type {other} has no tag");
                (Tag::Other(other), body)
            }
        };
        tags.push(tag.byte());
        encode_varint(rest.len() as u64, &mut lens);
        stream.extend_from_slice(rest);
    }
    let mut out = Vec::with_capacity(raw.len() / 2);
    encode_varint(tags.len() as u64, &mut out);
    out.extend_from_slice(&tags);
    out.extend_from_slice(&lens);
    for (l, d) in LAYOUTS.iter().zip(&diffs) {
        let (base, count) = (out.len(), d.len() / l.fixed);
        out.resize(base + d.len(), 0);
        // A block of events at a time, as `Events` reads them back.
        for (k, rows) in d.chunks(BLOCK * l.fixed).enumerate() {
            for (j, row) in rows.chunks_exact(l.fixed).enumerate() {
                for (plane, &byte) in row.iter().enumerate() {
                    out[base + plane * count + k * BLOCK + j] = byte;
                }
            }
        }
    }
    out.extend_from_slice(&stream);
    out
}

/// Columns back into row-form records; anything that does not account for
/// every byte is damage. Holds only the records it returns, whose size it
/// knows before allocating them, and a block of events per kind.
pub fn decode(mut cols: &[u8]) -> Result<Vec<u8>, ColumnDamage> {
    let n = decode_varint(&mut cols).map_err(|_| ColumnDamage::Short)?;
    let n = usize::try_from(n)
        .ok()
        .filter(|&n| n <= cols.len())
        .ok_or(ColumnDamage::Short)?;
    let (tags, mut rest) = cols.split_at(n);
    let lens = rest;
    let mut counts = [0usize; LAYOUTS.len()];
    let mut total = 0usize;
    for &b in tags {
        let len = length(&mut rest)?;
        let fixed = match Tag::of(b)? {
            Tag::Cut(t) => {
                counts[t] += 1;
                LAYOUTS[t].fixed
            }
            Tag::Whole | Tag::Other(_) => 0,
        };
        total = total.saturating_add(5 + fixed).saturating_add(len);
        if total > MAX_CHUNK as usize {
            return Err(ColumnDamage::TooLong);
        }
    }
    let mut planes: [&[u8]; LAYOUTS.len()] = [&[]; LAYOUTS.len()];
    for ((p, l), count) in planes.iter_mut().zip(&LAYOUTS).zip(counts) {
        *p = rest.get(..count * l.fixed).ok_or(ColumnDamage::Short)?;
        rest.advance(count * l.fixed);
    }
    let (mut lens, mut stream) = (lens, rest);
    let mut events: Vec<Events> = LAYOUTS
        .iter()
        .zip(planes)
        .zip(counts)
        .map(|((l, planes), count)| Events::new(l, planes, count))
        .collect();
    let mut raw = Vec::with_capacity(total);
    for &b in tags {
        let len = length(&mut lens)?;
        let tail = stream.get(..len).ok_or(ColumnDamage::Short)?;
        let tag = Tag::of(b)?;
        let (rtype, fixed) = match tag {
            Tag::Cut(t) => (record::EVENT, LAYOUTS[t].fixed),
            Tag::Whole => (record::EVENT, 0),
            Tag::Other(rtype) => (rtype, 0),
        };
        raw.push(rtype);
        raw.extend_from_slice(&((fixed + len) as u32).to_le_bytes());
        if let Tag::Cut(t) = tag {
            for w in &events[t].next()[..fixed / WORD] {
                raw.extend_from_slice(&w.to_le_bytes());
            }
        }
        raw.extend_from_slice(tail);
        stream.advance(len);
    }
    match stream.len() {
        0 => Ok(raw),
        trailing => Err(ColumnDamage::Trailing(trailing)),
    }
}

/// A record's length in the byte stream.
fn length(lens: &mut &[u8]) -> Result<usize, ColumnDamage> {
    let len = decode_varint(lens).map_err(|_| ColumnDamage::Short)?;
    usize::try_from(len).map_err(|_| ColumnDamage::TooLong)
}

/// Events rebuilt at a time, so each plane is read in runs: reading each
/// event's bytes from its planes one by one made a decode-only replay half
/// again slower (225 ms against 145 ms for 260,000 records).
const BLOCK: usize = 64;

/// One layout's events, rebuilt from its planes a block at a time.
struct Events<'a> {
    layout: &'static Layout,
    planes: &'a [u8],
    count: usize,
    /// The next event's index.
    next: usize,
    /// Events `start..start + filled`, rebuilt.
    block: Box<[[u64; MAX_WORDS]; BLOCK]>,
    /// Their differences, as bytes out of the planes.
    diffs: Box<[[u8; MAX_WORDS * WORD]; BLOCK]>,
    start: usize,
    filled: usize,
    /// The words of the last event rebuilt, differences undone.
    prev: [u64; MAX_WORDS],
}

impl<'a> Events<'a> {
    fn new(layout: &'static Layout, planes: &'a [u8], count: usize) -> Self {
        Events {
            layout,
            planes,
            count,
            next: 0,
            block: Box::new([[0; MAX_WORDS]; BLOCK]),
            diffs: Box::new([[0; MAX_WORDS * WORD]; BLOCK]),
            start: 0,
            filled: 0,
            prev: [0; MAX_WORDS],
        }
    }

    /// The words of the next event; called at most `count` times.
    fn next(&mut self) -> [u64; MAX_WORDS] {
        if self.next == self.start + self.filled {
            self.refill();
        }
        let w = self.block[self.next - self.start];
        self.next += 1;
        w
    }

    fn refill(&mut self) {
        let (start, words) = (self.next, self.layout.fixed / WORD);
        let n = BLOCK.min(self.count - start);
        for plane in 0..self.layout.fixed {
            let bytes = &self.planes[plane * self.count + start..][..n];
            for (row, &byte) in self.diffs.iter_mut().zip(bytes) {
                row[plane] = byte;
            }
        }
        for (row, diffs) in self.block.iter_mut().zip(self.diffs.iter()).take(n) {
            for (p, d) in self
                .prev
                .iter_mut()
                .zip(diffs.chunks_exact(WORD))
                .take(words)
            {
                let d = u64::from_le_bytes(d.try_into().unwrap_or_default());
                *p = p.wrapping_add(unzigzag(d));
            }
            *row = self.prev;
            for &t in self.layout.times {
                row[t] = row[TS_WORD].wrapping_sub(row[t]);
            }
        }
        (self.start, self.filled) = (start, n);
    }
}

#[cfg(test)]
mod tests {
    use procfs_trace_common::ProbeId;

    use super::*;
    use crate::events::decode::{
        significant_len,
        tests::{call_event, kernel_bytes, raw as probe_event, syscall_call_event, with_name},
    };

    fn push(out: &mut Vec<u8>, rtype: u8, body: &[u8]) {
        out.push(rtype);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(body);
    }

    /// An event as the tracer keeps it: cut after its name or path.
    fn event(out: &mut Vec<u8>, bytes: Vec<u8>) {
        push(out, record::EVENT, &bytes[..significant_len(&bytes)]);
    }

    /// Two threads' syscalls of a few calls each, as a chunk holds them,
    /// with a symbol, a loss window and records no layout cuts.
    fn chunk(syscalls: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for s in 0..syscalls {
            let start = 1_000_000 + s * 47_311;
            let mut c = call_event(
                ProbeId::ProcPidLookup,
                (1, 2),
                start,
                (start + 900, start + 4_000 + s % 7),
                &format!("{}", 100 + s % 3),
            );
            c.header.tid += (s % 2) as u32;
            c.ret = -2 * (s % 2) as i64;
            event(&mut out, kernel_bytes(&c));
            c.probe = ProbeId::ProcRootLookup as u16;
            c.entry_ns -= 300;
            c.header.ts_ns += 700;
            event(&mut out, kernel_bytes(&c));
            let sys = syscall_call_event(257, "/proc/self/stat", (start, start + 6_000), 3);
            event(&mut out, kernel_bytes(&sys));
            if s == 3 {
                push(
                    &mut out,
                    record::SYMBOL,
                    b"\x10\0\0\0\0\x80\xff\xffproc_pid_limits",
                );
                let p = with_name(probe_event(ProbeId::ProcRootReaddir, 0), "");
                event(&mut out, kernel_bytes(&p));
                // Too short for its kind, and of no kind: both kept whole.
                push(&mut out, record::EVENT, &kernel_bytes(&p)[..50]);
                push(&mut out, record::EVENT, &[9u8; 64]);
                push(&mut out, record::EVENT, &[]);
            }
        }
        push(&mut out, record::WINDOW, &7u64.to_le_bytes());
        out
    }

    #[test]
    fn every_record_comes_back_byte_for_byte_in_its_place() {
        for n in [0, 1, 4, 200] {
            let raw = chunk(n);
            assert_eq!(decode(&encode(&raw)), Ok(raw), "{n} syscalls");
        }
    }

    /// A seeded xorshift, so a failure repeats.
    fn generator() -> impl FnMut() -> u64 {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    /// Random records of random kinds and lengths.
    #[test]
    fn arbitrary_records_round_trip() {
        let mut next = generator();
        for _ in 0..300 {
            let mut raw = Vec::new();
            for _ in 0..next() % 40 {
                let len = (next() % 260) as usize;
                let mut body: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                if let Some(k) = body.get_mut(KIND_AT) {
                    *k = (next() % 6) as u8;
                }
                if let Some(k) = body.get_mut(KIND_AT + 1) {
                    *k = 0;
                }
                push(
                    &mut raw,
                    [record::EVENT, record::SYMBOL, 0x33][next() as usize % 3],
                    &body,
                );
            }
            assert_eq!(decode(&encode(&raw)), Ok(raw));
        }
    }

    #[test]
    fn damaged_columns_are_refused_never_misread() {
        let cols = encode(&chunk(20));
        for cut in 0..cols.len() {
            assert!(decode(&cols[..cut]).is_err(), "cut at {cut} went unnoticed");
        }
        let mut longer = cols.clone();
        longer.push(0);
        assert_eq!(decode(&longer), Err(ColumnDamage::Trailing(1)));
        let mut tagged = cols.clone();
        tagged[1] = 0x3f;
        assert_eq!(decode(&tagged), Err(ColumnDamage::Tag(0x3f)));
        // A count no payload holds, and a length past what a reader holds.
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0x7f]), Err(ColumnDamage::Short));
        let mut huge = vec![1, TAG_WHOLE];
        encode_varint(u64::from(MAX_CHUNK), &mut huge);
        assert_eq!(decode(&huge), Err(ColumnDamage::TooLong));
    }

    /// Columns with bytes flipped, as a crafted file may hold under a good
    /// checksum: rebuilt or refused, never a panic.
    #[test]
    fn mutated_columns_never_panic() {
        let mut next = generator();
        let cols = encode(&chunk(30));
        for _ in 0..3000 {
            let mut m = cols.clone();
            for _ in 0..1 + next() % 4 {
                let at = next() as usize % m.len();
                m[at] = next() as u8;
            }
            if let Ok(raw) = decode(&m) {
                assert!(raw.len() <= MAX_CHUNK as usize);
            }
        }
    }

    /// The point of the columns: the same records compress smaller.
    #[test]
    fn columns_compress_better_than_rows() {
        let raw = chunk(2000);
        let rows = zstd::bulk::compress(&raw, 3).unwrap().len();
        let cols = zstd::bulk::compress(&encode(&raw), 3).unwrap().len();
        assert!(cols * 2 < rows, "columns {cols} bytes, rows {rows}");
    }
}
