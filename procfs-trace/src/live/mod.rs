//! `live`: a top-like view of who hits procfs, which paths and show
//! callbacks cost kernel time, and what diverges from the model.
//!
//! The collector (`collector`, `source`) feeds the state (`state`); the
//! front ends (`view` for the terminal, `plain` for text) only read it.

pub mod app;
pub mod collector;
pub mod filter;
pub mod input;
pub mod plain;
pub mod recent;
pub mod sort;
pub mod source;
pub mod state;
pub mod stats;
pub mod store;
pub mod term;
pub mod view;

#[cfg(test)]
mod tests;

use std::{
    cell::RefCell,
    io::{self, IsTerminal as _},
    path::PathBuf,
    rc::Rc,
    time::{Duration, Instant},
};

use tokio::signal::unix::{signal, SignalKind};

use self::{
    app::Ui,
    collector::Collector,
    filter::Filter,
    source::Clock,
    store::{Meta, Store},
};
use crate::{
    agent::tracer::{Counting, Probing, Tracer},
    replay::{self, ReplayOptions},
};

/// How often the terminal view redraws.
const FRAME: Duration = Duration::from_millis(250);
/// How often keys are looked for.
const KEY_POLL: Duration = Duration::from_millis(40);
/// Rows per table in the final summary.
const SUMMARY_ROWS: usize = 20;
/// Rows per table in the periodic plain output.
const PLAIN_ROWS: usize = 10;

/// What the user asked `live` for.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Play this recording instead of tracing.
    pub from: Option<PathBuf>,
    /// Playing speed (0: as fast as possible).
    pub speed: f64,
    /// Plain-text tables instead of the terminal view.
    pub plain: bool,
    /// Plain-text tables every this long.
    pub interval: Duration,
    /// Initial path glob filter of the view.
    pub path: Option<String>,
    /// What to trace (pid and comm also select a recording's events), how,
    /// and for how long.
    pub probing: Probing,
}

/// Runs `live`; returns the exit code.
pub async fn run(opts: LiveOptions) -> anyhow::Result<i32> {
    let plain = opts.plain || !io::stdout().is_terminal();
    let store = match &opts.from {
        Some(file) => {
            let mut rec = replay::open(file)?;
            // The recorder's start: playing keeps the pause before its first event.
            let t0 = rec.header().clock_monotonic_ns;
            let store = new_store(
                Meta {
                    source: format!(
                        "replay {} {}",
                        file.file_name()
                            .unwrap_or(file.as_os_str())
                            .to_string_lossy(),
                        match opts.speed {
                            0.0 => "unpaced".to_owned(),
                            x => format!("×{x}"),
                        }
                    ),
                    kernel: rec.header().kernel_release.clone(),
                    attach: recorded_methods(rec.header()),
                    started_ns: t0,
                    now_ns: t0,
                    ..Meta::default()
                },
                &opts,
            );
            let clock = Clock::Replay {
                t0_ns: t0,
                wall0: Instant::now(),
                speed: opts.speed,
            };
            let mut collector = Collector::new(replay::checker(rec.header())?, store.clone());
            let only = ReplayOptions {
                pid: opts.probing.pid,
                comm: opts.probing.comm.clone(),
                ..ReplayOptions::default()
            };
            let feed = async {
                source::play(&mut rec, clock, &only, &mut collector).await?;
                store.borrow_mut().meta.finished = true;
                Ok(())
            };
            // A recording that ends leaves the terminal view up until `q`.
            drive(feed, &store, clock, &opts, plain, !plain).await?;
            store
        }
        None => {
            let mut tracer = opts.probing.start(false, Counting::InKernel)?;
            let now = source::monotonic_ns();
            let store = new_store(
                Meta {
                    source: "live".to_owned(),
                    kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                        .map(|s| s.trim().to_owned())
                        .unwrap_or_default(),
                    attach: live_methods(&tracer),
                    started_ns: now,
                    now_ns: now,
                    ..Meta::default()
                },
                &opts,
            );
            let checker = tracer.checker();
            let mut collector = Collector::new(checker, store.clone());
            // The tracer stops by itself on SIGINT/SIGTERM; when the view ends
            // first, this future is dropped mid-stream.
            let feed = async {
                tracer.stream(None, None, &mut collector).await?;
                Ok(())
            };
            let fed = drive(feed, &store, Clock::Live, &opts, plain, false).await?;
            if !fed {
                // The view ended first (its own signal handler, --duration):
                // what came since the last tick is still to be taken.
                tracer.finish(&mut collector).await?;
            }
            collector.finish();
            // The status line has the total; the causes say what to change.
            eprintln!(
                "procfs-trace: {} events, {}",
                tracer.events,
                tracer.losses()
            );
            if let Some(skips) = tracer.describe_skips() {
                eprintln!("procfs-trace: {skips}");
            }
            // Dropping the tracer here detaches the probes before the summary.
            store
        }
    };
    let s = store.borrow();
    match plain::write_tables(
        &s,
        &format!("summary after {:.1} s", s.meta.uptime_ns() as f64 / 1e9),
        SUMMARY_ROWS,
        &mut io::stdout().lock(),
    ) {
        // A reader that closed the pipe (`| head`) has what it wanted.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(0),
        r => r.map(|()| 0).map_err(Into::into),
    }
}

