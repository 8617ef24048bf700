//! Writes recordings: the header once, then a chunk at every flush.

use std::{collections::HashSet, io::Write};

use super::format::{record, ChunkHeader, Header, CHUNK_TARGET, MAGIC, VERSION};

/// A reading of the kernel's loss counters: the losses it counted happened
/// between `from_ns` and `to_ns` (CLOCK_MONOTONIC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// When the previous reading began.
    pub from_ns: u64,
    /// When this one ended.
    pub to_ns: u64,
}

/// zstd level: fast enough for a live recorder, and trace records (repeated
/// names, small integers) still compress about tenfold.
const LEVEL: i32 = 3;

/// Appends chunks to a recording.
pub struct Writer<W: Write> {
    out: W,
    buf: Vec<u8>,
    records: u32,
    first_ts: u64,
    last_ts: u64,
    symbols: HashSet<u64>,
    /// Events written so far.
    pub events: u64,
    /// Bytes written so far.
    pub bytes: u64,
}

impl<W: Write> Writer<W> {
    /// Writes the header to `out`.
    pub fn new(mut out: W, header: &Header) -> std::io::Result<Writer<W>> {
        let json = serde_json::to_vec(header)?;
        let mut pre = Vec::with_capacity(16 + json.len() + 4);
        pre.extend_from_slice(MAGIC);
        pre.extend_from_slice(&VERSION.to_le_bytes());
        pre.extend_from_slice(&0u16.to_le_bytes());
        pre.extend_from_slice(&(json.len() as u32).to_le_bytes());
        pre.extend_from_slice(&json);
        let crc = crc32fast::hash(&pre);
        pre.extend_from_slice(&crc.to_le_bytes());
        out.write_all(&pre)?;
        out.flush()?;
        Ok(Writer {
            out,
            buf: Vec::new(),
            records: 0,
            first_ts: 0,
            last_ts: 0,
            symbols: HashSet::new(),
            events: 0,
            bytes: pre.len() as u64,
        })
    }

    /// Adds a ring-buffer record (kernel bytes) with its timestamp; closes
    /// the chunk early when it has grown to `CHUNK_TARGET`, so no chunk
    /// outgrows what readers hold.
    pub fn event(&mut self, raw: &[u8], ts_ns: u64) -> std::io::Result<()> {
        self.push(record::EVENT, raw);
        if self.first_ts == 0 {
            self.first_ts = ts_ns;
        }
        self.last_ts = self.last_ts.max(ts_ns);
        self.events += 1;
        if self.buf.len() >= CHUNK_TARGET {
            self.flush_chunk(0, 0, None)?;
        }
        Ok(())
    }

    /// Adds a symbol, once per address, so replays can name it offline.
    pub fn symbol(&mut self, addr: u64, name: &str) {
        if self.symbols.insert(addr) {
            let mut body = addr.to_le_bytes().to_vec();
            body.extend_from_slice(name.as_bytes());
            self.push(record::SYMBOL, &body);
        }
    }

    fn push(&mut self, kind: u8, body: &[u8]) {
        self.buf.push(kind);
        self.buf
            .extend_from_slice(&(body.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(body);
        self.records += 1;
    }

    /// Writes what was added since the last flush as one chunk, with the
    /// events lost meanwhile (`unflagged` of them flagged by no event) and
    /// the window of the reading of the counters that says so (none: not
    /// read); an empty chunk is written only to carry losses.
    pub fn flush_chunk(
        &mut self,
        lost: u64,
        unflagged: u64,
        reading: Option<Reading>,
    ) -> std::io::Result<()> {
        if self.records == 0 && lost == 0 {
            return Ok(());
        }
        let losses_read_ns = reading.map_or(0, |w| w.to_ns);
        if let Some(w) = reading.filter(|_| lost > 0) {
            self.push(record::WINDOW, &w.from_ns.to_le_bytes());
        }
        let payload = zstd::bulk::compress(&self.buf, LEVEL)?;
        let header = ChunkHeader {
            payload_len: payload.len() as u32,
            raw_len: self.buf.len() as u32,
            records: self.records,
            lost,
            unflagged: u32::try_from(unflagged).unwrap_or(u32::MAX),
            losses_read_ns,
            first_ts: self.first_ts,
            last_ts: self.last_ts,
            payload_crc: crc32fast::hash(&payload),
        };
        self.out.write_all(&header.encode())?;
        self.out.write_all(&payload)?;
        // Into the kernel's hands now: a SIGKILL after this loses nothing of it.
        self.out.flush()?;
        self.bytes += (header.encode().len() + payload.len()) as u64;
        self.buf.clear();
        self.records = 0;
        self.first_ts = 0;
        self.last_ts = 0;
        Ok(())
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}
