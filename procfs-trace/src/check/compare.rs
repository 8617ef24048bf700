//! Compares expected steps with observed calls, tree against tree.

use procfs_trace_common::ProbeId;

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

/// Checks that `observed` is exactly `expected`, ignoring calls of `extras`.
pub fn compare(expected: &[Step], observed: &[Call], extras: &[ProbeId]) -> Result<(), Mismatch> {
    let mut progress = 0;
    compare_level(expected, observed, extras, "", &mut progress)
}

fn compare_level(
    expected: &[Step],
    observed: &[Call],
    extras: &[ProbeId],
    at: &str,
    progress: &mut usize,
) -> Result<(), Mismatch> {
    let obs: Vec<&Call> = observed
        .iter()
        .filter(|c| !extras.contains(&c.probe))
        .collect();
    let mut j = 0;
    let place = |j: usize| {
        if at.is_empty() {
            format!("call {}", j + 1)
        } else {
            format!("{at} > call {}", j + 1)
        }
    };
    for step in expected {
        let Some(call) = obs.get(j) else {
            return Err(Mismatch {
                progress: *progress,
                at: place(j),
                expected: describe_step(step),
                seen: "no further call".to_owned(),
            });
        };
        one(step, call, extras, &place(j), progress)?;
        j += 1;
        if step.repeat {
            // Take further calls while they agree; the first that does not is
            // left for the next step (a read at end of file after the data).
            while let Some(next) = obs.get(j) {
                let mut trial = *progress;
                if one(step, next, extras, &place(j), &mut trial).is_err() {
                    break;
                }
                *progress = trial;
                j += 1;
            }
        }
    }
    if let Some(extra) = obs.get(j) {
        return Err(Mismatch {
            progress: *progress,
            at: place(j),
            expected: "no further call".to_owned(),
            seen: describe_call(extra),
        });
    }
    Ok(())
}

fn one(
    step: &Step,
    call: &Call,
    extras: &[ProbeId],
    at: &str,
    progress: &mut usize,
) -> Result<(), Mismatch> {
    // A name the kernel read could not fetch (NULL dentry in RCU walk) is not
    // evidence against the model; any other difference is.
    let agrees = step.func == call.probe
        && step
            .name
            .as_ref()
            .is_none_or(|n| call.name.as_ref().is_none_or(|c| c == n))
        && step.show.is_none_or(|s| call.show.as_deref() == Some(s))
        && step.ret.accepts(call.ret)
        && step.pos_in.accepts(call.pos_in)
        && step.pos_out.accepts(call.pos_out);
    if !agrees {
        return Err(Mismatch {
            progress: *progress,
            at: at.to_owned(),
            expected: describe_step(step),
            seen: describe_call(call),
        });
    }
    *progress += 1;
    let inner = format!("{at} {}", call.func());
    compare_level(
        &step.children,
        &call.children,
        extras,
        inner.trim(),
        progress,
    )
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
    let mut s = format!("{}({})", call.func(), args.join(", "));
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
        assert!(compare(&[data.clone(), eof.clone()], &seen, &[]).is_ok());
        assert!(
            compare(std::slice::from_ref(&data), &seen, &[]).is_err(),
            "the EOF read is left over"
        );
        assert!(
            compare(&[data, eof], &seen[2..], &[]).is_err(),
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
        assert!(compare(std::slice::from_ref(&a), &seen, &[ProbeId::ProcSelfGetLink]).is_ok());
        let m = compare(&[a], &seen, &[]).unwrap_err();
        assert_eq!(m.at, "call 1");
        assert!(m.seen.starts_with("proc_self_get_link"));
    }
}
