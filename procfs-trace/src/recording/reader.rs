//! Reads recordings without trusting any length: damage is reported with its
//! byte offset and everything before and after it that can be read is kept.

use std::{
    borrow::Cow,
    fs::File,
    io::{BufReader, Read},
    path::Path,
};

use procfs_trace_common::ProbeId;

use super::{
    columns::{self, ColumnDamage},
    format::{
        decodes_layout, record, ChunkHeader, FormatError, Header, CHUNK_HEADER_LEN, CHUNK_MAGIC,
        MAGIC, MAX_HEADER, OLDEST_READABLE, PREAMBLE_LEN, VERSION,
    },
};

/// A record of a chunk, borrowed from its decompressed payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record<'a> {
    /// Ring-buffer bytes, as the kernel wrote them.
    Event(&'a [u8]),
    /// A kernel symbol.
    Symbol(u64, Cow<'a, str>),
}

/// One readable chunk: its decompressed payload, checked record by record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Byte offset of its header.
    pub offset: u64,
    /// Events lost while it was collected.
    pub lost: u64,
    /// Of `lost`, those no event flags.
    pub unflagged: u64,
    /// When the counters behind `lost` were read; 0 when unknown.
    pub losses_read_ns: u64,
    /// Where the losses that reading counted may have begun, when the file
    /// says (from version 7).
    pub losses_from_ns: Option<u64>,
    /// First and last event time.
    pub first_ts: u64,
    /// See `first_ts`.
    pub last_ts: u64,
    raw: Vec<u8>,
}

impl Chunk {
    /// Its records, in order.
    pub fn records(&self) -> Records<'_> {
        Records { raw: &self.raw }
    }
}

/// The records of a chunk; the reader checked their framing already.
pub struct Records<'a> {
    raw: &'a [u8],
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        loop {
            let (kind, body, rest) = split_record(self.raw).ok()?;
            self.raw = rest;
            return Some(match kind {
                record::EVENT => Record::Event(body),
                record::SYMBOL => Record::Symbol(
                    u64::from_le_bytes(body[..8].try_into().unwrap_or([0; 8])),
                    String::from_utf8_lossy(&body[8..]),
                ),
                // The chunk's own (`Chunk::losses_from_ns`).
                _ => continue,
            });
        }
    }
}

/// Something unreadable in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Where it starts.
    pub offset: u64,
    /// Bytes passed over.
    pub skipped: u64,
    /// What is wrong, and what was lost.
    pub what: String,
}

/// What the reader found next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A chunk that reads whole.
    Chunk(Chunk),
    /// A region that does not.
    Damage(Damage),
}

/// Totals of what a reader has passed so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Readable chunks.
    pub chunks: u64,
    /// Event records in them.
    pub events: u64,
    /// Events lost in the kernel, from readable chunks.
    pub lost: u64,
    /// Damaged regions.
    pub damaged: u64,
    /// Earliest event time (0: none yet).
    pub first_ts: u64,
    /// Latest event time.
    pub last_ts: u64,
    /// Bytes read.
    pub bytes: u64,
}

/// A file's probe ids mapped to this build's probes, through the function
/// names of the writer's table.
#[derive(Debug, Clone, Default)]
pub struct ProbeTable(Vec<Option<ProbeId>>);

impl ProbeTable {
    /// This build's probe for the file's raw id, if it has one.
    pub fn get(&self, raw: u16) -> Option<ProbeId> {
        self.0.get(usize::from(raw)).copied().flatten()
    }
}

/// Bytes read from the source at a time while looking for the next chunk.
const SCAN_STEP: usize = 64 << 10;

/// Reads a recording one chunk at a time. It holds at most one chunk in each
/// form (compressed, decompressed and, from version 9, rebuilt from its
/// columns: each at most `MAX_CHUNK`), the header (at most `MAX_HEADER`) and
/// a scan window, whatever the file says.
pub struct Reader<R> {
    src: R,
    name: String,
    header: Header,
    probes: ProbeTable,
    /// Bytes read from `src` but not yet consumed, starting at file offset `pos`.
    ahead: Vec<u8>,
    pos: u64,
    eof: bool,
    totals: Totals,
    /// The file's format version.
    version: u16,
}

