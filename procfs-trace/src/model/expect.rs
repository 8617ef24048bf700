//! The model's predictions: expected calls with the arguments and results the
//! procfs logic implies, and the choices it cannot settle (such as whether a
//! dentry is cached).

use std::{borrow::Cow, fmt};

use procfs_trace_common::ProbeId;

use super::{errno::Errno, func::Func};

/// What a return value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    /// Anything.
    Any,
    /// Exactly 0 (a lookup that found its dentry returns NULL from d_splice_alias).
    Zero,
    /// Exactly this error.
    Errno(Errno),
    /// 1: a revalidation that kept the dentry.
    Valid,
    /// More than 0 (bytes read, entries emitted).
    Positive,
    /// A kernel pointer: neither NULL nor an error (a get_link's target string).
    Pointer,
}

impl Ret {
    /// Whether `ret` satisfies the rule; an unseen return satisfies only `Any`.
    pub fn accepts(self, ret: Option<i64>) -> bool {
        match (self, ret) {
            (Ret::Any, _) => true,
            (_, None) => false,
            (Ret::Zero, Some(r)) => r == 0,
            (Ret::Errno(e), Some(r)) => r == e.ret(),
            (Ret::Valid, Some(r)) => r == 1,
            (Ret::Positive, Some(r)) => r > 0,
            (Ret::Pointer, Some(r)) => r != 0 && Errno::from_ret(r).is_none(),
        }
    }
}

impl fmt::Display for Ret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ret::Any => write!(f, "any"),
            Ret::Zero => write!(f, "0"),
            Ret::Errno(e) => write!(f, "{e}"),
            Ret::Valid => write!(f, "1 (valid)"),
            Ret::Positive => write!(f, "> 0"),
            Ret::Pointer => write!(f, "a pointer"),
        }
    }
}

/// What a readdir position must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pos {
    /// Anything.
    Any,
    /// Exactly this.
    Eq(i64),
    /// Below this.
    Below(i64),
    /// At least this.
    AtLeast(i64),
}

impl Pos {
    /// Whether `pos` satisfies the rule (an unread position satisfies only `Any`).
    pub fn accepts(self, pos: Option<i64>) -> bool {
        match (self, pos) {
            (Pos::Any, _) => true,
            (_, None) => false,
            (Pos::Eq(x), Some(p)) => p == x,
            (Pos::Below(x), Some(p)) => p < x,
            (Pos::AtLeast(x), Some(p)) => p >= x,
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pos::Any => write!(f, "any"),
            Pos::Eq(x) => write!(f, "{x}"),
            Pos::Below(x) => write!(f, "< {x}"),
            Pos::AtLeast(x) => write!(f, ">= {x}"),
        }
    }
}

/// One expected call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Kernel function.
    pub func: Func,
    /// Expected name argument, when the model knows it.
    pub name: Option<String>,
    /// Expected show callback, for read functions.
    pub show: Option<&'static str>,
    /// Expected result.
    pub ret: Ret,
    /// Expected position at entry (readdir).
    pub pos_in: Pos,
    /// Expected position at exit (readdir).
    pub pos_out: Pos,
    /// One or more consecutive calls, as a seq_file's show per record.
    pub repeat: bool,
    /// Why the kernel makes this call, in one line (most are fixed text, so
    /// no allocation per predicted step).
    pub why: Cow<'static, str>,
    /// Calls it makes, in order.
    pub children: Vec<Step>,
}

impl Step {
    /// A call of `func` with no constraint but its existence.
    pub fn new(func: impl Into<Func>, why: impl Into<Cow<'static, str>>) -> Step {
        Step {
            func: func.into(),
            name: None,
            show: None,
            ret: Ret::Any,
            pos_in: Pos::Any,
            pos_out: Pos::Any,
            repeat: false,
            why: why.into(),
            children: Vec::new(),
        }
    }

    /// Expects this name argument.
    pub fn name(mut self, name: impl Into<String>) -> Step {
        self.name = Some(name.into());
        self
    }

    /// Expects this show callback.
    pub fn show(mut self, show: &'static str) -> Step {
        self.show = Some(show);
        self
    }

    /// Expects this result.
    pub fn ret(mut self, ret: Ret) -> Step {
        self.ret = ret;
        self
    }

