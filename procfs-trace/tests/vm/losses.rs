//! Losses the kernel causes, counted and never passed.

use std::{
    io::{BufReader, Read as _},
    process::{Command, Stdio},
    time::Duration,
};

use crate::support;

/// Threads parked inside `seq_read_iter` at once: more than a kretprobe's
/// default return instances (max(10, 2 × CPUs); the guests have 2 CPUs).
const PARKED: usize = 40;

/// A kretprobe has a fixed number of return instances; threads beyond them
/// inside its function lose their return. From 6.7 the kernel counts such
/// misses per link, and the summary names them; before, it does not, and the
/// calls without their exit make the operations incomplete. Either way the
/// check is inconclusive (exit 3), never a pass.
///
/// The threads are parked deterministically: each reads its own
/// `/proc/self/stat` into a page registered with userfaultfd, so the copy
/// out of `seq_read_iter` faults and waits until every thread has faulted.
#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn kretprobe_misses_are_counted_and_never_pass() {
    let flows = std::env::temp_dir().join("kretprobe-misses.jsonl");
    let mut check = Command::new(support::bin())
        .args(["check", "--attach", "kprobe", "--format", "jsonl", "-o"])
        .arg(&flows)
        .args(["--pid", &std::process::id().to_string()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(check.stderr.take().unwrap());
    let mut said = support::wait_attached(&mut stderr);
    let faulted = park_readers_in_seq_read(PARKED);
    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe { libc::kill(check.id() as i32, libc::SIGINT) };
    let status = check.wait().unwrap();
    stderr.read_to_string(&mut said).unwrap();
    println!("{said}");
    assert_eq!(faulted, PARKED, "not every reader parked: {said}");
    assert_eq!(status.code(), Some(3), "{said}");
    let summary = said
        .lines()
        .rev()
        .find(|l| l.contains(" events in "))
        .expect("a summary line");
    if support::kernel_version() >= (6, 7) {
        let missed = summary_count(summary, " kprobe hits missed by the kernel");
        assert!(
            missed >= (PARKED - 2 * 10) as u64,
            "{missed} kprobe misses for {PARKED} parked threads: {said}"
        );
    } else {
        assert!(said.contains("does not count kprobe misses"), "{said}");
    }
    // The reads that lost their return are incomplete, whatever the kernel
    // counted.
    let incomplete = std::fs::read_to_string(&flows)
        .unwrap()
        .lines()
        .filter(|l| l.contains(r#""type":"flow""#) && l.contains(r#""kind":"read""#))
        .filter(|l| l.contains(r#""verdict":"inconclusive""#))
        .count();
    assert!(
        incomplete >= PARKED - 2 * 10,
        "{incomplete} inconclusive reads for {PARKED} parked threads: {said}"
    );
}

/// The number just before `label` in a summary line.
fn summary_count(summary: &str, label: &str) -> u64 {
    let at = summary
        .find(label)
        .unwrap_or_else(|| panic!("no{label} in {summary}"));
    summary[..at]
        .rsplit([' ', '(', ','])
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count before{label} in {summary}"))
}

/// Starts `n` threads that each read their own `/proc/self/stat` into a page
/// registered with userfaultfd, waits (at most a minute) until each has
/// faulted inside the read, then fills the pages so all of them finish.
/// Returns how many faulted.
fn park_readers_in_seq_read(n: usize) -> usize {
    const PAGE: usize = 4096;
    let uffd = Uffd::new(n * PAGE);
    let base = uffd.area as usize;
    let readers: Vec<_> = (0..n)
        .map(|i| {
            std::thread::spawn(move || {
                let file = std::fs::File::open("/proc/self/stat").unwrap();
                let buf = (base + i * PAGE) as *mut libc::c_void;
                // SAFETY: the page is ours (mapped by Uffd, alive until the
                // threads are joined); the read may block on its fault.
                unsafe { libc::read(std::os::fd::AsRawFd::as_raw_fd(&file), buf, PAGE) }
            })
        })
        .collect();
    let faulted = uffd.wait_faults(n, Duration::from_secs(60));
    uffd.fill();
    for r in readers {
        assert!(r.join().unwrap() > 0, "a parked read failed");
    }
    faulted
}

/// A userfaultfd watching an anonymous mapping for missing pages.
struct Uffd {
    fd: std::os::fd::OwnedFd,
    area: *mut libc::c_void,
    len: usize,
}

/// `_IOWR(0xAA, nr, size)` of linux/userfaultfd.h.
const fn uffd_ioctl(nr: u64, size: u64) -> u64 {
    (3 << 30) | (size << 16) | (0xAA << 8) | nr
}
const UFFDIO_API: u64 = uffd_ioctl(0x3F, 24);
const UFFDIO_REGISTER: u64 = uffd_ioctl(0x00, 32);
const UFFDIO_ZEROPAGE: u64 = uffd_ioctl(0x04, 32);
const UFFD_EVENT_PAGEFAULT: u8 = 0x12;

impl Uffd {
    /// Maps `len` bytes and registers them for missing-page faults.
    fn new(len: usize) -> Uffd {
        use std::os::fd::FromRawFd as _;
        // SAFETY: plain system calls on arguments we own; every result is checked.
        unsafe {
            let fd = libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC);
            assert!(fd >= 0, "userfaultfd: {}", std::io::Error::last_os_error());
            let fd = std::os::fd::OwnedFd::from_raw_fd(fd as i32);
            let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
            let mut api = [0xAAu64, 0, 0];
            assert_eq!(libc::ioctl(raw, UFFDIO_API, api.as_mut_ptr()), 0);
            let area = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(area, libc::MAP_FAILED);
            // range.start, range.len, mode (MISSING), ioctls (out)
            let mut reg = [area as u64, len as u64, 1, 0];
            assert_eq!(
                libc::ioctl(raw, UFFDIO_REGISTER, reg.as_mut_ptr()),
                0,
                "UFFDIO_REGISTER: {}",
                std::io::Error::last_os_error()
            );
            Uffd { fd, area, len }
        }
    }

    /// Counts page-fault messages until `n` arrived or `limit` passed.
    fn wait_faults(&self, n: usize, limit: Duration) -> usize {
        let raw = std::os::fd::AsRawFd::as_raw_fd(&self.fd);
        let deadline = std::time::Instant::now() + limit;
        let mut faults = 0;
        while faults < n {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let mut pfd = libc::pollfd {
                fd: raw,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one pollfd we own.
            if unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) } <= 0 {
                break;
            }
            let mut msg = [0u8; 32];
            // SAFETY: reads one 32-byte uffd_msg into a buffer of that size.
            let got = unsafe { libc::read(raw, msg.as_mut_ptr().cast(), msg.len()) };
            if got == 32 && msg[0] == UFFD_EVENT_PAGEFAULT {
                faults += 1;
            }
        }
        faults
    }

    /// Maps zero pages over the whole area, waking every faulted thread.
    fn fill(&self) {
        let mut zero = [self.area as u64, self.len as u64, 0, 0];
        // SAFETY: UFFDIO_ZEROPAGE on our own registered range.
        let rc = unsafe {
            libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&self.fd),
                UFFDIO_ZEROPAGE,
                zero.as_mut_ptr(),
            )
        };
        assert_eq!(
            rc,
            0,
            "UFFDIO_ZEROPAGE: {}",
            std::io::Error::last_os_error()
        );
    }
}

impl Drop for Uffd {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`; no reader is left to touch it.
        unsafe { libc::munmap(self.area, self.len) };
    }
}
