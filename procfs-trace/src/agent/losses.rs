//! Every way the kernel side can miss or drop what it should report, counted
//! apart so a summary can say which, and added up so every loss marks the
//! operations it may have cut short.

use std::{
    fmt,
    os::fd::{AsFd as _, AsRawFd as _},
};

use aya::Ebpf;
use aya_obj::generated::{bpf_cmd, bpf_prog_info};

/// Events and facts lost so far, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Losses {
    /// Events not written: the ring buffer was full.
    pub ring: u64,
    /// Map inserts that failed: a table was full.
    pub map_inserts: u64,
    /// Program runs the kernel skipped (`recursion_misses` of each program:
    /// an fentry/fexit program re-entered on a CPU, or, from 6.7, a kprobe
    /// program skipped while another BPF program ran there).
    pub skipped_runs: u64,
    /// Records still in the ring buffer when the session ended.
    pub unread: u64,
}

impl Losses {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.ring + self.map_inserts + self.skipped_runs + self.unread
    }
}

impl fmt::Display for Losses {
    /// `0 lost`, or the total and each non-zero cause.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} lost", self.total())?;
        let parts: Vec<String> = [
            (self.ring, "ring buffer full"),
            (self.map_inserts, "map inserts failed"),
            (self.skipped_runs, "probe runs skipped by the kernel"),
            (self.unread, "unread at exit"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if !parts.is_empty() {
            write!(f, " ({})", parts.join(", "))?;
        }
        Ok(())
    }
}

/// The summed `recursion_misses` of every loaded program, or `None` when
/// this kernel does not report them (before 5.12).
pub fn skipped_runs(ebpf: &Ebpf) -> Option<u64> {
    let mut sum = None;
    for (_, prog) in ebpf.programs() {
        let Ok(fd) = prog.fd() else { continue };
        let misses = recursion_misses(fd.as_fd().as_raw_fd())?;
        *sum.get_or_insert(0) += misses;
    }
    sum
}

/// `bpf_prog_info.recursion_misses` of one program, if the kernel fills it.
fn recursion_misses(fd: i32) -> Option<u64> {
    #[repr(C)]
    struct InfoAttr {
        bpf_fd: u32,
        info_len: u32,
        info: u64,
    }
    // SAFETY: a C struct of integers, arrays and bitfields: all zeroes is a
    // valid value, and the one the kernel expects for fields it leaves alone.
    let mut info: bpf_prog_info = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<bpf_prog_info>() as u32;
    let mut attr = InfoAttr {
        bpf_fd: fd as u32,
        info_len: size,
        info: &mut info as *mut bpf_prog_info as u64,
    };
    // SAFETY: BPF_OBJ_GET_INFO_BY_FD writes at most `info_len` bytes into
    // `info`, which we own and which is that large, and updates `attr`.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            bpf_cmd::BPF_OBJ_GET_INFO_BY_FD as libc::c_int,
            &mut attr as *mut InfoAttr,
            std::mem::size_of::<InfoAttr>() as u32,
        )
    };
    let end = std::mem::offset_of!(bpf_prog_info, recursion_misses) + 8;
    (rc == 0 && attr.info_len as usize >= end).then_some(info.recursion_misses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_names_each_cause() {
        assert_eq!(Losses::default().to_string(), "0 lost");
        let l = Losses {
            ring: 5,
            map_inserts: 0,
            skipped_runs: 2,
            unread: 1,
        };
        assert_eq!(
            l.to_string(),
            "8 lost (5 ring buffer full, 2 probe runs skipped by the kernel, 1 unread at exit)"
        );
    }
}