impl Reader<BufReader<File>> {
    /// Opens the file at `path` and reads its header.
    pub fn open(path: &Path) -> Result<Self, FormatError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| FormatError::Io {
            path: name.clone(),
            source,
        })?;
        Reader::new(BufReader::new(file), &name)
    }
}

impl<R: Read> Reader<R> {
    /// Reads the header from `src`; `name` is used in messages.
    pub fn new(src: R, name: &str) -> Result<Self, FormatError> {
        let mut r = Reader {
            src,
            name: name.to_owned(),
            header: Header::default(),
            probes: ProbeTable::default(),
            ahead: Vec::new(),
            pos: 0,
            eof: false,
            totals: Totals::default(),
            version: VERSION,
        };
        r.header = r.read_header()?;
        r.probes = ProbeTable(
            r.header
                .probe_table
                .iter()
                .map(|f| ProbeId::by_name(f))
                .collect(),
        );
        Ok(r)
    }

    /// The file's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The file's format version.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// The file's probe ids as this build's probes.
    pub fn probes(&self) -> &ProbeTable {
        &self.probes
    }

    /// The file's name, as messages give it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What has been read so far.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// The next chunk or damaged region; `None` at the end of the file.
    pub fn next_item(&mut self) -> Result<Option<Item>, FormatError> {
        self.fill(CHUNK_HEADER_LEN)?;
        if self.ahead.is_empty() {
            return Ok(None);
        }
        let start = self.pos;
        let Some(h) = ChunkHeader::decode(&self.ahead, self.version) else {
            let short = self.ahead.len() < CHUNK_HEADER_LEN;
            let skipped = self.skip_to_chunk()?;
            let what = if short && self.ahead.is_empty() {
                format!("the file ends inside a chunk header ({skipped} of {CHUNK_HEADER_LEN} bytes): the recorder stopped mid-write")
            } else {
                "a damaged chunk header; its chunk is lost".to_owned()
            };
            return Ok(Some(self.damage(start, skipped, what)));
        };
        if !h.within_limits() {
            return Err(FormatError::Oversized {
                path: self.name.clone(),
                offset: start,
                len: h.payload_len.max(h.raw_len),
            });
        }
        let len = CHUNK_HEADER_LEN + h.payload_len as usize;
        self.fill(len)?;
        if self.ahead.len() < len {
            let remain = self.ahead.len() - CHUNK_HEADER_LEN;
            let skipped = self.consume(self.ahead.len());
            let what = format!(
                "the file ends inside a chunk: its payload needs {} bytes, {remain} remain (the recorder stopped mid-write); its {} records are lost",
                h.payload_len, h.records
            );
            return Ok(Some(self.damage(start, skipped, what)));
        }
        let read = read_chunk(&h, &self.ahead[CHUNK_HEADER_LEN..len], self.version);
        self.consume(len);
        Ok(Some(match read {
            Ok(Payload {
                raw,
                events,
                losses_from_ns,
            }) => {
                let t = &mut self.totals;
                t.chunks += 1;
                t.events += events;
                t.lost += h.lost;
                if h.first_ts > 0 && (t.first_ts == 0 || h.first_ts < t.first_ts) {
                    t.first_ts = h.first_ts;
                }
                t.last_ts = t.last_ts.max(h.last_ts);
                Item::Chunk(Chunk {
                    offset: start,
                    lost: h.lost,
                    unflagged: u64::from(h.unflagged),
                    losses_read_ns: h.losses_read_ns,
                    losses_from_ns,
                    first_ts: h.first_ts,
                    last_ts: h.last_ts,
                    raw,
                })
            }
            Err(why) => {
                let what = format!("{why}; its {} records are lost", h.records);
                self.damage(start, len as u64, what)
            }
        }))
    }

