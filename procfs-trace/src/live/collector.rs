//! The sink between the event stream and the state: rebuilds operations,
//! checks them against the model and adds them to the store.

use std::{cell::RefCell, io, rc::Rc};

use super::store::Store;
use crate::{
    agent::sink::{Lost, Sink},
    check::Checker,
    events::decode::Event,
    flows::builder::FlowBuilder,
    render::events::Symbolize,
};

/// Turns events into checked flows in a shared [`Store`].
pub struct Collector {
    builder: FlowBuilder,
    checker: Checker,
    store: Rc<RefCell<Store>>,
}

impl Collector {
    /// A collector checking with `checker` into `store`.
    pub fn new(checker: Checker, store: Rc<RefCell<Store>>) -> Collector {
        Collector {
            builder: FlowBuilder::new(),
            checker,
            store,
        }
    }

    /// Ends the operations still open (the stream is over).
    pub fn finish(&mut self) {
        let ops = self.builder.finish();
        self.add(ops);
    }

    fn add(&mut self, ops: Vec<crate::flows::op::Op>) {
        let mut store = self.store.borrow_mut();
        for op in ops {
            store.ingest(self.checker.check(op));
        }
    }
}

impl Sink for Collector {
    fn event(&mut self, _raw: &[u8], ev: &Event, symbolize: Symbolize) -> io::Result<()> {
        self.builder.push(ev, symbolize);
        self.store.borrow_mut().event(ev.origin().ts_ns);
        Ok(())
    }

    fn tick(&mut self, lost: Lost) -> io::Result<()> {
        // Flows are released only here, as in `trace`, so a loss marks every
        // flow that may have been hit by it.
        let ops = self.builder.release(lost.window());
        self.add(ops);
        self.store.borrow_mut().lost(lost.new);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
