//! Where a session's output goes: private files, and a tee that hands the
//! event stream to two sinks at once.

use std::{fs::OpenOptions, io, path::Path};

use super::sink::Sink;
use crate::{events::decode::Event, render::events::Symbolize};

/// Creates (or truncates) a file readable only by its owner.
pub fn open_private(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// Sends everything to two sinks (the tour checks and records at once).
pub struct Tee<'a>(pub &'a mut dyn Sink, pub &'a mut dyn Sink);

impl Sink for Tee<'_> {
    fn event(&mut self, raw: &[u8], ev: &Event, symbolize: Symbolize) -> io::Result<()> {
        self.0.event(raw, ev, symbolize)?;
        self.1.event(raw, ev, symbolize)
    }
    fn tick(&mut self, new: u64, total: u64) -> io::Result<()> {
        self.0.tick(new, total)?;
        self.1.tick(new, total)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()?;
        self.1.flush()
    }
}
