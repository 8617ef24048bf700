//! Threads that come and go, or change their id, inside a followed syscall.

use std::{
    cell::Cell,
    ffi::CString,
    io::{BufReader, Read as _},
    process::{Command, Output, Stdio},
};

use procfs_trace_common::THREAD_SLOTS;
use serde_json::Value;

use crate::{park::park_readers_in_seq_read, support};

/// Threads started while the reader is parked: twice as many as the kernel
/// side has thread slots, so that a map which reclaimed slots to make room
/// would have reclaimed every one it held when they began.
const CHURN: usize = 2 * THREAD_SLOTS as usize;

/// A thread blocked inside a read of procfs keeps its syscall while twice
/// as many threads as the tracer keeps slots for each make a followed
/// syscall (a read of /dev/zero, which reaches no probe) and exit. Slots go
/// when their thread exits, so none of the passing threads finds the map
/// full (that would be a counted loss, and no pass), and the blocked
/// thread's slot is never reclaimed for them: the read is one flow with its
/// syscall, matched by the model. (Reclaiming it, as an LRU map would, loses
/// that read without a trace.)
///
/// Where the kernel skipped probe runs in every attempt (7.2 under
/// emulation), the read is still judged: those runs, counted, make it
/// `inconclusive` at worst, never take its syscall away. They come during
/// the churn; the read's own exit comes after it.
#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn a_blocked_read_keeps_its_syscall_while_threads_come_and_go() {
    let pid = std::process::id().to_string();
    let parked = Cell::new(0);
    let (flows, skipped) = checked_flows("thread-churn", &["--pid", &pid], || {
        let p = park_readers_in_seq_read(1, churn);
        assert_eq!(p.faulted, 1, "the reader never parked");
        parked.set(p.tids[0]);
    });
    let read = flow_of(&flows, "read", parked.get());
    assert_eq!(read["syscall"]["name"], "read", "{read}");
    assert!(read["syscall"]["ret"].as_i64() > Some(0), "{read}");
    assert!(
        read["path"].as_str().is_some_and(|p| p.ends_with("/stat")),
        "{read}"
    );
    let judged = read["verdict"] == "match" || skipped && read["verdict"] == "inconclusive";
    assert!(judged, "{read}");
}

/// An `execve` from a thread other than the leader: the kernel kills the
/// leader and hands its id to the calling thread midway through the
/// syscall. The exec of `/proc/self/exe` is still one operation, reported
/// on the thread id it was entered with, its path walk matched by the model.
#[test]
#[ignore = "needs root and a kernel with kprobes: run `cargo xtask test`"]
fn an_execve_from_a_second_thread_is_one_operation() {
    const COMM: &str = "exec-by-thread";
    let execer = Cell::new(0);
    let (flows, skipped) = checked_flows("exec-by-thread", &["--comm", COMM], || {
        execer.set(exec_from_a_second_thread(COMM));
    });
    if skipped {
        // The leader's exit and the exec's return race for `sys_exit` on
        // the same CPUs: a skipped run may be the exec's own.
        println!("the kernel skipped probe runs in every attempt: nothing left to judge");
        return;
    }
    let exec = flow_of(&flows, "lookup", execer.get());
    assert_eq!(exec["syscall"]["name"], "execve", "{exec}");
    assert_eq!(exec["syscall"]["ret"], 0, "{exec}");
    assert!(
        exec["path"].as_str().is_some_and(|p| p.ends_with("/exe")),
        "{exec}"
    );
    assert_eq!(exec["verdict"], "match", "{exec}");
}

/// Runs `check ARGS` around `work` until a run has no probe run the kernel
/// skipped (three at most: a skipped run of `sys_exit` loses a syscall's
/// record, as any counted loss), asserts that it passed, and returns its
/// flows and whether the kernel skipped runs every time.
fn checked_flows(name: &str, args: &[&str], work: impl Fn()) -> (Vec<Value>, bool) {
    let file = std::env::temp_dir().join(format!("{name}.jsonl"));
    let out = support::check_without_kernel_skips(|| check_around(&file, args, &work));
    let skipped = support::kernel_skips_only(&String::from_utf8_lossy(&out.stderr)) > 0;
    let flows = support::flows(&std::fs::read_to_string(&file).unwrap());
    (flows, skipped)
}