fn new_store(meta: Meta, opts: &LiveOptions) -> Rc<RefCell<Store>> {
    let mut store = Store::new(meta);
    if let Some(glob) = &opts.path {
        store.set_filter(Filter {
            path: Some(glob.clone()),
            ..Filter::default()
        });
    }
    Rc::new(RefCell::new(store))
}

/// Runs the source and the front end until the front end ends (`q`), the
/// duration passes, a signal comes, or the source ends (unless `linger`);
/// returns whether the source ended. Dropping the terminal view restores the
/// terminal.
async fn drive(
    feed: impl std::future::Future<Output = anyhow::Result<()>>,
    store: &Rc<RefCell<Store>>,
    clock: Clock,
    opts: &LiveOptions,
    plain: bool,
    linger: bool,
) -> anyhow::Result<bool> {
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let deadline = opts
        .probing
        .duration
        .map(|d| tokio::time::Instant::now() + d);
    let front = async {
        if plain {
            plain_loop(store, clock, opts.interval).await
        } else {
            tui_loop(store, clock).await
        }
    };
    tokio::pin!(feed);
    tokio::pin!(front);
    let mut fed = false;
    loop {
        tokio::select! {
            r = &mut feed, if !fed => {
                r?;
                fed = true;
                if !linger {
                    break;
                }
            }
            r = &mut front => {
                r?;
                break;
            }
            _ = async { tokio::time::sleep_until(deadline.expect("guarded")).await }, if deadline.is_some() => break,
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
        }
    }
    catch_up(&mut store.borrow_mut(), clock);
    Ok(fed)
}

/// Moves the store to the clock's time, when the clock runs on its own.
fn catch_up(store: &mut Store, clock: Clock) {
    if let Some(now) = clock.now_ns() {
        store.advance(now);
    }
}

/// Plain tables every `interval`, until standard output closes.
async fn plain_loop(
    store: &Rc<RefCell<Store>>,
    clock: Clock,
    interval: Duration,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(interval);
    tick.tick().await;
    loop {
        tick.tick().await;
        let mut s = store.borrow_mut();
        catch_up(&mut s, clock);
        let up = s.meta.uptime_ns();
        let mut out = io::stdout().lock();
        match plain::write_tables(
            &s,
            &format!("up {}", plain::uptime(up)),
            PLAIN_ROWS,
            &mut out,
        ) {
            // A closed pipe ends the output, not the session.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
            r => r?,
        }
    }
}

/// The terminal view until `q`.
async fn tui_loop(store: &Rc<RefCell<Store>>, clock: Clock) -> anyhow::Result<()> {
    use crossterm::event::{self, Event};
    let (mut terminal, _guard) = term::enter()?;
    let mut ui = Ui::default();
    let mut poll = tokio::time::interval(KEY_POLL);
    let mut drawn: Option<Instant> = None;
    loop {
        poll.tick().await;
        let mut dirty = false;
        while event::poll(Duration::ZERO)? {
            match event::read()? {
                Event::Key(key) => {
                    if let Some(a) = input::action(key, ui.input.is_some()) {
                        if ui.apply(a, &mut store.borrow_mut()) {
                            return Ok(());
                        }
                        dirty = true;
                    }
                }
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
        if dirty || drawn.is_none_or(|t| t.elapsed() >= FRAME) {
            let mut s = store.borrow_mut();
            catch_up(&mut s, clock);
            terminal.draw(|f| view::draw(f, &s, &ui))?;
            drawn = Some(Instant::now());
        }
    }
}

/// "kprobe", "fentry", or "fentry 30 + kprobe 9".
fn describe_methods(methods: impl Iterator<Item = String>) -> String {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for m in methods {
        *counts.entry(m).or_default() += 1;
    }
    match counts.len() {
        0 => "unknown".to_owned(),
        1 => counts.into_keys().next().unwrap_or_default(),
        _ => counts
            .iter()
            .map(|(m, n)| format!("{m} {n}"))
            .collect::<Vec<_>>()
            .join(" + "),
    }
}

/// How a tracer's probes are attached, summed up.
pub(crate) fn live_methods(tracer: &Tracer) -> String {
    describe_methods(tracer.attached().map(|(_, m)| m.as_str().to_owned()))
}

/// How a recording's probes were attached, summed up.
pub(crate) fn recorded_methods(header: &crate::recording::format::Header) -> String {
    describe_methods(header.probes.iter().map(|p| match p.method.as_str() {
        "" => "kprobe".to_owned(),
        m => m.to_owned(),
    }))
}
