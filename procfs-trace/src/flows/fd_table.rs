//! Which path each open fd of each process was opened with, so a read or a
//! listing through an fd is tied to its procfs path, and whether it has been
//! read since (a seq_file's first read cannot be served from its buffer).
//! Learned from successful opens and followed through fd copies (dup, dup2,
//! dup3, fcntl F_DUPFD). Also each process's cwd, where a chdir or fchdir
//! the trace saw set it, so that relative paths resolve.

use std::collections::HashMap;

use crate::bounded::BoundedMap;

/// Processes whose fd table is remembered; the least recently used is
/// forgotten beyond it.
const MAX_FD_TABLES: usize = 4096;

/// fd → what it was opened as, per process, for a bounded number of processes.
#[derive(Debug)]
pub struct FdTable {
    fds: BoundedMap<u32, HashMap<i64, OpenFd, foldhash::fast::RandomState>>,
    cwds: BoundedMap<u32, String>,
}

/// An fd the trace saw opened.
#[derive(Debug, Clone)]
struct OpenFd {
    path: String,
    /// Whether it was read since the open; `None` once copies share it, as
    /// reads through either move the one file's position.
    read: Option<bool>,
}

impl Default for FdTable {
    fn default() -> Self {
        FdTable {
            fds: BoundedMap::new(MAX_FD_TABLES),
            cwds: BoundedMap::new(MAX_FD_TABLES),
        }
    }
}

impl FdTable {
    /// The path fd `fd` of process `tgid` was opened with, if the trace saw it.
    pub fn path(&self, tgid: u32, fd: i64) -> Option<&String> {
        self.fds
            .get(&tgid)
            .and_then(|t| t.get(&fd))
            .map(|f| &f.path)
    }

    /// The cwd of process `tgid`, if the trace saw it set.
    pub fn cwd(&self, tgid: u32) -> Option<&String> {
        self.cwds.get(&tgid)
    }

    /// Records that `tgid` moved its cwd to `path`; `None`: somewhere the
    /// trace cannot name (an fd it never saw opened).
    pub fn chdir(&mut self, tgid: u32, path: Option<String>) {
        match path {
            Some(p) => self.cwds.insert(tgid, p),
            None => drop(self.cwds.remove(&tgid)),
        }
    }

    /// Records that `tgid` opened `path` as `fd`.
    pub fn opened(&mut self, tgid: u32, fd: i64, path: String) {
        let fd_entry = OpenFd {
            path,
            read: Some(false),
        };
        self.fds.entry(tgid).insert(fd, fd_entry);
    }

    /// Records a read of `fd`: whether it is the first since the open, when known.
    pub fn read(&mut self, tgid: u32, fd: i64) -> Option<bool> {
        let f = self.fds.get_mut(&tgid)?.get_mut(&fd)?;
        let first = f.read.map(|read| !read);
        if f.read.is_some() {
            f.read = Some(true);
        }
        first
    }

    /// Records that `tgid` copied fd `from` to `to`: the copy names what the
    /// original did, and an original the trace never saw opened leaves the
    /// copy unknown (whatever `to` was before is closed).
    pub fn copied(&mut self, tgid: u32, from: i64, to: i64) {
        let Some(t) = self.fds.get_mut(&tgid) else {
            return;
        };
        match t.get_mut(&from) {
            Some(original) => {
                original.read = None;
                let copy = original.clone();
                t.insert(to, copy);
            }
            None => {
                t.remove(&to);
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
        assert_eq!(t.read(7, 0), None, "shared with fd 3: unknown");
        assert_eq!(t.read(7, 3), None);
        t.copied(7, 9, 0);
        assert_eq!(t.path(7, 0), None);
        assert_eq!(t.path(8, 3), None, "per process");
    }

    #[test]
    fn the_first_read_after_an_open_is_known() {
        let mut t = FdTable::default();
        t.opened(7, 3, "/proc/7/stat".into());
        assert_eq!(t.read(7, 3), Some(true));
        assert_eq!(t.read(7, 3), Some(false));
        t.opened(7, 3, "/proc/7/limits".into());
        assert_eq!(t.read(7, 3), Some(true), "a new open starts again");
        assert_eq!(t.read(7, 4), None, "never seen opened");
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
