//! Predictions made once and reused: most operations walk paths that earlier
//! ones walked, in a process that differs only in its numbers (see
//! [`super::canon`]), under the same dcache answers.
//!
//! A prediction is a pure function of the operation's facts, the kernel and
//! the dcache states the model asks for. So it is kept under its facts with
//! the answers it was given, and reused only when asking the same questions
//! again gives the same answers: the model would then ask nothing else and
//! predict the same.

use std::{cell::RefCell, collections::HashSet, sync::Arc};

use procfs_trace_common::{ProbeId, Syscall};

use crate::{
    bounded::BoundedMap,
    model::{
        self,
        expect::{Narrowed, Prediction},
        func::Func,
        kernel::KernelFacts,
        mount::MountOpts,
        unmodelled::Unmodelled,
        walk::{Cached, Node},
        OpFacts, OpKind, ReadShape,
    },
};

/// Walk and listing facts kept for reuse, at most.
const MAX_OPS: usize = 16384;

/// Predictions kept per facts, at most (one per combination of dcache
/// answers seen: cold, then warm, mostly).
const MAX_VARIANTS: usize = 8;

/// Read predictions kept for reuse, at most (one per kind of file and outcome).
const MAX_READ_SHAPES: usize = 4096;

/// Nodes of read paths kept for reuse, at most (about one per open file).
const MAX_READ_NODES: usize = 16384;

/// The dcache state of a dentry by its full path, as the model asks it.
pub type DcacheState<'a> = &'a dyn Fn(&str) -> Cached;

/// A prediction narrowed to the probed functions, ready to compare.
#[derive(Debug)]
pub struct Ready {
    /// The alternatives.
    pub narrowed: Narrowed,
    /// Functions that may appear anywhere.
    pub extras: Vec<ProbeId>,
}

impl Ready {
    /// `prediction` narrowed to the functions in `probed`.
    fn new(prediction: Prediction, probed: &HashSet<ProbeId>) -> Ready {
        let probed = |f: Func| f.probe().is_some_and(|id| probed.contains(&id));
        Ready {
            extras: prediction.extras.iter().map(|(f, _)| *f).collect(),
            narrowed: Narrowed::new(prediction.segments, &probed),
        }
    }
}

/// A walk's or listing's prediction, with what the checker needs besides.
#[derive(Debug)]
pub struct Walked {
    /// The prediction.
    pub ready: Ready,
    /// Dentries the walk looks up or revalidates, by full path.
    pub dentries: Vec<String>,
    /// For a sendfile: the bytes its reads must account for.
    pub spliced: Option<i64>,
}

/// One prediction and the dcache answers it was made under.
#[derive(Debug, Clone)]
pub(super) struct Variant {
    answers: Vec<(String, Cached)>,
    outcome: Arc<Result<Walked, Unmodelled>>,
}

/// Everything a walk's or listing's prediction depends on besides the
/// kernel and the dcache.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct FactsKey {
    kind: OpKind,
    syscall: Option<Syscall>,
    at_flags: u32,
    path: String,
    tgid: u32,
    tid: u32,
    pos_in: Option<i64>,
    ret: Option<i64>,
    first_read: Option<bool>,
    mount: MountOpts,
    start_dir: Option<String>,
}

impl FactsKey {
    fn of(f: &OpFacts) -> FactsKey {
        FactsKey {
            kind: f.kind,
            syscall: f.syscall,
            at_flags: f.at_flags,
            path: f.path.to_owned(),
            tgid: f.tgid,
            tid: f.tid,
            pos_in: f.pos_in,
            ret: f.deciding_ret(),
            first_read: f.first_read,
            mount: f.mount,
            start_dir: f.start_dir.map(str::to_owned),
        }
    }
}

/// What the node a read's path walks to depends on besides the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct NodeKey {
    path: String,
    tgid: u32,
    tid: u32,
    mount: MountOpts,
    start_dir: Option<String>,
}

/// The predictions of one checker's kernel and probes.
#[derive(Debug, Clone)]
pub struct Predictions {
    /// Walk and listing predictions by their facts.
    pub(super) ops: BoundedMap<FactsKey, Vec<Variant>>,
    /// Read predictions by the shape that decides them: most reads are of
    /// files other reads already predicted.
    pub(super) reads: BoundedMap<ReadShape, Arc<Ready>>,
    /// The nodes read paths walk to.
    nodes: BoundedMap<NodeKey, Node>,
}

impl Default for Predictions {
    fn default() -> Self {
        Predictions {
            ops: BoundedMap::new(MAX_OPS),
            reads: BoundedMap::new(MAX_READ_SHAPES),
            nodes: BoundedMap::new(MAX_READ_NODES),
        }
    }
}

impl Predictions {
    /// The prediction for a walk or a listing (not a read).
    pub fn walk(
        &mut self,
        facts: &OpFacts,
        kernel: &KernelFacts,
        probed: &HashSet<ProbeId>,
        dcache: DcacheState,
    ) -> Arc<Result<Walked, Unmodelled>> {
        let key = FactsKey::of(facts);
        let known = self.ops.get(&key).and_then(|variants| {
            variants
                .iter()
                .find(|v| v.answers.iter().all(|(path, a)| dcache(path) == *a))
        });
        if let Some(v) = known {
            return v.outcome.clone();
        }
        let answers = RefCell::new(Vec::new());
        let asked = |path: &str| {
            let a = dcache(path);
            answers.borrow_mut().push((path.to_owned(), a));
            a
        };
        let outcome = Arc::new(model::predict(facts, kernel, &asked).map(
            |(prediction, dentries)| Walked {
                spliced: prediction.spliced,
                ready: Ready::new(prediction, probed),
                dentries,
            },
        ));
        let variants = self.ops.entry_with(key, Vec::new);
        if variants.len() >= MAX_VARIANTS {
            variants.remove(0);
        }
        variants.push(Variant {
            answers: answers.into_inner(),
            outcome: outcome.clone(),
        });
        outcome
    }

    /// A read's prediction: the file's node and the prediction for its
    /// shape, each reused when known (every read of an open file walks the
    /// same path; every process's /proc/PID/stat has the same shape).
    pub fn read(
        &mut self,
        facts: &OpFacts,
        kernel: &KernelFacts,
        probed: &HashSet<ProbeId>,
        dcache: DcacheState,
    ) -> Result<Arc<Ready>, Unmodelled> {
        let key = NodeKey {
            path: facts.path.to_owned(),
            tgid: facts.tgid,
            tid: facts.tid,
            mount: facts.mount,
            start_dir: facts.start_dir.map(str::to_owned),
        };
        let node = match self.nodes.get(&key) {
            Some(node) => node.clone(),
            None => {
                let node = model::read_node(facts, kernel, dcache)?;
                self.nodes.insert(key, node.clone());
                node
            }
        };
        let shape = ReadShape::of(node, facts)?;
        if let Some(ready) = self.reads.get(&shape) {
            return Ok(ready.clone());
        }
        let ready = Arc::new(Ready::new(shape.predict()?, probed));
        self.reads.insert(shape, ready.clone());
        Ok(ready)
    }
}