    /// Expects these positions.
    pub fn pos(mut self, pos_in: Pos, pos_out: Pos) -> Step {
        self.pos_in = pos_in;
        self.pos_out = pos_out;
        self
    }

    /// May repeat (one or more consecutive calls).
    pub fn repeated(mut self) -> Step {
        self.repeat = true;
        self
    }

    /// Adds calls made from this one.
    pub fn calls(mut self, children: Vec<Step>) -> Step {
        self.children = children;
        self
    }

    /// Steps in `steps`, nested calls included.
    pub fn count(steps: &[Step]) -> usize {
        steps.iter().map(|s| 1 + Step::count(&s.children)).sum()
    }

    /// Removes steps whose function is not probed, lifting their children.
    pub fn retain_probed(steps: Vec<Step>, probed: &dyn Fn(Func) -> bool) -> Vec<Step> {
        steps
            .into_iter()
            .flat_map(|mut s| {
                s.children = Step::retain_probed(std::mem::take(&mut s.children), probed);
                if probed(s.func) {
                    vec![s]
                } else {
                    s.children
                }
            })
            .collect()
    }
}

/// A stretch of the expected flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Calls the model is sure of.
    Fixed(Vec<Step>),
    /// Alternatives the model cannot decide between, with why.
    Choice {
        /// Why there is a choice.
        why: Cow<'static, str>,
        /// Labelled alternatives.
        options: Vec<(String, Vec<Step>)>,
    },
}

/// The model's expectation for one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prediction {
    /// The expected flow, in order.
    pub segments: Vec<Segment>,
    /// Functions that may also appear anywhere without being predicted, with why.
    pub extras: Vec<(ProbeId, &'static str)>,
    /// Notes for the reader (assumptions made).
    pub notes: Vec<String>,
    /// For a sendfile: the bytes it moved, which its reads account for.
    pub spliced: Option<i64>,
}

/// One fully resolved alternative: labels of the choices taken, and the steps.
pub type Alternative = (Vec<String>, Vec<Step>);

impl Prediction {
    /// An empty prediction.
    pub fn new() -> Prediction {
        Prediction {
            segments: Vec::new(),
            extras: Vec::new(),
            notes: Vec::new(),
            spliced: None,
        }
    }

    /// Appends calls the model is sure of.
    pub fn fixed(&mut self, steps: Vec<Step>) {
        if !steps.is_empty() {
            self.segments.push(Segment::Fixed(steps));
        }
    }

    /// Appends a choice.
    pub fn choice(&mut self, why: impl Into<Cow<'static, str>>, options: Vec<(String, Vec<Step>)>) {
        self.segments.push(Segment::Choice {
            why: why.into(),
            options,
        });
    }

    /// Every combination of choices, as complete step lists (at most `limit`).
    pub fn alternatives(&self, limit: usize) -> Vec<Alternative> {
        let mut out: Vec<Alternative> = vec![(Vec::new(), Vec::new())];
        for seg in &self.segments {
            match seg {
                Segment::Fixed(steps) => {
                    for (_, acc) in &mut out {
                        acc.extend(steps.iter().cloned());
                    }
                }
                Segment::Choice { options, .. } => {
                    let mut next = Vec::new();
                    for (labels, acc) in &out {
                        for (label, steps) in options {
                            if next.len() >= limit {
                                break;
                            }
                            let mut l = labels.clone();
                            l.push(label.clone());
                            let mut a = acc.clone();
                            a.extend(steps.iter().cloned());
                            next.push((l, a));
                        }
                    }
                    out = next;
                }
            }
        }
        out
    }
}

/// For a sendfile that moved `moved` bytes: whether reads returning `reads` (the top-level calls, in order) account
/// for the bytes a sendfile moved, as its splice loop
/// (`splice_direct_to_actor`, fs/splice.c) does: each read fills the pipe
/// and the pipe is written out before the next; the loop stops at a read
/// of 0 (end of file), at the count, or at a write that fell short. So the
/// reads add up to exactly the bytes moved when the last found the end,
/// and to at least them otherwise. `Err` says what was expected and seen.
pub fn splice_accounting(moved: Option<i64>, reads: &[i64]) -> Result<(), (String, String)> {
    let Some(moved) = moved else {
        return Ok(());
    };
    let total: i64 = reads.iter().filter(|r| **r > 0).sum();
    let at_end = reads.last() == Some(&0);
    match (at_end, total) {
        (true, t) if t == moved => Ok(()),
        (false, t) if t >= moved => Ok(()),
        _ => Err((
            format!(
                "reads adding up to {}{moved} bytes, what sendfile moved",
                if at_end { "" } else { "at least " }
            ),
            format!("reads adding up to {total} bytes"),
        )),
    }
}

