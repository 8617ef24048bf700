//! Following symlinks of pid directories: pid, fd and namespace links, and
//! the ways their resolution fails.

use procfs_trace_common::ProbeId;

use super::{Node, Walk, WalkContext};
use crate::model::{
    errno::Errno,
    expect::{Prediction, Ret, Step},
    func::Func,
};

/// Follows a pid, fd or namespace symlink through its get_link
/// (`proc_pid_get_link` with the link's own function, such as `proc_cwd_link`
/// or `proc_fd_link`; `proc_ns_get_link`, which has none). When the walk
/// failed there (`link_error` on the last component), either the ptrace
/// access check refused (-EACCES, before any own function runs) or the own
/// function found nothing to link to.
pub(super) fn follow_link(
    w: &mut Walk,
    cx: &WalkContext,
    comp: &str,
    here: &str,
    last: bool,
    get_link_func: ProbeId,
    handler: Option<Func>,
) -> Node {
    let get_link = |ret: Ret, children: Vec<Step>| {
        Step::new(
            get_link_func,
            format!(
                "{} resolves the link: nd_jump_link, then NULL",
                get_link_func.def().func
            ),
        )
        .name(comp)
        .ret(ret)
        .calls(children)
    };
    let own = |ret: Ret| {
        handler.map(|h| {
            Step::new(h, format!("{comp}'s get_link function"))
                .name(comp)
                .ret(ret)
        })
    };
    match cx.link_error.filter(|_| last) {
        None => {
            let resolved = get_link(Ret::Zero, own(Ret::Zero).into_iter().collect());
            // pick_link calls get_link with a NULL dentry while the walk is
            // still in RCU mode; the get_link refuses that with -ECHILD and
            // is called again once the walk has left RCU mode.
            let mut refused = get_link(Ret::Errno(Errno::ECHILD), vec![]);
            refused.name = None;
            refused.why = format!(
                "in RCU walk the dentry is NULL, so {} refuses with -ECHILD",
                get_link_func.def().func
            )
            .into();
            w.prediction.choice(
                format!("{here} may be reached in RCU walk"),
                vec![
                    ("ref-walk".to_owned(), vec![resolved.clone()]),
                    (
                        "RCU walk, get_link refused".to_owned(),
                        vec![refused, resolved],
                    ),
                ],
            );
            Node::LeftProc
        }
        Some(e) => {
            link_failure(&mut w.prediction, e, get_link, own);
            w.absent = Some(here.to_owned());
            Node::Absent
        }
    }
}

/// The ways a link's resolution fails with `e`: refused by the ptrace access
/// check before its own function runs (only -EACCES), or its own function
/// failing. `outer` builds the step that checks access (proc_pid_get_link,
/// proc_pid_readlink, the ns link's functions) around its children, `own`
/// the link's own function where it has one.
pub fn link_failure(
    p: &mut Prediction,
    e: Errno,
    outer: impl Fn(Ret, Vec<Step>) -> Step,
    own: impl Fn(Ret) -> Option<Step>,
) {
    let failed = Ret::Errno(e);
    let mut options = Vec::new();
    if let Some(own) = own(failed) {
        options.push((
            format!("the link's function returned {e}"),
            vec![outer(failed, vec![own])],
        ));
    }
    if e == Errno::EACCES || options.is_empty() {
        let why = match e {
            Errno::EACCES => "ptrace access refused".to_owned(),
            _ => format!("the link's resolution returned {e}"),
        };
        options.push((why, vec![outer(failed, Vec::new())]));
    }
    p.choice("why the link could not be resolved", options);
}
