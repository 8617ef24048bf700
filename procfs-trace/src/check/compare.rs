//! Compares expected steps with observed calls, tree against tree.

use std::borrow::Borrow;

use procfs_trace_common::ProbeId;

use super::canon::Canon;
use crate::{
    flows::call::Call,
    model::{
        errno::format_ret,
        expect::{Pos, Ret, Step},
    },
};

/// Where and how an alternative parted from what was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Steps that agreed before the parting (to pick the closest alternative).
    pub progress: usize,
    /// The call path to the parting, e.g. "proc_root_lookup > [1]".
    pub at: String,
    /// What the model expected.
    pub expected: String,
    /// What was seen.
    pub seen: String,
}

/// What an agreeing alternative could not verify: values the model expects
/// that the kernel read could not fetch (a name in RCU walk, say), as
/// "the name of proc_pid_lookup at call 1 > call 1".
pub type Unread = Vec<String>;

/// Checks that `observed` is exactly `expected`, ignoring calls of `extras`,
/// with the names the kernel read renamed by `names` as the prediction's
/// were; agreement lists what could not be read, so it cannot count as
/// evidence.
pub fn compare<S: Borrow<Step>>(
    expected: &[S],
    observed: &[Call],
    extras: &[ProbeId],
    names: &Canon,
) -> Result<Unread, Mismatch> {
    let mut walk = Walk {
        extras,
        names,
        progress: 0,
        unread: Vec::new(),
        trail: Vec::new(),
    };
    walk.level(expected, observed)?;
    Ok(walk.unread)
}

/// One comparison in progress.
struct Walk<'a> {
    extras: &'a [ProbeId],
    names: &'a Canon,
    /// Steps that agreed so far.
    progress: usize,
    unread: Unread,
    /// The calls above the level being compared: index and function. Places
    /// are spelled from it only for a message, as most comparisons agree.
    trail: Vec<(usize, &'static str)>,
}

impl Walk<'_> {
    /// The place of call `j` of the current level, e.g.
    /// "call 1 proc_root_lookup > call 2".
    fn place(&self, j: usize) -> String {
        let mut s = String::new();
        for (i, func) in &self.trail {
            s.push_str(&format!("call {} {func} > ", i + 1));
        }
        s.push_str(&format!("call {}", j + 1));
        s
    }

    fn mismatch(&self, j: usize, expected: String, seen: String) -> Mismatch {
        Mismatch {
            progress: self.progress,
            at: self.place(j),
            expected,
            seen,
        }
    }

    fn level<S: Borrow<Step>>(
        &mut self,
        expected: &[S],
        observed: &[Call],
    ) -> Result<(), Mismatch> {
        let extras = self.extras;
        let mut obs = observed
            .iter()
            .filter(|c| !extras.contains(&c.probe))
            .peekable();
        let mut j = 0;
        for step in expected {
            let step = step.borrow();
            let Some(call) = obs.next() else {
                return Err(self.mismatch(j, describe_step(step), "no further call".to_owned()));
            };
            self.one(step, call, j)?;
            j += 1;
            if step.repeat {
                // Take further calls while they agree; the first that does not is
                // left for the next step (a read at end of file after the data).
                while let Some(next) = obs.peek() {
                    let (progress, unread) = (self.progress, self.unread.len());
                    if self.one(step, next, j).is_err() {
                        self.progress = progress;
                        self.unread.truncate(unread);
                        break;
                    }
                    obs.next();
                    j += 1;
                }
            }
        }
        if let Some(extra) = obs.next() {
            return Err(self.mismatch(j, "no further call".to_owned(), describe_call(extra)));
        }
        Ok(())
    }

    /// Compares `step` with `call`, call `j` of the current level.
    fn one(&mut self, step: &Step, call: &Call, j: usize) -> Result<(), Mismatch> {
        // A name the kernel read could not fetch (NULL dentry in RCU walk) is
        // not evidence against the model, nor for it: it is noted as unread.
        let name_agrees = match (&step.name, &call.name) {
            (Some(n), Some(c)) => self.names.name(c) == n.as_str(),
            _ => true,
        };
        let agrees = step.func == call.probe
            && name_agrees
            && step.show.is_none_or(|s| call.show.as_deref() == Some(s))
            && step.ret.accepts(call.ret)
            && step.pos_in.accepts(call.pos_in)
            && step.pos_out.accepts(call.pos_out);
        if !agrees {
            return Err(self.mismatch(j, describe_step(step), describe_call(call)));
        }
        if step.name.is_some() && call.name.is_none() {
            let unread = format!("the name of {} at {}", step.func, self.place(j));
            self.unread.push(unread);
        }
        self.progress += 1;
        self.trail.push((j, call.probe.def().func));
        let inner = self.level(&step.children, &call.children);
        self.trail.pop();
        inner
    }
}