/// A prediction's segments narrowed to the probed functions (see
/// [`Step::retain_probed`]), whose alternatives are walked in place rather
/// than copied out: the checker compares several per operation.
#[derive(Debug)]
pub struct Narrowed {
    /// Per segment, its options (one for a fixed stretch).
    segments: Vec<Vec<NarrowedOption>>,
}

/// One option of a narrowed segment.
#[derive(Debug)]
struct NarrowedOption {
    /// Its label; `None` for a fixed stretch.
    label: Option<String>,
    /// Whether it predicted any call before narrowing.
    predicted: bool,
    steps: Vec<Step>,
}

/// One alternative of a [`Narrowed`] prediction.
pub struct NarrowedAlternative<'a> {
    /// Labels of the choices taken.
    pub labels: Vec<&'a str>,
    /// Whether the alternative predicted any call before narrowing.
    pub predicted: bool,
    /// Its steps, narrowed.
    pub steps: Vec<&'a Step>,
}

impl Narrowed {
    /// Narrows `segments` to the functions `probed` accepts.
    pub fn new(segments: Vec<Segment>, probed: &dyn Fn(Func) -> bool) -> Narrowed {
        let option = |label, steps: Vec<Step>| NarrowedOption {
            label,
            predicted: !steps.is_empty(),
            steps: Step::retain_probed(steps, probed),
        };
        let segments = segments
            .into_iter()
            .map(|seg| match seg {
                Segment::Fixed(steps) => vec![option(None, steps)],
                Segment::Choice { options, .. } => options
                    .into_iter()
                    .map(|(label, steps)| option(Some(label), steps))
                    .collect(),
            })
            .collect();
        Narrowed { segments }
    }

    /// Every combination of choices, in the order of
    /// [`Prediction::alternatives`] (at most `limit`).
    pub fn alternatives(&self, limit: usize) -> impl Iterator<Item = NarrowedAlternative<'_>> {
        // An odometer over the options, the last segment turning fastest.
        let mut at = vec![0; self.segments.len()];
        let mut left = if self.segments.iter().any(Vec::is_empty) {
            0
        } else {
            limit
        };
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let chosen = || self.segments.iter().zip(&at).map(|(seg, i)| &seg[*i]);
            let alt = NarrowedAlternative {
                labels: chosen().filter_map(|o| o.label.as_deref()).collect(),
                predicted: chosen().any(|o| o.predicted),
                steps: chosen().flat_map(|o| &o.steps).collect(),
            };
            // Turn the odometer; past its last position there is no more.
            let mut k = at.len();
            loop {
                if k == 0 {
                    left = 0;
                    break;
                }
                k -= 1;
                at[k] += 1;
                if at[k] < self.segments[k].len() {
                    break;
                }
                at[k] = 0;
            }
            Some(alt)
        })
    }
}

impl Default for Prediction {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_accept_what_they_say() {
        assert!(Ret::Zero.accepts(Some(0)) && !Ret::Zero.accepts(Some(1)));
        assert!(!Ret::Zero.accepts(None) && Ret::Any.accepts(None));
        let enoent = Ret::Errno(Errno::ENOENT);
        assert!(enoent.accepts(Some(-2)) && !enoent.accepts(Some(0)));
        assert!(Ret::Valid.accepts(Some(1)) && !Ret::Valid.accepts(Some(0)));
        assert!(Ret::Positive.accepts(Some(5)) && !Ret::Positive.accepts(Some(0)));
        let pointer = 0xffff_8880_0000_1000_u64 as i64;
        assert!(Ret::Pointer.accepts(Some(pointer)) && !Ret::Pointer.accepts(Some(0)));
        assert!(!Ret::Pointer.accepts(Some(-2)));
        assert!(Pos::Below(256).accepts(Some(0)) && !Pos::Below(256).accepts(Some(256)));
        assert!(Pos::AtLeast(256).accepts(Some(256)) && !Pos::Eq(3).accepts(None));
    }

