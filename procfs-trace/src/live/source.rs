//! Where events come from: a recording played at a chosen speed, and the
//! clock that says what "now" is in trace time.

use std::{io::Read, time::Instant};

use super::collector::{Aggregate, Collector};
use crate::{
    agent::sink::Sink as _,
    recording::reader::{Item, Reader, Record},
    replay::{self, ReplayOptions, Symbols},
};

/// Trace time now: the monotonic clock when live, the recording's time
/// scaled by the speed when replaying.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// CLOCK_MONOTONIC, as the kernel stamps events.
    Live,
    /// A recording starting at `t0_ns`, played from `wall0` at `speed` (0: unpaced).
    Replay {
        /// First event time.
        t0_ns: u64,
        /// When playing began.
        wall0: Instant,
        /// Trace seconds per wall second (0: as fast as possible).
        speed: f64,
    },
}

impl Clock {
    /// Trace time now, if the clock runs on its own.
    pub fn now_ns(&self) -> Option<u64> {
        match self {
            Clock::Live => Some(monotonic_ns()),
            Clock::Replay { speed, .. } if *speed <= 0.0 => None,
            Clock::Replay {
                t0_ns,
                wall0,
                speed,
            } => Some(t0_ns + (wall0.elapsed().as_secs_f64() * speed * 1e9) as u64),
        }
    }
}

/// CLOCK_MONOTONIC in ns.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Plays the events of `rec` that pass `only` (pid and comm) into `sink`,
/// sleeping so they come at their recorded pace divided by the clock's
/// speed; returns (events, undecodable).
pub async fn play<R: Read, A: Aggregate>(
    rec: &mut Reader<R>,
    clock: Clock,
    only: &ReplayOptions,
    sink: &mut Collector<A>,
) -> anyhow::Result<(u64, u64)> {
    let mut symbols = Symbols::default();
    let mut readings = replay::Readings::default();
    let (mut events, mut bad) = (0, 0);
    while let Some(item) = rec.next_item()? {
        let chunk = match item {
            Item::Chunk(c) => c,
            Item::Damage(d) => {
                replay::warn(rec.name(), &d);
                continue;
            }
        };
        symbols.absorb(&chunk);
        for r in chunk.records() {
            let Record::Event(raw) = r else { continue };
            let Some(ev) = replay::decode_wanted(raw, rec.probes(), only, &mut bad) else {
                continue;
            };
            wait_for(clock, ev.origin().ts_ns).await;
            events += 1;
            sink.event(raw, ev, &|a| symbols.get(a))?;
        }
        sink.tick(readings.lost(&chunk, rec.totals().lost))?;
        // Unpaced, still let the view run between chunks.
        tokio::task::yield_now().await;
    }
    sink.finish();
    Ok((events, bad))
}

/// Sleeps until the clock reaches `ts_ns` (not at all when unpaced).
async fn wait_for(clock: Clock, ts_ns: u64) {
    let Clock::Replay {
        t0_ns,
        wall0,
        speed,
    } = clock
    else {
        return;
    };
    if speed <= 0.0 {
        return;
    }
    let due = wall0
        + std::time::Duration::from_secs_f64(ts_ns.saturating_sub(t0_ns) as f64 / 1e9 / speed);
    // Sleeping per event would cost more than the events: batch up to 10 ms.
    if due > Instant::now() + std::time::Duration::from_millis(10) {
        tokio::time::sleep_until(due.into()).await;
    }
}
