//! Where streamed events go: the raw event printer, or flows checked against
//! the model.

use std::io::{self, BufWriter, Write};

use super::counts::CountsTick;
use crate::{
    check::{tally::Tally, Checked, Checker},
    events::{decode::Event, Symbolize},
    flows::{
        builder::{FlowBuilder, Losses, Window},
        op::Op,
    },
    recording::writer::Reading,
    render::{
        events::{self as render, Format, Renderer},
        print,
    },
};

/// A consumer of the event stream.
pub trait Sink {
    /// One event: the bytes the kernel wrote, and their decoding (given
    /// away, so flows keep its names without copying them).
    fn event(&mut self, raw: &[u8], ev: Event, symbolize: Symbolize) -> io::Result<()>;
    /// The kernel's loss counters were read.
    fn tick(&mut self, lost: Lost) -> io::Result<()>;
    /// Whether the kernel's own counts are wanted: reading them costs a
    /// syscall per row each tick, so only the live view's aggregates do.
    fn wants_counts(&self) -> bool {
        false
    }
    /// The kernel's own counts were read (when wanted).
    fn counted(&mut self, _counts: &CountsTick) -> io::Result<()> {
        Ok(())
    }
    /// A batch of events or a tick ended: what was written goes out now.
    fn flush(&mut self) -> io::Result<()>;
}

/// What the kernel lost since the previous tick, and in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lost {
    /// Lost since the previous tick, every cause.
    pub new: u64,
    /// Of `new`, the losses no event flags (probe runs the kernel skipped,
    /// kprobe misses, failed map inserts, records unread at exit): they may
    /// have cut any operation of the window short, a followed syscall too.
    pub unflagged: u64,
    /// Lost in all.
    pub total: u64,
    /// Kernel time (CLOCK_MONOTONIC ns) before the previous tick read the
    /// counters: no loss counted in `new` is older.
    pub from_ns: u64,
    /// Kernel time after this tick read them: no loss in `new` is newer.
    pub to_ns: u64,
    /// Records read out of the ring buffer and not yet taken: how far the
    /// stream lags the kernel (none when replaying).
    pub waiting: u64,
}

impl Lost {
    /// The reading these losses come from, as a recording keeps it; none
    /// when the counters were not read.
    pub fn reading(&self) -> Option<Reading> {
        (self.to_ns != 0).then_some(Reading {
            from_ns: self.from_ns,
            to_ns: self.to_ns,
        })
    }

    /// What these losses were and when, for the operations they may have hit.
    pub fn window(&self) -> Window {
        let losses = match (self.new, self.unflagged) {
            (0, 0) => Losses::None,
            (_, 0) => Losses::Flagged,
            _ => Losses::Unflagged,
        };
        Window {
            losses,
            from_ns: self.from_ns,
            to_ns: self.to_ns,
        }
    }
}

/// Writes to `out` until the reader goes away (a closed pipe ends output
/// quietly). Buffered: a line is a dozen small writes, each a syscall on an
/// unbuffered file, and every syscall of the agent's runs the syscall
/// tracepoints too. The sinks flush after each batch and tick.
pub struct Output {
    out: BufWriter<Box<dyn Write>>,
    closed: bool,
}

/// The output buffer: a batch of events is flushed in a few writes.
const OUTPUT_BUFFER: usize = 64 << 10;

impl Output {
    /// Output to `out`.
    pub fn new(out: Box<dyn Write>) -> Output {
        Output {
            out: BufWriter::with_capacity(OUTPUT_BUFFER, out),
            closed: false,
        }
    }

    fn write(&mut self, f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        match f(&mut self.out) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }

    /// Sends what is buffered on.
    fn flush(&mut self) -> io::Result<()> {
        self.write(|w| w.flush())
    }
}

/// Prints every event as it comes.
pub struct RawSink {
    renderer: Renderer,
    out: Output,
}

impl RawSink {
    /// A printer in `format`; `indent` nests by call depth.
    pub fn new(format: Format, indent: bool, out: Output) -> RawSink {
        RawSink {
            renderer: Renderer::new(format, indent),
            out,
        }
    }

