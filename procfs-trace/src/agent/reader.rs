//! The ring buffer's reader: a thread that copies records out of the kernel's
//! ring as they come and decodes them, into a backlog in user memory that the
//! sink takes them from (decoding there leaves the agent's thread to the
//! flows and the checker). A burst the checker cannot keep up with waits in the backlog instead
//! of filling the ring; only when the backlog is full does the ring fill, and
//! the kernel then counts (and flags) what it drops.

use std::{
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::Duration,
};

use anyhow::Context as _;
use aya::maps::{MapData, RingBuf};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::batch::Batch;

/// The backlog's default size: at about 330 bytes a record (its kept bytes
/// and its decoding), some 800,000 records, seconds of a flood on every core.
pub const DEFAULT_BACKLOG_MIB: u32 = 256;

/// Records per batch: the sink takes one batch per turn of the agent's loop,
/// so its timers and signals are seen between batches.
const BATCH_RECORDS: usize = 4096;

/// How long the reader waits when the ring is empty, or at most when the
/// backlog is full (taking a batch wakes it).
/// Records do not wake it until a share of the ring waits (see `wake` in
/// procfs-trace-ebpf's emit.rs), so this bounds how late a record is read.
const POLL: Duration = Duration::from_millis(10);

/// What the reader hands over.
#[derive(Debug)]
pub enum Delivery {
    /// Records, in ring order.
    Records(Batch),
    /// Flush request `seq` was served: every record the ring held when it was
    /// seen came before, except `unread`, which the ring still held beyond
    /// a ring's worth (writers may keep adding).
    Flushed {
        /// The request served.
        seq: u64,
        /// Records left in the ring.
        unread: u64,
    },
}

/// What the agent and the reader thread share.
#[derive(Default)]
struct Shared {
    /// Bytes handed over and not yet taken.
    backlog: AtomicUsize,
    /// Records handed over and not yet taken.
    waiting: AtomicUsize,
    /// The latest flush requested.
    flush: AtomicU64,
    stop: AtomicBool,
}

/// The reader thread and the records it hands over.
pub struct Reader {
    shared: Arc<Shared>,
    deliveries: UnboundedReceiver<Delivery>,
    thread: Option<JoinHandle<()>>,
}

impl Reader {
    /// Starts reading `ring`, which holds at most `ring_records` records,
    /// ahead of the sink by at most `backlog` bytes (0: one batch).
    pub fn spawn(
        ring: RingBuf<MapData>,
        ring_records: usize,
        backlog: usize,
    ) -> anyhow::Result<Reader> {
        let shared = Arc::new(Shared::default());
        let (tx, deliveries) = unbounded_channel();
        let wakeups = Wakeups::of(&ring).context("waiting on the ring buffer with epoll")?;
        let thread = std::thread::Builder::new()
            .name("ring reader".to_owned())
            .spawn({
                let shared = shared.clone();
                move || read(ring, &wakeups, ring_records, backlog, &shared, &tx)
            })
            .context("starting the ring buffer's reader thread")?;
        Ok(Reader {
            shared,
            deliveries,
            thread: Some(thread),
        })
    }

    /// The next delivery, in order; its records leave the backlog.
    pub async fn next(&mut self) -> anyhow::Result<Delivery> {
        let d = self
            .deliveries
            .recv()
            .await
            .context("the ring buffer's reader thread stopped")?;
        if let Delivery::Records(b) = &d {
            self.shared.backlog.fetch_sub(b.bytes(), Ordering::Relaxed);
            self.shared.waiting.fetch_sub(b.len(), Ordering::Relaxed);
            // It may wait for room.
            if let Some(t) = &self.thread {
                t.thread().unpark();
            }
        }
        Ok(d)
    }

    /// Asks for what the ring holds now; a [`Delivery::Flushed`] with the
    /// returned `seq` follows it.
    pub fn flush(&self) -> u64 {
        self.shared.flush.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Records read from the ring and not yet taken.
    pub fn waiting(&self) -> usize {
        self.shared.waiting.load(Ordering::Relaxed)
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The reader thread: copies records until stopped or no one listens.
fn read(
    mut ring: RingBuf<MapData>,
    wakeups: &Wakeups,
    ring_records: usize,
    backlog: usize,
    shared: &Shared,
    tx: &UnboundedSender<Delivery>,
) {
    let mut served = 0;
    let hand_over = |batch: Batch| {
        if batch.is_empty() {
            return true;
        }
        shared.backlog.fetch_add(batch.bytes(), Ordering::Relaxed);
        shared.waiting.fetch_add(batch.len(), Ordering::Relaxed);
        tx.send(Delivery::Records(batch)).is_ok()
    };
    while !shared.stop.load(Ordering::Acquire) {
        let seq = shared.flush.load(Ordering::Acquire);
        if seq != served {
            // Whatever the backlog holds: a flush takes at most a ring's worth.
            served = seq;
            let mut left = ring_records;
            let mut emptied = false;
            while left > 0 && !emptied {
                let (batch, done) = copy(&mut ring, left.min(BATCH_RECORDS));
                left -= batch.len();
                emptied = done;
                if !hand_over(batch) {
                    return;
                }
            }
            let mut unread = 0;
            if !emptied {
                while unread < ring_records as u64 * 4 && ring.next().is_some() {
                    unread += 1;
                }
            }
            if tx.send(Delivery::Flushed { seq, unread }).is_err() {
                return;
            }
            continue;
        }
        if shared.backlog.load(Ordering::Relaxed) > backlog {
            std::thread::park_timeout(POLL);
            continue;
        }
        let (batch, emptied) = copy(&mut ring, BATCH_RECORDS);
        if !hand_over(batch) {
            return;
        }
        if emptied {
            wakeups.wait();
        }
    }
}

/// Up to `limit` records, and whether the ring ran out first.
fn copy(ring: &mut RingBuf<MapData>, limit: usize) -> (Batch, bool) {
    let mut batch = Batch::default();
    while batch.len() < limit {
        match ring.next() {
            Some(item) => batch.push(&item),
            None => return (batch, true),
        }
    }
    (batch, false)
}

/// The kernel's wake-ups of the ring's readers, edge-triggered: records are
/// submitted without one until a share of the ring waits (see `wake` in
/// procfs-trace-ebpf's emit.rs), so a reader that waited for the ring to be
/// merely non-empty would wake for every few records.
struct Wakeups {
    epoll: OwnedFd,
}

impl Wakeups {
    /// Wake-ups of `ring`.
    fn of(ring: &RingBuf<MapData>) -> std::io::Result<Wakeups> {
        // SAFETY: plain syscall; the result is checked before use.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a descriptor epoll_create1 just returned, owned from here.
        let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET) as u32,
            u64: 0,
        };
        // SAFETY: both descriptors are open; `ev` outlives the call.
        if unsafe {
            libc::epoll_ctl(
                epoll.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                ring.as_raw_fd(),
                &mut ev,
            )
        } < 0
        {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Wakeups { epoll })
    }

    /// Waits for a wake-up, or [`POLL`] at most.
    fn wait(&self) {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: one valid event slot for the call's duration. An error
        // (EINTR) only ends the wait early.
        unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), &mut ev, 1, POLL.as_millis() as i32) };
    }
}
