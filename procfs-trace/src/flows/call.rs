//! One probed function call: its entry, its exit if seen, and the calls it made.

use std::sync::Arc;

use procfs_trace_common::ProbeId;
use serde::Serialize;

use crate::{events::decode::ProbeHit, model::mount::MountOpts};

/// A call to a probed kernel function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Call {
    /// The function.
    pub probe: ProbeId,
    /// Entry time.
    pub start_ns: u64,
    /// Return time; `None` when the exit never came (lost, or not probed).
    pub end_ns: Option<u64>,
    /// The dentry or file name read at entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Readdir position at entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pos_in: Option<i64>,
    /// Readdir position at exit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pos_out: Option<i64>,
    /// Return value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ret: Option<i64>,
    /// Show callback (resolved name), for read functions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show: Option<Arc<str>>,
    /// The proc mount's options, for the functions that read them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount: Option<MountOpts>,
    /// For /proc/self and /proc/thread-self links: the thread's id in the
    /// mount's pid namespace (`pos_in` is the tgid there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ns_tid: Option<i64>,
    /// Calls made from this one, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Call>,
}

/// A seq_file show callback that ran.
#[derive(Debug, Clone, Copy)]
pub struct ShowRun<'a> {
    /// Its name.
    pub callback: &'a str,
    /// Its own call when probed, else the call it ran inside.
    pub call: &'a Call,
}

impl ShowRun<'_> {
    /// Whether it only handed over to another show callback (as
    /// proc_single_show does to a pid entry's), rather than producing the
    /// text itself.
    pub fn delegates(&self) -> bool {
        self.call.func() == self.callback && self.call.show.is_some()
    }
}

impl Call {
    /// A call opened by `hit`, whose name it takes; `show` is its callback
    /// already resolved to a name.
    pub fn open(hit: &mut ProbeHit, show: Option<Arc<str>>) -> Call {
        Call {
            probe: hit.probe,
            start_ns: hit.origin.ts_ns,
            end_ns: None,
            name: hit.name.take(),
            pos_in: hit.pos,
            pos_out: None,
            ret: None,
            show,
            mount: hit.mount,
            ns_tid: hit.ns_tid,
            children: Vec::new(),
        }
    }

    /// Records the function's return.
    pub fn close(&mut self, hit: &ProbeHit) {
        self.end_ns = Some(hit.origin.ts_ns);
        self.ret = hit.ret;
        self.pos_out = hit.pos;
    }

    /// The kernel function's name.
    pub fn func(&self) -> &'static str {
        self.probe.def().func
    }

    /// Time spent in the call, when its exit was seen.
    pub fn duration_ns(&self) -> Option<u64> {
        self.end_ns.map(|e| e.saturating_sub(self.start_ns))
    }

    /// The show callback this call ran itself: the one it names, unless a
    /// call below it names the same one (the read that really ran it; a
    /// splice reads the file once per call).
    pub fn served_show(&self) -> Option<&str> {
        let show = self.show.as_deref()?;
        let named_below = self
            .children
            .iter()
            .flat_map(Call::walk)
            .any(|c| c.show.as_deref() == Some(show));
        (!named_below).then_some(show)
    }

    /// The show callback that ran under this call, and the call it ran in:
    /// a probed callback in its own call (none in the tree: it did not run,
    /// as when a read at end of file is served from the buffer), an
    /// unprobed one inside the innermost call naming it.
    pub fn show_run(&self) -> Option<ShowRun<'_>> {
        let callback = self.served_show()?;
        if ProbeId::by_name(callback).is_none() {
            return Some(ShowRun {
                callback,
                call: self,
            });
        }
        self.children
            .iter()
            .flat_map(Call::walk)
            .find(|c| c.func() == callback)
            .map(|call| ShowRun { callback, call })
    }

    /// When the call ended: its exit, else the last exit below it, else
    /// its entry (an exit never seen).
    pub fn span_end(&self) -> u64 {
        self.end_ns
            .unwrap_or_else(|| last_end(&self.children).unwrap_or(self.start_ns))
    }

    /// This call and all below it, depth first.
    pub fn walk(&self) -> impl Iterator<Item = &Call> {
        let mut stack = vec![self];
        std::iter::from_fn(move || {
            let call = stack.pop()?;
            stack.extend(call.children.iter().rev());
            Some(call)
        })
    }
}

/// The last exit seen in `calls` or below them.
pub fn last_end(calls: &[Call]) -> Option<u64> {
    calls
        .iter()
        .filter_map(|c| c.end_ns.or_else(|| last_end(&c.children)))
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(start_ns: u64, children: Vec<Call>) -> Call {
        Call {
            probe: ProbeId::ProcLookup,
            start_ns,
            end_ns: None,
            name: None,
            pos_in: None,
            pos_out: None,
            ret: None,
            show: None,
            mount: None,
            ns_tid: None,
            children,
        }
    }

    #[test]
    fn walk_visits_depth_first_in_call_order() {
        let tree = call(
            0,
            vec![
                call(1, vec![call(2, vec![call(3, vec![])]), call(4, vec![])]),
                call(5, vec![]),
                call(6, vec![call(7, vec![])]),
            ],
        );
        let order: Vec<u64> = tree.walk().map(|c| c.start_ns).collect();
        assert_eq!(order, [0, 1, 2, 3, 4, 5, 6, 7]);
    }
}
