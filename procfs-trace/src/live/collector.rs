//! The sink between the event stream and the aggregates: rebuilds
//! operations, checks them against the model and hands them on, to the live
//! view's store or to `serve`'s metrics.

use std::{cell::RefCell, io, rc::Rc};

use super::store::Store;
use crate::{
    agent::{
        counts::CountsTick,
        sink::{Lost, Sink},
    },
    check::{Checked, Checker},
    events::{decode::Event, Symbolize},
    flows::builder::FlowBuilder,
};

/// What checked operations are added up in.
pub trait Aggregate {
    /// An event stamped `ts_ns` arrived.
    fn event(&mut self, ts_ns: u64);
    /// One checked operation, which `later` more of its batch follow.
    fn ingest(&mut self, c: Checked, later: usize);
    /// The kernel's loss counters were read.
    fn lost(&mut self, lost: Lost);
    /// Whether the kernel's own counts are wanted (see [`Sink::wants_counts`]).
    fn wants_counts(&self) -> bool {
        false
    }
    /// The kernel's own counts were read.
    fn counted(&mut self, _counts: &CountsTick) {}
}

impl Aggregate for Rc<RefCell<Store>> {
    fn event(&mut self, ts_ns: u64) {
        self.borrow_mut().event(ts_ns);
    }

    fn ingest(&mut self, c: Checked, later: usize) {
        self.borrow_mut().ingest(c, later);
    }

    fn lost(&mut self, lost: Lost) {
        self.borrow_mut()
            .lost(lost.new, lost.unflagged, lost.waiting);
    }

    fn wants_counts(&self) -> bool {
        true
    }

    fn counted(&mut self, counts: &CountsTick) {
        self.borrow_mut().counted(counts);
    }
}

/// Turns events into checked flows in an [`Aggregate`].
pub struct Collector<A> {
    builder: FlowBuilder,
    checker: Checker,
    agg: A,
}

impl<A: Aggregate> Collector<A> {
    /// A collector checking with `checker` into `agg`.
    pub fn new(checker: Checker, agg: A) -> Collector<A> {
        Collector {
            builder: FlowBuilder::new(),
            checker,
            agg,
        }
    }

    /// What the operations are added up in.
    pub fn aggregate(&mut self) -> &mut A {
        &mut self.agg
    }

    /// Ends the operations still open (the stream is over).
    pub fn finish(&mut self) {
        let ops = self.builder.finish();
        self.add(ops);
    }

    fn add(&mut self, ops: Vec<crate::flows::op::Op>) {
        let n = ops.len();
        for (i, op) in ops.into_iter().enumerate() {
            self.agg.ingest(self.checker.check(op), n - 1 - i);
        }
    }
}

impl<A: Aggregate> Sink for Collector<A> {
    fn event(&mut self, _raw: &[u8], ev: Event, symbolize: Symbolize) -> io::Result<()> {
        self.agg.event(ev.origin().ts_ns);
        self.builder.push(ev, symbolize);
        Ok(())
    }

    fn tick(&mut self, lost: Lost) -> io::Result<()> {
        // Flows are released only here, as in `trace`, so a loss marks every
        // flow that may have been hit by it.
        let ops = self.builder.release(lost.window());
        self.add(ops);
        self.agg.lost(lost);
        Ok(())
    }

    fn wants_counts(&self) -> bool {
        self.agg.wants_counts()
    }

    fn counted(&mut self, counts: &CountsTick) -> io::Result<()> {
        self.agg.counted(counts);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
