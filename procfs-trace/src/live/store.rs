//! The store the front ends read: session facts (source, kernel, clock,
//! events, losses), the aggregates of every operation, and those of the
//! operations a filter lets through.

use super::{filter::Filter, state::State, stats::Rate};
use crate::{agent::counts::CountsTick, check::Checked};

/// About the session rather than the operations.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// Where events come from: "live" or "replay FILE".
    pub source: String,
    /// Kernel release.
    pub kernel: String,
    /// How probes are attached.
    pub attach: String,
    /// Trace time the session started at.
    pub started_ns: u64,
    /// Where the one-second rate windows end: the newest event's time while
    /// events keep coming (the agent may lag the kernel, and rates should
    /// describe the events seen), the clock's when they stop (so rates decay).
    pub now_ns: u64,
    /// Trace time on the clock, for the uptime.
    pub clock_ns: u64,
    /// Events received.
    pub events: u64,
    /// Events in the last second.
    pub event_rate: Rate,
    /// Events the kernel could not deliver (every cause of `agent::losses`).
    pub lost: u64,
    /// Of `lost`, those no event flags (probe runs the kernel skipped or
    /// missed, failed map inserts): the kernel's counts miss them too.
    pub unflagged: u64,
    /// Losses in the last second: the view falls behind the ring buffer.
    pub lost_rate: Rate,
    /// Events read out of the ring buffer and not yet shown, as of the last
    /// reading of the loss counters: the view lags them.
    pub waiting: u64,
    /// The source has no more events (a recording played to its end).
    pub finished: bool,
    /// Rows of the kernel's counts it dropped to make room (see
    /// [`crate::agent::counts::CountsTick::dropped`]).
    pub counts_dropped: u64,
}

impl Meta {
    /// How long the session has run, in trace time.
    pub fn uptime_ns(&self) -> u64 {
        self.clock_ns
            .max(self.now_ns)
            .saturating_sub(self.started_ns)
    }
}

/// Everything the view reads: session facts, all aggregates, and the
/// aggregates of the filtered operations (from the moment the filter was set,
/// seeded with the recent flows it matches).
#[derive(Debug, Clone, Default)]
pub struct Store {
    /// Session facts.
    pub meta: Meta,
    /// Every operation.
    pub all: State,
    /// The filter and what passed it.
    pub filtered: Option<(Filter, State)>,
    /// `meta.events` at the last [`Store::advance`].
    events_at_advance: u64,
}

impl Store {
    /// An empty store.
    pub fn new(meta: Meta) -> Store {
        Store {
            meta,
            ..Store::default()
        }
    }

    /// Adds one checked operation, which `later` more of its batch follow.
    pub fn ingest(&mut self, c: Checked, later: usize) {
        if let Some((f, s)) = &mut self.filtered {
            if f.matches(&c.op) {
                // How many of the later ones pass the filter is not known yet.
                s.ingest(c.clone(), 0);
            }
        }
        self.all.ingest(c, later);
    }

    /// Counts one event at `ts_ns`.
    pub fn event(&mut self, ts_ns: u64) {
        self.meta.events += 1;
        self.meta.event_rate.add(ts_ns, 1);
        self.meta.now_ns = self.meta.now_ns.max(ts_ns);
    }

    /// Adds what the kernel counted since the previous tick: the unfiltered
    /// process and function tables then come from these counts.
    pub fn counted(&mut self, counts: &CountsTick) {
        self.meta.counts_dropped = counts.dropped;
        self.all.counted(counts, self.meta.now_ns);
    }

    /// Counts `new` lost events, `unflagged` of them unseen by the kernel's
    /// counts too, with `waiting` events still to come.
    pub fn lost(&mut self, new: u64, unflagged: u64, waiting: u64) {
        self.meta.waiting = waiting;
        self.meta.lost += new;
        self.meta.unflagged += unflagged;
        self.meta.lost_rate.add(self.meta.now_ns, new);
    }

    /// The clock reads `now_ns`: rate windows move to it only if no event
    /// came since the last call (see [`Meta::now_ns`]).
    pub fn advance(&mut self, now_ns: u64) {
        let m = &mut self.meta;
        m.clock_ns = m.clock_ns.max(now_ns);
        if m.events == self.events_at_advance {
            m.now_ns = m.now_ns.max(now_ns);
        }
        self.events_at_advance = m.events;
    }

