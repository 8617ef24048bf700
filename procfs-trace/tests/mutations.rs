//! Mutation testing of the checker on real-kernel recordings: every operation
//! the model matched is altered the ways a broken kernel or a broken tracer
//! could alter it (a call dropped, duplicated or swapped with its sibling, a
//! return value, a name or a show callback changed), and no mutant may still
//! be judged `match`. Each mutant is checked in the dcache state its original
//! was checked in.

mod support;

use std::path::PathBuf;

use procfs_trace::{
    check::Verdict,
    flows::{call::Call, op::Op},
    replay,
};

fn fixtures() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pfsrec"))
        .collect();
    v.sort();
    v
}

/// Paths (index lists) of every call in a tree, depth first.
fn call_paths(calls: &[Call], prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    for (i, c) in calls.iter().enumerate() {
        prefix.push(i);
        out.push(prefix.clone());
        call_paths(&c.children, prefix, out);
        prefix.pop();
    }
}

/// The sibling list holding the call at `path`, and its index there.
fn siblings<'a>(calls: &'a mut Vec<Call>, path: &[usize]) -> (&'a mut Vec<Call>, usize) {
    let (last, parents) = path.split_last().unwrap();
    let mut list = calls;
    for &i in parents {
        list = &mut list[i].children;
    }
    (list, *last)
}

/// Whether two calls differ only in their times (and their children's).
fn looks_alike(a: &Call, b: &Call) -> bool {
    a.probe == b.probe
        && a.name == b.name
        && a.ret == b.ret
        && a.show == b.show
        && a.pos_in == b.pos_in
        && a.pos_out == b.pos_out
        && a.children.len() == b.children.len()
        && a.children
            .iter()
            .zip(&b.children)
            .all(|(x, y)| looks_alike(x, y))
}

/// Every mutant of `op`, with what was done.
fn mutants(op: &Op) -> Vec<(String, Op)> {
    let mut paths = Vec::new();
    call_paths(&op.calls, &mut Vec::new(), &mut paths);
    let mut out = Vec::new();
    let mut mutate = |what: String, f: &dyn Fn(&mut Vec<Call>, usize), path: &[usize]| {
        let mut m = op.clone();
        let (list, i) = siblings(&mut m.calls, path);
        f(list, i);
        out.push((what, m));
    };
    for path in &paths {
        let (list, i) = {
            let mut probe = op.calls.clone();
            let (l, i) = siblings(&mut probe, path);
            (l.clone(), i)
        };
        let c = &list[i];
        let func = c.func();
        // One call more or fewer in a run of calls that look alike is one
        // record more or fewer (a seq_file's show runs once per record, a
        // splice reads until its count): the file's data, which the kernel
        // may have. Such mutants are equivalent, not missed.
        let alike = |j: usize| list.get(j).is_some_and(|d| looks_alike(c, d));
        let in_run = alike(i + 1) || i.checked_sub(1).is_some_and(alike);
        if !in_run {
            mutate(format!("drop {func}"), &|l, i| drop(l.remove(i)), path);
            mutate(
                format!("duplicate {func}"),
                &|l, i| l.insert(i, l[i].clone()),
                path,
            );
        }
        if i + 1 < list.len() && !looks_alike(&list[i], &list[i + 1]) {
            mutate(
                format!("swap {func} with its next sibling"),
                &|l, i| l.swap(i, i + 1),
                path,
            );
        }
        if let Some(ret) = c.ret {
            // A success becomes -EIO, a failure success: a change of meaning.
            let new = if ret >= 0 { -5 } else { 0 };
            mutate(
                format!("{func} returns {new} instead of {ret}"),
                &move |l, i| l[i].ret = Some(new),
                path,
            );
        }
        if c.name.is_some() {
            mutate(
                format!("{func} on another name"),
                &|l, i| l[i].name.as_mut().unwrap().push_str("_x"),
                path,
            );
        }
        if c.show.is_some() {
            mutate(
                format!("{func} with another show callback"),
                &|l, i| l[i].show = Some("bogus_show".into()),
                path,
            );
        }
    }
    out
}

#[test]
fn mutants_of_matched_operations_are_killed() {
    let (mut total, mut killed) = (0, 0);
    let mut survivors = Vec::new();
    for path in fixtures() {
        let ops = support::checked_ops(&path);
        let rec = replay::open(&path).unwrap();
        let mut checker = replay::checker(rec.header()).unwrap();
        for c in ops {
            if matches!(c.verdict, Verdict::Match { .. }) && c.evidence > 0 {
                for (what, m) in mutants(&c.op) {
                    total += 1;
                    let v = checker.clone().check(m).verdict;
                    if matches!(v, Verdict::Match { .. }) {
                        survivors.push(format!(
                            "{}: {} {:?}: {what}",
                            path.file_name().unwrap().to_string_lossy(),
                            c.op.syscall.as_ref().map_or("-", |s| s.syscall.name()),
                            c.op.path
                        ));
                    } else {
                        killed += 1;
                    }
                }
            }
            checker.check(c.op);
        }
    }
    println!("MUTATIONS: {killed} of {total} killed");
    for s in &survivors {
        println!("SURVIVOR: {s}");
    }
    assert!(total > 10_000, "only {total} mutants");
    // Survivors left, listed in the output, each a trace the kernel may
    // produce: a PDE dentry the trace has not seen may be cached (a dropped
    // cold lookup), a walk may have restarted in ref-walk (a dropped -ECHILD
    // revalidation on 5.10), sendfile's loop may stop at its count, which is
    // not traced (a dropped read of the end), and /proc/consoles shows one
    // record per registered console (one show more). The kill rate may only
    // go up.
    assert!(
        killed * 1000 >= total * 982,
        "{killed} of {total} killed, below 98.2 %"
    );
}