    #[test]
    fn splice_reads_account_for_the_bytes_moved() {
        assert!(splice_accounting(None, &[5, 5]).is_ok(), "not a sendfile");
        let moved = Some(1422);
        // Read to the end: exactly the bytes moved.
        assert!(splice_accounting(moved, &[1422, 0]).is_ok());
        assert!(splice_accounting(moved, &[1000, 422, 0]).is_ok());
        assert!(splice_accounting(moved, &[1422, 1422, 0]).is_err());
        // Stopped at the count, or at a short write: at least them.
        assert!(splice_accounting(moved, &[1422]).is_ok());
        assert!(splice_accounting(moved, &[4096]).is_ok());
        let (expected, seen) = splice_accounting(moved, &[1000]).unwrap_err();
        assert!(expected.contains("at least 1422") && seen.contains("1000"));
    }

    #[test]
    fn choices_multiply_and_keep_order() {
        let mut p = Prediction::new();
        p.fixed(vec![Step::new("a", "")]);
        p.choice(
            "x",
            vec![
                ("x1".into(), vec![Step::new("b", "")]),
                ("x2".into(), vec![]),
            ],
        );
        p.choice(
            "y",
            vec![
                ("y1".into(), vec![Step::new("c", "")]),
                ("y2".into(), vec![Step::new("d", "")]),
            ],
        );
        let alts = p.alternatives(16);
        assert_eq!(alts.len(), 4);
        let funcs: Vec<Vec<&str>> = alts
            .iter()
            .map(|(_, s)| s.iter().map(|s| s.func.name()).collect())
            .collect();
        assert_eq!(funcs[0], ["a", "b", "c"]);
        assert_eq!(funcs[3], ["a", "d"]);
        assert_eq!(alts[3].0, ["x2", "y2"]);
        assert_eq!(p.alternatives(2).len(), 2);
    }

    #[test]
    fn narrowed_alternatives_follow_the_copied_ones() {
        let mut p = Prediction::new();
        p.fixed(vec![Step::new("a", "").calls(vec![Step::new("hidden", "")])]);
        p.choice(
            "x",
            vec![
                ("x1".into(), vec![Step::new("hidden", "")]),
                ("x2".into(), vec![]),
                ("x3".into(), vec![Step::new("b", "")]),
            ],
        );
        p.choice("y", vec![("y1".into(), vec![Step::new("c", "")])]);
        let probed = |f: Func| f.name() != "hidden";
        for limit in [1, 2, 3, 16] {
            let copied: Vec<(Vec<String>, Vec<Step>)> = p
                .alternatives(limit)
                .into_iter()
                .map(|(l, steps)| (l, Step::retain_probed(steps, &probed)))
                .collect();
            let narrowed = Narrowed::new(p.segments.clone(), &probed);
            let walked: Vec<(Vec<String>, Vec<Step>)> = narrowed
                .alternatives(limit)
                .map(|a| {
                    assert!(a.predicted);
                    let labels = a.labels.iter().map(|l| l.to_string()).collect();
                    (labels, a.steps.into_iter().cloned().collect())
                })
                .collect();
            assert_eq!(walked, copied, "limit {limit}");
        }
        let mut empty = Prediction::new();
        empty.choice("z", vec![("z1".into(), vec![Step::new("hidden", "")])]);
        let narrowed = Narrowed::new(empty.segments, &probed);
        let alts: Vec<_> = narrowed.alternatives(4).collect();
        assert_eq!(alts.len(), 1);
        assert!(alts[0].predicted && alts[0].steps.is_empty());
        empty = Prediction::new();
        empty.choice("none", vec![]);
        assert_eq!(
            Narrowed::new(empty.segments, &probed)
                .alternatives(4)
                .count(),
            0
        );
    }

    #[test]
    fn unprobed_steps_are_dropped_and_children_lifted() {
        let mut p = Prediction::new();
        p.fixed(vec![Step::new("outer", "")
            .calls(vec![
                Step::new("hidden", "").calls(vec![Step::new("inner", "")])
            ])]);
        let (_, steps) = p.alternatives(4).remove(0);
        let steps = Step::retain_probed(steps, &|f| f.name() != "hidden");
        assert_eq!(steps[0].children[0].func.name(), "inner");
    }
}