    /// Sets (or clears, when empty) the filter.
    pub fn set_filter(&mut self, filter: Filter) {
        if filter.is_empty() {
            self.filtered = None;
            return;
        }
        let mut s = State::default();
        for c in self.all.flows.iter().filter(|c| filter.matches(&c.op)) {
            s.ingest(c.clone(), 0);
        }
        self.filtered = Some((filter, s));
    }

    /// The aggregates on show.
    pub fn view(&self) -> &State {
        self.filtered.as_ref().map_or(&self.all, |(_, s)| s)
    }

    /// The filter, if any.
    pub fn filter(&self) -> Option<&Filter> {
        self.filtered.as_ref().map(|(f, _)| f)
    }

    /// Which figures on show are exact and which miss lost events, when
    /// that is worth saying.
    pub fn fidelity(&self) -> Option<String> {
        let lost = self.meta.lost > 0;
        let sampled = if lost { "; paths, flows sampled" } else { "" };
        // The kernel counts in the probe programs: a run it skipped or
        // missed, or a row it could not insert, is missing there too.
        let (dropped, missed) = (self.meta.counts_dropped, self.meta.unflagged);
        match (self.view().exact, dropped, missed) {
            (true, 0, 0) => Some(format!("processes, functions exact{sampled}")),
            (true, _, _) => {
                let why: Vec<String> = [
                    (dropped, "kernel rows dropped for room"),
                    (missed, "probe runs missed"),
                ]
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, what)| format!("{n} {what}"))
                .collect();
                Some(format!(
                    "processes, functions near-exact ({}){sampled}",
                    why.join(", ")
                ))
            }
            (false, _, _) if lost => Some("tables sampled (lost events missing)".into()),
            (false, _, _) => None,
        }
    }

    /// Whether events were lost in the last second.
    pub fn behind(&self) -> u64 {
        self.meta.lost_rate.per_sec(self.meta.now_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::state::tests::checked;

    #[test]
    fn rates_follow_the_events_while_they_come_and_decay_when_they_stop() {
        let sec = 1_000_000_000;
        let mut st = Store::default();
        // The agent lags: events stamped at 10 s arrive when the clock says 12.
        for i in 0..100 {
            st.event(10 * sec + i);
        }
        st.advance(12 * sec);
        assert_eq!(st.meta.event_rate.per_sec(st.meta.now_ns), 100);
        assert_eq!(st.meta.uptime_ns(), 12 * sec);
        // Nothing more came: the window moves to the clock.
        st.advance(12 * sec + 1);
        assert_eq!(st.meta.event_rate.per_sec(st.meta.now_ns), 0);
    }

    #[test]
    fn the_status_says_which_figures_are_exact() {
        let mut st = Store::default();
        assert_eq!(st.fidelity(), None, "nothing lost, nothing to say");
        st.lost(5, 0, 0);
        assert_eq!(
            st.fidelity().unwrap(),
            "tables sampled (lost events missing)"
        );
        st.counted(&CountsTick::default());
        assert_eq!(
            st.fidelity().unwrap(),
            "processes, functions exact; paths, flows sampled"
        );
        st.counted(&CountsTick {
            rows: vec![],
            dropped: 3,
        });
        assert_eq!(
            st.fidelity().unwrap(),
            "processes, functions near-exact (3 kernel rows dropped for room); paths, flows sampled"
        );
        // Runs the kernel skipped are missing from its counts as well.
        st.lost(2, 2, 0);
        assert_eq!(
            st.fidelity().unwrap(),
            "processes, functions near-exact (3 kernel rows dropped for room, 2 probe runs missed); paths, flows sampled"
        );
        // A filter's figures come from the events that pass it.
        st.set_filter(Filter::parse("pid:1").unwrap());
        assert_eq!(
            st.fidelity().unwrap(),
            "tables sampled (lost events missing)"
        );
    }

    #[test]
    fn pids_fold_and_filters_seed_from_recent_flows() {
        let mut st = Store::default();
        st.ingest(checked(10, "/proc/10/stat", 1), 0);
        st.ingest(checked(11, "/proc/11/stat", 2), 0);
        st.ingest(checked(11, "/proc/11/status", 3), 0);
        assert_eq!(st.all.paths["/proc/[pid]/stat"].ops, 2);
        assert_eq!(st.all.path_breakdown("/proc/[pid]/stat").len(), 2);
        st.set_filter(Filter::parse("pid:11").unwrap());
        assert_eq!(st.view().ops, 2);
        st.ingest(checked(10, "/proc/10/stat", 4), 0);
        assert_eq!(st.view().ops, 2);
        assert_eq!(st.all.ops, 4);
        st.set_filter(Filter::default());
        assert_eq!(st.view().ops, 4);
    }
}
