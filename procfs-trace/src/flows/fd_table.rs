//! Which path each open fd of each process was opened with, so a read or a
//! listing through an fd is tied to its procfs path. Learned from successful
//! opens and followed through fd copies (dup, dup2, dup3, fcntl F_DUPFD).

use std::collections::HashMap;

use crate::bounded::BoundedMap;

/// Processes whose fd table is remembered; the least recently used is
/// forgotten beyond it.
const MAX_FD_TABLES: usize = 4096;

/// fd → path, per process, for a bounded number of processes.
#[derive(Debug)]
pub struct FdTable {
    fds: BoundedMap<u32, HashMap<i64, String>>,
}

impl Default for FdTable {
    fn default() -> Self {
        FdTable {
            fds: BoundedMap::new(MAX_FD_TABLES),
        }
    }
}

impl FdTable {
    /// The path fd `fd` of process `tgid` was opened with, if the trace saw it.
    pub fn path(&self, tgid: u32, fd: i64) -> Option<&String> {
        self.fds.get(&tgid).and_then(|t| t.get(&fd))
    }

    /// Records that `tgid` opened `path` as `fd`.
    pub fn opened(&mut self, tgid: u32, fd: i64, path: String) {
        self.fds.entry(tgid).insert(fd, path);
    }

    /// Records that `tgid` copied fd `from` to `to`: the copy names what the
    /// original did, and an original the trace never saw opened leaves the
    /// copy unknown (whatever `to` was before is closed).
    pub fn copied(&mut self, tgid: u32, from: i64, to: i64) {
        match self.path(tgid, from).cloned() {
            Some(path) => self.opened(tgid, to, path),
            None => {
                if let Some(t) = self.fds.get_mut(&tgid) {
                    t.remove(&to);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_follow_and_unknown_originals_clear() {
        let mut t = FdTable::default();
        t.opened(7, 3, "/proc/7/stat".into());
        t.copied(7, 3, 0);
        assert_eq!(t.path(7, 0).map(String::as_str), Some("/proc/7/stat"));
        t.copied(7, 9, 0);
        assert_eq!(t.path(7, 0), None);
        assert_eq!(t.path(8, 3), None, "per process");
    }

    #[test]
    fn the_least_recently_used_process_is_forgotten() {
        let mut t = FdTable::default();
        for tgid in 0..=MAX_FD_TABLES as u32 {
            t.opened(tgid, 3, format!("/proc/{tgid}/stat"));
        }
        assert_eq!(t.path(0, 3), None);
        assert!(t.path(MAX_FD_TABLES as u32, 3).is_some());
    }
}
