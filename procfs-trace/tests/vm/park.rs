//! Threads parked inside a read of procfs, deterministically.

use std::time::Duration;

/// Readers that were parked inside `seq_read_iter`.
pub struct Parked {
    /// How many faulted inside their read (all of them, unless the wait timed out).
    pub faulted: usize,
    /// Each reader's thread id.
    pub tids: Vec<u32>,
}

/// Starts `n` threads that each read their own `/proc/self/stat` into a page
/// registered with userfaultfd, waits (at most a minute) until each has
/// faulted inside the read, runs `while_parked`, then fills the pages so all
/// of them finish.
pub fn park_readers_in_seq_read(n: usize, while_parked: impl FnOnce()) -> Parked {
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
                let got = unsafe { libc::read(std::os::fd::AsRawFd::as_raw_fd(&file), buf, PAGE) };
                // SAFETY: gettid(2) takes no argument.
                (unsafe { libc::gettid() } as u32, got)
            })
        })
        .collect();
    let faulted = uffd.wait_faults(n, Duration::from_secs(60));
    if faulted == n {
        while_parked();
    }
    uffd.fill();
    let tids = readers
        .into_iter()
        .map(|r| {
            let (tid, got) = r.join().unwrap();
            assert!(got > 0, "a parked read failed");
            tid
        })
        .collect();
    Parked { faulted, tids }
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