    /// Prints the calls still waiting for a syscall's record (it was lost).
    pub fn finish(&mut self) -> io::Result<()> {
        let r = &mut self.renderer;
        self.out.write(|w| r.finish(&mut &mut *w))?;
        self.out.flush()
    }
}

impl Sink for RawSink {
    fn event(&mut self, _raw: &[u8], ev: Event, symbolize: Symbolize) -> io::Result<()> {
        let r = &mut self.renderer;
        self.out.write(|w| r.event(ev, symbolize, &mut &mut *w))
    }
    fn tick(&mut self, lost: Lost) -> io::Result<()> {
        if lost.new == 0 {
            return Ok(());
        }
        let r = &mut self.renderer;
        self.out
            .write(|w| r.lost(lost.new, lost.total, &mut &mut *w))
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Which operations a [`FlowSink`] reports.
pub type OpFilter = Box<dyn Fn(&Op) -> bool>;

/// Rebuilds operations, checks them and prints each with its verdict.
pub struct FlowSink {
    builder: FlowBuilder,
    checker: Checker,
    format: Format,
    out: Output,
    /// Checked operations counted so far.
    pub tally: Tally,
    /// Checked operations kept for the caller (tour), when asked to.
    pub kept: Option<Vec<Checked>>,
    /// Whether operations are printed.
    pub print: bool,
    /// Only operations this accepts are counted, printed and kept.
    pub filter: Option<OpFilter>,
}

impl FlowSink {
    /// A flow printer in `format`.
    pub fn new(checker: Checker, format: Format, out: Output) -> FlowSink {
        FlowSink {
            builder: FlowBuilder::new(),
            checker,
            format,
            out,
            tally: Tally::default(),
            kept: None,
            print: true,
            filter: None,
        }
    }

    /// Ends every operation still open (as incomplete) and checks it.
    pub fn finish(&mut self) -> io::Result<()> {
        let ops = self.builder.finish();
        self.emit(ops)?;
        self.out.flush()
    }

    fn emit(&mut self, ops: Vec<Op>) -> io::Result<()> {
        for op in ops {
            // Every operation is checked, so the dcache state stays whole.
            let checked = self.checker.check(op);
            if self.filter.as_ref().is_some_and(|f| !f(&checked.op)) {
                continue;
            }
            self.tally.add(&checked);
            if self.print {
                let format = self.format;
                self.out
                    .write(|w| print::print(&checked, format, &mut &mut *w))?;
            }
            if let Some(kept) = &mut self.kept {
                kept.push(checked);
            }
        }
        Ok(())
    }
}

impl Sink for FlowSink {
    fn event(&mut self, _raw: &[u8], ev: Event, symbolize: Symbolize) -> io::Result<()> {
        self.builder.push(ev, symbolize);
        Ok(())
    }
    fn tick(&mut self, lost: Lost) -> io::Result<()> {
        if lost.new > 0 {
            let format = self.format;
            self.out
                .write(|w| render::write_lost(format, lost.new, lost.total, &mut &mut *w))?;
        }
        let ops = self.builder.release(lost.window());
        self.emit(ops)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::{cell::RefCell, rc::Rc};

    use super::*;

    /// Records each write call it gets.
    struct Writes(Rc<RefCell<Vec<usize>>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().push(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn output_reaches_its_file_in_one_write_per_flush() {
        let writes = Rc::new(RefCell::new(Vec::new()));
        let mut out = Output::new(Box::new(Writes(writes.clone())));
        let mut written = 0;
        for i in 0..100 {
            let line = format!("{i:>4} seq_read_iter ret={}\n", i * 2);
            written += line.len();
            // Several writes per line, as a renderer makes them.
            out.write(|w| {
                write!(w, "{i:>4} seq_read_iter ")?;
                writeln!(w, "ret={}", i * 2)
            })
            .unwrap();
        }
        assert!(writes.borrow().is_empty(), "nothing before the flush");
        out.flush().unwrap();
        assert_eq!(*writes.borrow(), vec![written]);
    }
}
