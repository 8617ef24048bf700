//! `serve`: a headless agent that keeps the live view's kind of figures
//! (operations by verdict, kernel calls and latencies, show callbacks,
//! bytes, losses) and exports them for Prometheus at `/metrics`.
//!
//! `metrics` holds the figures and their label caps, `http` answers scrapes.

pub mod http;
pub mod metrics;

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Instant};

use prometheus_client::registry::Registry;
use tokio::signal::unix::{signal, SignalKind};

use self::metrics::{Metrics, Source};
use crate::{
    agent::tracer::{Probing, Stopped},
    live::{self, collector::Collector, source::Clock},
    replay::{self, ReplayOptions},
};

/// What the user asked `serve` for.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Play this recording instead of tracing.
    pub from: Option<PathBuf>,
    /// Playing speed of `from` (0: as fast as possible).
    pub speed: f64,
    /// Where to answer scrapes.
    pub listen: SocketAddr,
    /// What to trace, how, and for how long.
    pub probing: Probing,
}

/// How the source of events ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// It ran out (a recording's end, or the duration): keep serving.
    Finished,
    /// A signal stopped it: exit.
    Signalled,
}

/// Runs `serve` until SIGINT or SIGTERM; returns the exit code.
pub async fn run(opts: ServeOptions) -> anyhow::Result<i32> {
    let version = env!("CARGO_PKG_VERSION").to_owned();
    let mut registry = Registry::default();
    match &opts.from {
        Some(file) => {
            let mut rec = replay::open(file)?;
            let header = rec.header();
            let t0 = header.clock_monotonic_ns;
            let metrics = Metrics::new(
                &mut registry,
                Source {
                    kernel_release: header.kernel_release.clone(),
                    attach: live::recorded_methods(header),
                    source: "replay".to_owned(),
                    version,
                },
            );
            let mut collector = Collector::new(replay::checker(header)?, metrics);
            let listener = listen(opts.listen).await?;
            let only = ReplayOptions {
                pid: opts.probing.pid,
                comm: opts.probing.comm.clone(),
                ..ReplayOptions::default()
            };
            let clock = Clock::Replay {
                t0_ns: t0,
                wall0: Instant::now(),
                speed: opts.speed,
            };
            let feed = async {
                let play = live::source::play(&mut rec, clock, &only, &mut collector);
                let played = match opts.probing.duration {
                    Some(d) => tokio::time::timeout(d, play).await.ok(),
                    None => Some(play.await),
                };
                match played {
                    Some(r) => drop(r?),
                    // Out of time: the operations still open end here.
                    None => collector.finish(),
                }
                collector.aggregate().finish();
                eprintln!("procfs-trace: the recording is played: serving its final figures until stopped");
                Ok(Ended::Finished)
            };
            until_stopped(feed, http::serve(listener, Arc::new(registry))).await?;
        }
        None => {
            let mut tracer = opts.probing.start(false)?;
            let metrics = Metrics::new(
                &mut registry,
                Source {
                    kernel_release: tracer.kernel.release.clone(),
                    attach: live::live_methods(&tracer),
                    source: "live".to_owned(),
                    version,
                },
            );
            let mut collector = Collector::new(tracer.checker(), metrics);
            let listener = listen(opts.listen).await?;
            let feed = async {
                let stopped = tracer
                    .stream(None, opts.probing.duration, &mut collector)
                    .await?;
                collector.finish();
                Ok(match stopped {
                    Stopped::Signal(_) => Ended::Signalled,
                    _ => {
                        collector.aggregate().finish();
                        eprintln!("procfs-trace: the duration has passed: serving the final figures until stopped");
                        Ended::Finished
                    }
                })
            };
            until_stopped(feed, http::serve(listener, Arc::new(registry))).await?;
            // Dropping the tracer detaches the probes.
        }
    }
    Ok(0)
}

/// Binds the scrape address and says where it is (the line tests and
/// scripts wait for; with port 0 it names the port chosen).
async fn listen(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    let listener = http::bind(addr).await?;
    eprintln!(
        "procfs-trace: serving metrics at http://{}/metrics",
        listener.local_addr()?
    );
    Ok(listener)
}

/// Feeds and serves until a signal, or until the feed is stopped by one;
/// a feed that finishes leaves the server answering with final figures.
async fn until_stopped(
    feed: impl Future<Output = anyhow::Result<Ended>>,
    server: impl Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    tokio::pin!(feed);
    tokio::pin!(server);
    let mut fed = false;
    loop {
        tokio::select! {
            r = &mut feed, if !fed => {
                if r? == Ended::Signalled {
                    return Ok(());
                }
                fed = true;
            }
            r = &mut server => return r,
            _ = sigint.recv() => return Ok(()),
            _ = sigterm.recv() => return Ok(()),
        }
    }
}