    fn damage(&mut self, offset: u64, skipped: u64, what: String) -> Item {
        self.totals.damaged += 1;
        Item::Damage(Damage {
            offset,
            skipped,
            what,
        })
    }

    fn io(&self, source: std::io::Error) -> FormatError {
        FormatError::Io {
            path: self.name.clone(),
            source,
        }
    }

    /// Reads until `ahead` holds `n` bytes or the file ends.
    fn fill(&mut self, n: usize) -> Result<(), FormatError> {
        if self.ahead.len() >= n || self.eof {
            return Ok(());
        }
        let want = n - self.ahead.len();
        let got = (&mut self.src)
            .take(want as u64)
            .read_to_end(&mut self.ahead)
            .map_err(|e| self.io(e))?;
        self.totals.bytes += got as u64;
        if got < want {
            self.eof = true;
        }
        Ok(())
    }

    /// Drops `n` bytes from the front of `ahead`; returns `n`.
    fn consume(&mut self, n: usize) -> u64 {
        self.ahead.drain(..n);
        self.pos += n as u64;
        n as u64
    }

    /// Passes over bytes up to the next valid chunk header (or the end);
    /// returns how many. Candidates are searched in place, and bytes are
    /// dropped once per window, so a file full of false magics costs no
    /// quadratic copying.
    fn skip_to_chunk(&mut self) -> Result<u64, FormatError> {
        let mut skipped = 0;
        let mut from = 1.min(self.ahead.len());
        loop {
            match find(&self.ahead[from..], CHUNK_MAGIC) {
                Some(i) => {
                    let at = from + i;
                    self.fill(at + CHUNK_HEADER_LEN)?;
                    if self.ahead.len() < at + CHUNK_HEADER_LEN {
                        return Ok(skipped + self.consume(self.ahead.len()));
                    }
                    if ChunkHeader::decode(&self.ahead[at..], self.version).is_some() {
                        return Ok(skipped + self.consume(at));
                    }
                    from = at + 1;
                }
                None if self.eof => return Ok(skipped + self.consume(self.ahead.len())),
                None => {
                    // Keep a tail that may be the start of a magic.
                    let keep = (CHUNK_MAGIC.len() - 1).min(self.ahead.len() - from);
                    skipped += self.consume(self.ahead.len() - keep);
                    from = 0;
                    let n = self.ahead.len() + SCAN_STEP;
                    self.fill(n)?;
                }
            }
        }
    }