/// Runs `check --format jsonl -o FILE ARGS` while `work` runs, then
/// interrupts it; its output holds all it said on standard error.
fn check_around(file: &std::path::Path, args: &[&str], work: impl FnOnce()) -> Output {
    let mut check = Command::new(support::bin())
        .args(["check", "--format", "jsonl", "-o"])
        .arg(file)
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(check.stderr.take().unwrap());
    let mut said = support::wait_attached(&mut stderr);
    work();
    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe { libc::kill(check.id() as i32, libc::SIGINT) };
    let mut out = check.wait_with_output().unwrap();
    stderr.read_to_string(&mut said).unwrap();
    println!("{said}");
    out.stderr = said.into_bytes();
    out
}

/// The flow of `kind` on thread `tid`.
fn flow_of(flows: &[Value], kind: &str, tid: u32) -> Value {
    flows
        .iter()
        .find(|f| f["kind"] == kind && f["tid"] == tid)
        .cloned()
        .unwrap_or_else(|| panic!("no {kind} flow on thread {tid} among {flows:?}"))
}

/// Starts `CHURN` threads one after another, each reading a byte of
/// /dev/zero. One at a time: on a kernel whose syscall tracepoints run
/// preemptible (7.x), threads that run side by side preempt each other's
/// `sys_enter` and `sys_exit` runs, and the kernel skips the runs that come
/// meanwhile (with 16 at once, 7.2 skipped thousands per run).
fn churn() {
    let zero = std::sync::Arc::new(std::fs::File::open("/dev/zero").unwrap());
    for _ in 0..CHURN {
        let zero = zero.clone();
        let t = std::thread::spawn(move || (&*zero).read(&mut [0u8; 1]).unwrap());
        assert_eq!(t.join().unwrap(), 1);
    }
}

/// What the second thread of the forked child needs, prepared before the
/// fork: after it, the child may only make plain system calls.
struct Exec {
    path: CString,
    argv: [*const libc::c_char; 3],
    /// Where the thread writes its id before it calls `execve`.
    tid_out: libc::c_int,
    null: libc::c_int,
}

/// Forks a child named `comm` whose second thread runs `/proc/self/exe
/// --list` (this test binary, listing its tests, output discarded); waits
/// for the child to exit with 0 and returns that thread's id.
fn exec_from_a_second_thread(comm: &str) -> u32 {
    let path = CString::new("/proc/self/exe").unwrap();
    let arg = CString::new("--list").unwrap();
    let name = CString::new(comm).unwrap();
    let mut fds = [0; 2];
    // SAFETY: plain system calls on values we own; every result is checked.
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        assert!(null >= 0);
        let exec = Box::into_raw(Box::new(Exec {
            argv: [path.as_ptr(), arg.as_ptr(), std::ptr::null()],
            path,
            tid_out: fds[1],
            null,
        }));
        let child = libc::fork();
        assert!(child >= 0, "fork: {}", std::io::Error::last_os_error());
        if child == 0 {
            libc::prctl(libc::PR_SET_NAME, name.as_ptr());
            let mut thread = 0;
            if libc::pthread_create(&mut thread, std::ptr::null(), exec_thread, exec.cast()) == 0 {
                // The exec ends this thread, or the thread ends the child.
                libc::pthread_join(thread, std::ptr::null_mut());
            }
            libc::_exit(126);
        }
        drop(Box::from_raw(exec));
        libc::close(fds[1]);
        libc::close(null);
        let mut tid = 0u32;
        let got = libc::read(fds[0], (&raw mut tid).cast(), 4);
        libc::close(fds[0]);
        let mut status = 0;
        assert_eq!(libc::waitpid(child, &mut status, 0), child);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "the child's exec failed: status {status:#x}"
        );
        assert_eq!(got, 4, "the exec'ing thread never wrote its id");
        assert_ne!(tid, child as u32, "the exec ran on the leader");
        tid
    }
}

/// The forked child's second thread: writes its id, then execs.
extern "C" fn exec_thread(arg: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: `arg` is the `Exec` the parent made before the fork, which
    // the child's copy of memory holds; only system calls follow.
    unsafe {
        let exec = &*arg.cast::<Exec>();
        let tid = libc::gettid() as u32;
        libc::write(exec.tid_out, (&raw const tid).cast(), 4);
        libc::dup2(exec.null, 1);
        libc::execv(exec.path.as_ptr(), exec.argv.as_ptr());
        libc::_exit(127)
    }
}