/// A step as a reader wants it: `proc_pid_lookup(name="7", show=f) = 0`.
pub fn describe_step(step: &Step) -> String {
    let mut args = Vec::new();
    if let Some(n) = &step.name {
        args.push(format!("name={n:?}"));
    }
    if let Some(s) = step.show {
        args.push(format!("show={s}"));
    }
    if step.pos_in != Pos::Any {
        args.push(format!("pos {}", step.pos_in));
    }
    let mut s = format!("{}({})", step.func, args.join(", "));
    if step.ret != Ret::Any {
        s.push_str(&format!(" = {}", step.ret));
    }
    if step.pos_out != Pos::Any {
        s.push_str(&format!(", pos after {}", step.pos_out));
    }
    if step.repeat {
        s.push_str(", one or more times");
    }
    s
}

/// A call as seen.
pub fn describe_call(call: &Call) -> String {
    let mut args = Vec::new();
    if let Some(n) = &call.name {
        args.push(format!("name={n:?}"));
    }
    if let Some(s) = &call.show {
        args.push(format!("show={s}"));
    }
    if let Some(p) = call.pos_in {
        args.push(format!("pos {p}"));
    }
    let mut s = format!("{}({})", call.probe.def().func, args.join(", "));
    match call.ret {
        Some(r) => s.push_str(&format!(" = {}", format_ret(r))),
        None => s.push_str(" (no exit)"),
    }
    if let Some(p) = call.pos_out {
        s.push_str(&format!(", pos after {p}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(probe: ProbeId, ret: i64) -> Call {
        Call {
            probe,
            start_ns: 0,
            end_ns: Some(1),
            name: None,
            pos_in: None,
            pos_out: None,
            ret: Some(ret),
            show: None,
            mount: None,
            ns_tid: None,
            children: vec![],
        }
    }

    #[test]
    fn repeats_stop_at_the_first_call_that_disagrees() {
        let data = Step::new(ProbeId::SeqReadIter, "")
            .ret(Ret::Positive)
            .repeated();
        let eof = Step::new(ProbeId::SeqReadIter, "").ret(Ret::Zero);
        let seen = [
            call(ProbeId::SeqReadIter, 10),
            call(ProbeId::SeqReadIter, 5),
            call(ProbeId::SeqReadIter, 0),
        ];
        assert!(compare(&[data.clone(), eof.clone()], &seen, &[], &Canon::default()).is_ok());
        assert!(
            compare(std::slice::from_ref(&data), &seen, &[], &Canon::default()).is_err(),
            "the EOF read is left over"
        );
        assert!(
            compare(&[data, eof], &seen[2..], &[], &Canon::default()).is_err(),
            "at least one data read"
        );
    }

    #[test]
    fn extras_are_ignored_and_leftovers_reported() {
        let a = Step::new(ProbeId::ProcRootLookup, "").ret(Ret::Zero);
        let seen = [
            call(ProbeId::ProcSelfGetLink, 0),
            call(ProbeId::ProcRootLookup, 0),
        ];
        assert!(compare(
            std::slice::from_ref(&a),
            &seen,
            &[ProbeId::ProcSelfGetLink],
            &Canon::default()
        )
        .is_ok());
        let m = compare(&[a], &seen, &[], &Canon::default()).unwrap_err();
        assert_eq!(m.at, "call 1");
        assert!(m.seen.starts_with("proc_self_get_link"));
    }
}
