//! One probed function call: its entry, its exit if seen, and the calls it made.

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
    pub show: Option<String>,
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

impl Call {
    /// A call opened by `hit`; `show` is its callback already resolved to a name.
    pub fn open(hit: &ProbeHit, show: Option<String>) -> Call {
        Call {
            probe: hit.probe,
            start_ns: hit.origin.ts_ns,
            end_ns: None,
            name: hit.name.clone(),
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