    fn read_header(&mut self) -> Result<Header, FormatError> {
        let name = self.name.clone();
        let bad = |why: String| FormatError::BadHeader {
            path: name.clone(),
            why,
        };
        self.fill(PREAMBLE_LEN)?;
        let b = &self.ahead;
        if b.len() < MAGIC.len() || &b[..MAGIC.len()] != MAGIC {
            return Err(FormatError::NotARecording {
                path: self.name.clone(),
            });
        }
        if b.len() < PREAMBLE_LEN {
            return Err(bad(format!("only {} bytes", b.len())));
        }
        let version = u16::from_le_bytes([b[8], b[9]]);
        self.version = version;
        if version > VERSION {
            return Err(FormatError::TooNew {
                path: self.name.clone(),
                found: version,
            });
        }
        let json_len = u32::from_le_bytes([b[12], b[13], b[14], b[15]]);
        if json_len > MAX_HEADER {
            return Err(bad(format!("a header length of {json_len} bytes")));
        }
        let json_end = PREAMBLE_LEN + json_len as usize;
        self.fill(json_end + 4)?;
        let b = &self.ahead;
        if b.len() < json_end + 4 {
            return Err(bad(format!(
                "the file ends inside the header ({} of {} bytes)",
                b.len(),
                json_end + 4
            )));
        }
        let crc = u32::from_le_bytes(b[json_end..json_end + 4].try_into().unwrap_or([0; 4]));
        if crc32fast::hash(&b[..json_end]) != crc {
            return Err(bad("checksum mismatch".to_owned()));
        }
        let json = match version {
            ..9 => Cow::Borrowed(&b[PREAMBLE_LEN..json_end]),
            _ => Cow::Owned(
                zstd::bulk::decompress(&b[PREAMBLE_LEN..json_end], MAX_HEADER as usize)
                    .map_err(|e| bad(format!("it does not decompress ({e})")))?,
            ),
        };
        let other = |why: &'static str| {
            let tool = serde_json::from_slice::<serde_json::Value>(&json)
                .ok()
                .and_then(|v| v.get("tool")?.as_str().map(str::to_owned))
                .unwrap_or_else(|| "an unknown writer".to_owned());
            FormatError::OtherLayout {
                path: self.name.clone(),
                tool,
                version,
                why,
            }
        };
        if version < OLDEST_READABLE {
            return Err(other(
                ", whose probe ids changed between builds without a version change, so its events cannot be decoded safely",
            ));
        }
        let header: Header =
            serde_json::from_slice(&json).map_err(|e| bad(format!("invalid JSON: {e}")))?;
        if !decodes_layout(version, &header.event_layout) {
            return Err(other(
                " with event layouts other than this build's, so its events cannot be decoded",
            ));
        }
        self.consume(json_end + 4);
        Ok(header)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What is wrong with a chunk whose header is sound.
#[derive(Debug, thiserror::Error)]
enum ChunkDamage {
    #[error("a chunk whose payload checksum does not match")]
    Checksum,
    #[error("a chunk that does not decompress ({0})")]
    Compression(std::io::Error),
    #[error("a chunk of {got} bytes where its header says {said}")]
    Length { got: usize, said: u32 },
    #[error("a chunk whose columns do not rebuild into records: {0}")]
    Columns(ColumnDamage),
    #[error("a record header cut short")]
    CutHeader,
    #[error("a record longer than the chunk")]
    LongRecord,
    #[error("an unknown record type {0}")]
    UnknownRecord(u8),
    #[error("{1} at byte {0} of its chunk")]
    At(usize, String),
    #[error("{got} records where its header says {said}")]
    Count { got: u64, said: u32 },
}

/// A record's type, body and what follows it, or where its framing breaks.
fn split_record(raw: &[u8]) -> Result<(u8, &[u8], &[u8]), ChunkDamage> {
    let (kind, len) = match (raw.first(), raw.get(1..5)) {
        (Some(k), Some(l)) => (*k, u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize),
        _ => return Err(ChunkDamage::CutHeader),
    };
    let body = raw
        .get(5..5usize.saturating_add(len))
        .ok_or(ChunkDamage::LongRecord)?;
    match kind {
        record::EVENT => {}
        record::SYMBOL if body.len() >= 8 => {}
        record::WINDOW if body.len() == 8 => {}
        kind => return Err(ChunkDamage::UnknownRecord(kind)),
    }
    Ok((kind, body, &raw[5 + len..]))
}

/// A payload checked and decompressed, with what it says besides its records.
struct Payload {
    raw: Vec<u8>,
    events: u64,
    losses_from_ns: Option<u64>,
}

/// Checks a payload of a file in format `version` and decompresses it.
fn read_chunk(h: &ChunkHeader, payload: &[u8], version: u16) -> Result<Payload, ChunkDamage> {
    if crc32fast::hash(payload) != h.payload_crc {
        return Err(ChunkDamage::Checksum);
    }
    let raw =
        zstd::bulk::decompress(payload, h.raw_len as usize).map_err(ChunkDamage::Compression)?;
    if raw.len() != h.raw_len as usize {
        return Err(ChunkDamage::Length {
            got: raw.len(),
            said: h.raw_len,
        });
    }
    let raw = match version {
        ..9 => raw,
        _ => columns::decode(&raw).map_err(ChunkDamage::Columns)?,
    };
    let (mut rest, mut records, mut events) = (raw.as_slice(), 0u64, 0u64);
    let mut losses_from_ns = None;
    while !rest.is_empty() {
        let at = raw.len() - rest.len();
        let (kind, body, next) =
            split_record(rest).map_err(|d| ChunkDamage::At(at, d.to_string()))?;
        records += 1;
        events += u64::from(kind == record::EVENT);
        if kind == record::WINDOW {
            losses_from_ns = body.try_into().ok().map(u64::from_le_bytes);
        }
        rest = next;
    }
    if records != u64::from(h.records) {
        return Err(ChunkDamage::Count {
            got: records,
            said: h.records,
        });
    }
    Ok(Payload {
        raw,
        events,
        losses_from_ns,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::recording::{format::probe_table, writer::Writer};

    pub(crate) fn header() -> Header {
        Header {
            tool: "test".into(),
            kernel_release: "6.1.0-test".into(),
            kernel_config: vec!["CONFIG_NET".into()],
            kernel_config_source: "running".into(),
            probes: vec![],
            skipped: vec![],
            offsets: vec![],
            clock_monotonic_ns: 1,
            clock_realtime_ns: 2,
            syscalls: true,
            command: vec!["sh".into()],
            ..Header::of_this_build()
        }
    }

    /// Three chunks of distinct records; returns the bytes and chunk offsets.
    fn sample() -> (Vec<u8>, Vec<usize>) {
        let mut w = Writer::new(Vec::new(), &header()).unwrap();
        let mut offsets = Vec::new();
        for c in 0..3u8 {
            offsets.push(w.bytes as usize);
            for i in 0..10u8 {
                w.event(&[c, i, 0xAA, 0xBB], u64::from(c) * 100 + u64::from(i) + 1)
                    .unwrap();
            }
            w.symbol(0x1000 + u64::from(c), &format!("fn_{c}"));
            w.flush_chunk(u64::from(c), 0, None).unwrap();
        }
        (w.into_inner(), offsets)
    }

    /// Everything a reader yields from `src`.
    fn read_all(src: impl Read) -> Result<(Vec<Chunk>, Vec<Damage>, Totals), FormatError> {
        let mut r = Reader::new(src, "t")?;
        let (mut chunks, mut damage) = (Vec::new(), Vec::new());
        while let Some(item) = r.next_item()? {
            match item {
                Item::Chunk(c) => chunks.push(c),
                Item::Damage(d) => damage.push(d),
            }
        }
        Ok((chunks, damage, r.totals()))
    }

    /// A source that hands out one byte per read, as a pipe might.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some((first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            buf[0] = *first;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn round_trip() {
        let (bytes, _) = sample();
        let r = Reader::new(bytes.as_slice(), "t").unwrap();
        assert_eq!(r.header(), &header());
        let (chunks, damage, t) = read_all(bytes.as_slice()).unwrap();
        assert_eq!(chunks.len(), 3);
        assert!(damage.is_empty());
        assert_eq!((t.events, t.lost, t.chunks), (30, 3, 3));
        assert_eq!(
            (t.first_ts, t.last_ts, t.bytes),
            (1, 210, bytes.len() as u64)
        );
        assert_eq!(
            chunks[1].records().next(),
            Some(Record::Event(&[1, 0, 0xAA, 0xBB]))
        );
        assert_eq!(
            chunks[2].records().nth(10),
            Some(Record::Symbol(0x1002, "fn_2".into()))
        );
        assert_eq!(chunks[2].records().count(), 11);
        assert_eq!((chunks[0].first_ts, chunks[0].last_ts), (1, 10));
    }

    #[test]
    fn every_truncation_keeps_what_came_before() {
        let (bytes, offsets) = sample();
        for cut in 0..bytes.len() {
            match read_all(&bytes[..cut]) {
                Err(_) => assert!(cut < offsets[0], "header intact at cut {cut} yet refused"),
                Ok((chunks, damage, _)) => {
                    let complete = offsets.iter().skip(1).filter(|o| **o <= cut).count();
                    assert_eq!(chunks.len(), complete, "cut {cut}");
                    let partial = !offsets.contains(&cut);
                    assert_eq!(damage.len(), usize::from(partial), "cut {cut}: {damage:?}");
                    if let Some(d) = damage.first() {
                        let start = *offsets.iter().rev().find(|o| **o < cut).unwrap();
                        assert_eq!(d.offset as usize, start);
                        assert_eq!(d.skipped as usize, cut - start);
                        assert!(d.what.contains("stopped mid-write"), "{}", d.what);
                    }
                }
            }
        }
    }

    #[test]
    fn a_flipped_bit_loses_one_chunk_at_most() {
        let (bytes, offsets) = sample();
        for i in offsets[0]..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = bytes.clone();
                bad[i] ^= bit;
                let (chunks, damage, _) = read_all(bad.as_slice()).unwrap();
                assert!(chunks.len() >= 2, "flip at {i} lost more than one chunk");
                assert_eq!(damage.len(), 1, "flip at {i}: {damage:?}");
                let hit = offsets.iter().rev().find(|o| **o <= i).unwrap();
                assert_eq!(damage[0].offset as usize, *hit, "flip at {i}");
                assert!(chunks.iter().all(|c| c.offset as usize != *hit));
            }
        }
    }

