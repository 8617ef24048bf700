//! Writes recordings: the header once, then a chunk at every flush.

use std::{collections::HashSet, io::Write};

use super::{
    columns,
    format::{record, ChunkHeader, Header, CHUNK_TARGET, MAGIC, VERSION},
};

/// A reading of the kernel's loss counters: the losses it counted happened
/// between `from_ns` and `to_ns` (CLOCK_MONOTONIC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// When the previous reading began.
    pub from_ns: u64,
    /// When this one ended.
    pub to_ns: u64,
}

/// zstd level: fast enough for a live recorder; the columns do the rest.
const LEVEL: i32 = 3;

/// Readings of the loss counters a chunk spans unless one finds losses:
/// a second's worth at the tracer's 250 ms tick. Each chunk starts its
/// differences and zstd's history afresh, and a quarter second of records
/// is too few to amortise that (measured on a busybox loop in the 6.1 VM:
/// 9.7 bytes per record at a chunk per reading, 7.4 at one per four).
pub const READINGS_PER_CHUNK: u32 = 4;

/// Appends chunks to a recording.
pub struct Writer<W: Write> {
    out: W,
    buf: Vec<u8>,
    records: u32,
    first_ts: u64,
    last_ts: u64,
    symbols: HashSet<u64>,
    readings: u32,
    /// Events written so far.
    pub events: u64,
    /// Bytes written so far.
    pub bytes: u64,
}

impl<W: Write> Writer<W> {
    /// Writes the header to `out`.
    pub fn new(mut out: W, header: &Header) -> std::io::Result<Writer<W>> {
        let json = zstd::bulk::compress(&serde_json::to_vec(header)?, LEVEL)?;
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
            readings: 0,
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

    /// Takes a tick's reading of the loss counters (none: not read): closes
    /// the chunk when the reading found losses, so the chunk dates them by
    /// its own window, and otherwise at every [`READINGS_PER_CHUNK`]th.
    pub fn tick(
        &mut self,
        lost: u64,
        unflagged: u64,
        reading: Option<Reading>,
    ) -> std::io::Result<()> {
        self.readings += 1;
        if lost > 0 || self.readings >= READINGS_PER_CHUNK {
            self.flush_chunk(lost, unflagged, reading)?;
        }
        Ok(())
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
        self.readings = 0;
        if self.records == 0 && lost == 0 {
            return Ok(());
        }
        let losses_read_ns = reading.map_or(0, |w| w.to_ns);
        if let Some(w) = reading.filter(|_| lost > 0) {
            self.push(record::WINDOW, &w.from_ns.to_le_bytes());
        }
        let cols = columns::encode(&self.buf);
        let payload = zstd::bulk::compress(&cols, LEVEL)?;
        let header = ChunkHeader {
            payload_len: payload.len() as u32,
            raw_len: cols.len() as u32,
            records: self.records,
            lost,
            unflagged: u32::try_from(unflagged).unwrap_or(u32::MAX),
            losses_read_ns,
            first_ts: self.first_ts,
            last_ts: self.last_ts,
            payload_crc: crc32fast::hash(&payload),
        };
        let header = header.encode();
        self.out.write_all(&header)?;
        self.out.write_all(&payload)?;
        // Into the kernel's hands now: a SIGKILL after this loses nothing of it.
        self.out.flush()?;
        self.bytes += (header.len() + payload.len()) as u64;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::reader::{tests::header, Item, Reader};

    fn chunks(bytes: &[u8]) -> Vec<(u64, usize)> {
        let mut r = Reader::new(bytes, "t").unwrap();
        let mut out = Vec::new();
        while let Some(item) = r.next_item().unwrap() {
            let Item::Chunk(c) = item else {
                panic!("damage: {item:?}")
            };
            out.push((c.lost, c.records().count()));
        }
        out
    }

    /// Lossless readings share a chunk up to [`READINGS_PER_CHUNK`]; a
    /// reading that found losses closes its chunk at once, with them.
    #[test]
    fn a_chunk_spans_readings_until_one_finds_losses() {
        let mut w = Writer::new(Vec::new(), &header()).unwrap();
        let reading = Some(Reading {
            from_ns: 1,
            to_ns: 2,
        });
        for tick in 0..READINGS_PER_CHUNK * 2 + 2 {
            w.event(&[tick as u8; 4], 1).unwrap();
            let lost = u64::from(tick == READINGS_PER_CHUNK + 1) * 3;
            w.tick(lost, 0, reading).unwrap();
        }
        w.flush_chunk(0, 0, None).unwrap();
        let per = READINGS_PER_CHUNK as usize;
        assert_eq!(chunks(&w.into_inner()), [(0, per), (3, 2), (0, per)]);
    }
}
