//! Where a session's output goes: private files, and a tee that hands the
//! event stream to two sinks at once.

use std::{
    fs::{File, OpenOptions},
    io::{self, BufWriter, Write},
    os::unix::fs::{MetadataExt as _, OpenOptionsExt as _},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use thiserror::Error;

use super::sink::{Lost, Sink};
use crate::events::{decode::Event, Symbolize};

/// An output file procfs-trace will not write.
#[derive(Debug, Error)]
pub enum OutputError {
    /// The path is a symbolic link: as root, following it could overwrite anything.
    #[error("{} is a symbolic link; give the real path of the output file", .0.display())]
    Symlink(PathBuf),
    /// A regular file that belongs to another user.
    #[error("{} exists and belongs to uid {owner}, not to you; remove it or choose another name", .path.display())]
    NotOurs {
        /// The file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
    },
    /// Creating or opening failed.
    #[error("cannot create {}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// The user outputs are for: under sudo the one who ran sudo, else ourselves.
fn invoking_user() -> (u32, u32) {
    // SAFETY: geteuid and getegid cannot fail.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let from_env = |name: &str| std::env::var(name).ok()?.parse::<u32>().ok();
    match (euid, from_env("SUDO_UID"), from_env("SUDO_GID")) {
        (0, Some(uid), Some(gid)) => (uid, gid),
        _ => (euid, egid),
    }
}

/// Opens an output file as a tracer running as root must: never through a
/// symlink, never truncating a regular file of another user; a file it
/// creates is readable only by its owner (traces name processes and paths)
/// and, under sudo, belongs to the user who ran sudo, so a replay needs no
/// root. Devices and pipes (`-o /dev/null`) are written as they are.
pub fn open_private(path: &Path) -> Result<File, OutputError> {
    let io = |source| OutputError::Io {
        path: path.to_owned(),
        source,
    };
    let (uid, gid) = invoking_user();
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path);
    match created {
        Ok(file) => {
            // SAFETY: geteuid cannot fail.
            if unsafe { libc::geteuid() } != uid {
                std::os::unix::fs::fchown(&file, Some(uid), Some(gid)).map_err(io)?;
            }
            Ok(file)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let file = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(path)
                .map_err(|e| match e.raw_os_error() {
                    Some(libc::ELOOP) => OutputError::Symlink(path.to_owned()),
                    _ => io(e),
                })?;
            let meta = file.metadata().map_err(io)?;
            if meta.file_type().is_file() {
                // SAFETY: geteuid cannot fail.
                let euid = unsafe { libc::geteuid() };
                if meta.uid() != uid && meta.uid() != euid {
                    return Err(OutputError::NotOurs {
                        path: path.to_owned(),
                        owner: meta.uid(),
                    });
                }
                file.set_len(0).map_err(io)?;
            }
            Ok(file)
        }
        Err(e) => Err(io(e)),
    }
}

/// A buffered file whose data reaches the disk at least once a second: each
/// flush past a second since the last sync is an `fdatasync`, and so is the
/// end. A power loss costs at most about the last second.
pub struct DurableFile {
    out: BufWriter<File>,
    synced: Instant,
}

/// Longest time written data may wait for an `fdatasync`.
const SYNC_EVERY: Duration = Duration::from_secs(1);

impl DurableFile {
    /// Wraps `file`.
    pub fn new(file: File) -> DurableFile {
        DurableFile {
            out: BufWriter::new(file),
            synced: Instant::now(),
        }
    }

    /// Flushes and syncs now.
    pub fn sync(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()?;
        self.synced = Instant::now();
        Ok(())
    }
}

impl Write for DurableFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.synced.elapsed() >= SYNC_EVERY {
            self.sync()
        } else {
            self.out.flush()
        }
    }
}

impl Drop for DurableFile {
    fn drop(&mut self) {
        // Errors cannot be reported from a drop; a sync that fails here
        // failed at the last flush too, which did report it.
        let _ = self.sync();
    }
}

/// Sends everything to two sinks (the tour checks and records at once).
pub struct Tee<'a>(pub &'a mut dyn Sink, pub &'a mut dyn Sink);

impl Sink for Tee<'_> {
    fn event(&mut self, raw: &[u8], ev: Event, symbolize: Symbolize) -> io::Result<()> {
        self.0.event(raw, ev.clone(), symbolize)?;
        self.1.event(raw, ev, symbolize)
    }
    fn tick(&mut self, lost: Lost) -> io::Result<()> {
        self.0.tick(lost)?;
        self.1.tick(lost)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()?;
        self.1.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("procfs-trace-output-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        path
    }

    #[test]
    fn a_new_file_is_private_and_an_old_one_of_ours_is_truncated() {
        let path = scratch("new");
        let mut f = open_private(&path).unwrap();
        f.write_all(b"old contents").unwrap();
        drop(f);
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let _f = open_private(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn a_symlink_is_refused_and_its_target_untouched() {
        let target = scratch("target");
        std::fs::write(&target, b"precious").unwrap();
        let link = scratch("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(open_private(&link), Err(OutputError::Symlink(_))));
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    }

    #[test]
    fn devices_are_written_as_they_are() {
        open_private(Path::new("/dev/null")).unwrap();
    }

    #[test]
    fn another_users_file_is_not_truncated() {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            println!("skipped: giving a file to another user needs root");
            return;
        }
        let path = scratch("theirs");
        std::fs::write(&path, b"theirs").unwrap();
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        assert!(matches!(
            open_private(&path),
            Err(OutputError::NotOurs { owner: 65534, .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"theirs");
    }

    #[test]
    fn durable_files_sync_on_drop() {
        let path = scratch("durable");
        let mut d = DurableFile::new(open_private(&path).unwrap());
        d.write_all(b"chunk").unwrap();
        d.flush().unwrap();
        drop(d);
        assert_eq!(std::fs::read(&path).unwrap(), b"chunk");
    }
}
