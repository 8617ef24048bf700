//! `serve`: a headless agent that keeps the live view's kind of figures
//! (operations by verdict, kernel calls and latencies, show callbacks,
//! bytes, losses) and exports them: for Prometheus at `/metrics`, and over
//! OTLP to an OpenTelemetry collector.
//!
//! `metrics` makes the observations and caps their labels; `prometheus` and
//! `otlp` are the exporters; `http` answers scrapes.

pub mod http;
pub mod metrics;
pub mod otlp;
pub mod prometheus;

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Instant};

use prometheus_client::registry::Registry;
use tokio::signal::unix::{signal, SignalKind};

use self::{
    metrics::{Figures, Metrics, Source},
    otlp::Otlp,
    prometheus::Prometheus,
};
use crate::{
    agent::tracer::{Counting, Probing, Stopped},
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
    /// Also push to this OTLP/HTTP endpoint (the collector's base URL).
    pub otlp: Option<String>,
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

/// The exporters of one session.
struct Exports {
    metrics: Metrics,
    registry: Registry,
    listener: tokio::net::TcpListener,
    otlp: Option<Otlp>,
}

impl Exports {
    /// Binds the scrape address, then sets up the OTLP export if asked.
    async fn start(opts: &ServeOptions, source: Source) -> anyhow::Result<Exports> {
        let listener = listen(opts.listen).await?;
        let mut registry = Registry::default();
        let mut figures: Vec<Box<dyn Figures>> =
            vec![Box::new(Prometheus::new(&mut registry, source.clone()))];
        let otlp = match &opts.otlp {
            Some(url) => {
                let (otlp, f) = Otlp::start(url, &source).await?;
                figures.push(Box::new(f));
                eprintln!("procfs-trace: pushing metrics and divergences over OTLP to {url}");
                Some(otlp)
            }
            None => None,
        };
        Ok(Exports {
            metrics: Metrics::new(figures),
            registry,
            listener,
            otlp,
        })
    }
}

/// Runs `serve` until SIGINT or SIGTERM; returns the exit code.
pub async fn run(opts: ServeOptions) -> anyhow::Result<i32> {
    let version = env!("CARGO_PKG_VERSION").to_owned();
    let (served, otlp) = match &opts.from {
        Some(file) => {
            let mut rec = replay::open(file)?;
            let header = rec.header();
            let t0 = header.clock_monotonic_ns;
            let checker = replay::checker(header)?;
            let exports = Exports::start(
                &opts,
                Source {
                    kernel_release: header.kernel_release.clone(),
                    attach: live::recorded_methods(header),
                    source: "replay".to_owned(),
                    version,
                },
            )
            .await?;
            let mut collector = Collector::new(checker, exports.metrics);
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
            let server = http::serve(exports.listener, Arc::new(exports.registry));
            (until_stopped(feed, server, false).await, exports.otlp)
        }
        None => {
            let mut tracer = opts.probing.start(false, Counting::Off)?;
            let exports = Exports::start(
                &opts,
                Source {
                    kernel_release: tracer.kernel.release.clone(),
                    attach: live::live_methods(&tracer),
                    source: "live".to_owned(),
                    version,
                },
            )
            .await?;
            let mut collector = Collector::new(tracer.checker(), exports.metrics);
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
            let server = http::serve(exports.listener, Arc::new(exports.registry));
            // The tracer stops on SIGINT/SIGTERM itself, keeping its last events.
            (until_stopped(feed, server, true).await, exports.otlp)
            // Dropping the tracer detaches the probes.
        }
    };
    // The last figures go out whatever ended the session.
    let flushed = match otlp {
        Some(o) => o.shutdown().await,
        None => Ok(()),
    };
    served.and(flushed).map(|()| 0)
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

/// Feeds and serves until a signal, or until the feed is stopped by one
/// (`feed_stops_on_signals`: the tracer's stream, which keeps its last
/// events); a feed that finishes leaves the server answering with final
/// figures.
async fn until_stopped(
    feed: impl Future<Output = anyhow::Result<Ended>>,
    server: impl Future<Output = anyhow::Result<()>>,
    feed_stops_on_signals: bool,
) -> anyhow::Result<()> {
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    tokio::pin!(feed);
    tokio::pin!(server);
    let mut fed = false;
    loop {
        let ours = fed || !feed_stops_on_signals;
        tokio::select! {
            r = &mut feed, if !fed => {
                if r? == Ended::Signalled {
                    return Ok(());
                }
                fed = true;
            }
            r = &mut server => return r,
            _ = sigint.recv(), if ours => return Ok(()),
            _ = sigterm.recv(), if ours => return Ok(()),
        }
    }
}