    #[test]
    fn a_trickling_source_reads_the_same() {
        let (bytes, offsets) = sample();
        let mut spliced = bytes[..offsets[1]].to_vec();
        spliced.extend_from_slice(b"PTCKxx garbage");
        spliced.extend_from_slice(&bytes[offsets[1]..bytes.len() - 3]);
        let whole = read_all(spliced.as_slice()).unwrap();
        let trickled = read_all(Trickle(&spliced)).unwrap();
        assert_eq!(whole, trickled);
        assert_eq!((whole.0.len(), whole.1.len()), (2, 2));
    }

    #[test]
    fn header_damage_and_versions() {
        let (bytes, _) = sample();
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert!(matches!(
            read_all(bad.as_slice()),
            Err(FormatError::BadHeader { .. })
        ));
        let mut newer = bytes.clone();
        newer[8..10].copy_from_slice(&(VERSION + 1).to_le_bytes());
        let err = read_all(newer.as_slice()).unwrap_err();
        assert!(matches!(err, FormatError::TooNew { found, .. } if found == VERSION + 1));
        let msg = err.to_string();
        assert!(msg.contains(&format!("version {}", VERSION + 1)), "{msg}");
        assert!(matches!(
            read_all(&b"hello world"[..]),
            Err(FormatError::NotARecording { .. })
        ));
        let mut huge = bytes;
        huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            read_all(huge.as_slice()),
            Err(FormatError::BadHeader { .. })
        ));
    }

    #[test]
    fn other_event_layouts_are_refused_naming_the_writer() {
        let h = Header {
            tool: "procfs-trace 9.9.9".into(),
            event_layout: "0badcafe".into(),
            ..header()
        };
        let bytes = Writer::new(Vec::new(), &h).unwrap().into_inner();
        let err = read_all(bytes.as_slice()).unwrap_err().to_string();
        assert!(
            err.contains("procfs-trace 9.9.9") && err.contains("event layouts"),
            "{err}"
        );
    }

    #[test]
    fn probe_ids_are_read_through_the_files_table() {
        let mut table = probe_table();
        table.reverse();
        table.push("a_function_this_build_does_not_probe".into());
        let h = Header {
            probe_table: table.clone(),
            ..header()
        };
        let bytes = Writer::new(Vec::new(), &h).unwrap().into_inner();
        let r = Reader::new(bytes.as_slice(), "t").unwrap();
        let last = (table.len() - 2) as u16;
        assert_eq!(r.probes().get(last), ProbeId::from_raw(0));
        assert_eq!(r.probes().get(0), ProbeId::from_raw(last));
        assert_eq!(r.probes().get(last + 1), None);
        assert_eq!(r.probes().get(u16::MAX), None);
    }

    #[test]
    fn a_chunk_declaring_more_than_a_reader_holds_is_refused() {
        let (mut bytes, offsets) = sample();
        let h = ChunkHeader {
            payload_len: 8,
            raw_len: super::super::format::MAX_CHUNK + 1,
            records: 1,
            lost: 0,
            unflagged: 0,
            losses_read_ns: 0,
            first_ts: 0,
            last_ts: 0,
            payload_crc: 0,
        };
        bytes.truncate(offsets[1]);
        bytes.extend_from_slice(&h.encode());
        bytes.extend_from_slice(&[0; 8]);
        let mut r = Reader::new(bytes.as_slice(), "t").unwrap();
        assert!(matches!(r.next_item(), Ok(Some(Item::Chunk(_)))));
        let err = r.next_item().unwrap_err().to_string();
        assert!(err.contains("crafted"), "{err}");
    }

    /// A chunk whose checksum holds but whose columns do not add up is
    /// damage, reported with its records, and the next chunk still reads.
    #[test]
    fn columns_that_do_not_rebuild_lose_their_chunk_only() {
        let (bytes, offsets) = sample();
        let mut cols = columns::encode(&[record::EVENT, 1, 0, 0, 0, 7]);
        cols.push(0);
        let payload = zstd::bulk::compress(&cols, 3).unwrap();
        let h = ChunkHeader {
            payload_len: payload.len() as u32,
            raw_len: cols.len() as u32,
            records: 1,
            lost: 0,
            unflagged: 0,
            losses_read_ns: 0,
            first_ts: 1,
            last_ts: 1,
            payload_crc: crc32fast::hash(&payload),
        };
        let mut spliced = bytes[..offsets[1]].to_vec();
        spliced.extend_from_slice(&h.encode());
        spliced.extend_from_slice(&payload);
        spliced.extend_from_slice(&bytes[offsets[1]..]);
        let (chunks, damage, _) = read_all(spliced.as_slice()).unwrap();
        assert_eq!(chunks.len(), 3);
        assert_eq!(damage.len(), 1);
        assert!(
            damage[0].what.contains("columns do not rebuild")
                && damage[0].what.contains("1 bytes follow"),
            "{}",
            damage[0].what
        );
    }

    /// From version 9 the header is compressed: damage under a good
    /// checksum is named, not misread.
    #[test]
    fn a_header_that_does_not_decompress_is_refused() {
        let (bytes, _) = sample();
        let json_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        let json = zstd::bulk::decompress(&bytes[16..16 + json_len], 1 << 20).unwrap();
        assert!(json.len() > json_len, "the header is stored compressed");
        let mut bad = bytes[..16].to_vec();
        bad.extend_from_slice(&json);
        bad[12..16].copy_from_slice(&(json.len() as u32).to_le_bytes());
        let crc = crc32fast::hash(&bad);
        bad.extend_from_slice(&crc.to_le_bytes());
        let err = Reader::new(bad.as_slice(), "t").err().unwrap().to_string();
        assert!(err.contains("does not decompress"), "{err}");
    }

    #[test]
    fn a_run_of_false_magics_is_one_damaged_region() {
        let (bytes, offsets) = sample();
        let mut spliced = bytes[..offsets[1]].to_vec();
        spliced.extend(b"PTCK".repeat(50_000));
        spliced.extend_from_slice(&bytes[offsets[1]..]);
        let (chunks, damage, _) = read_all(spliced.as_slice()).unwrap();
        assert_eq!(chunks.len(), 3);
        assert_eq!(damage.len(), 1);
        assert_eq!(damage[0].offset as usize, offsets[1]);
        assert_eq!(damage[0].skipped, 200_000);
    }

    #[test]
    fn garbage_between_chunks_is_skipped_and_reported() {
        let (bytes, offsets) = sample();
        let mut spliced = bytes[..offsets[2]].to_vec();
        spliced.extend_from_slice(b"PTCK garbage that looks like a magic");
        spliced.extend_from_slice(&bytes[offsets[2]..]);
        let (chunks, damage, _) = read_all(spliced.as_slice()).unwrap();
        assert_eq!(chunks.len(), 3);
        assert_eq!(damage.len(), 1);
        assert_eq!(damage[0].offset as usize, offsets[2]);
        assert_eq!(damage[0].skipped, 36);
    }
}
