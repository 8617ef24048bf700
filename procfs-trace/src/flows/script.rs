//! Event streams for tests, written one thread at a time: syscalls, probe
//! entries and exits with increasing timestamps.

use procfs_trace_common::{ProbeId, Syscall};

use super::{builder::FlowBuilder, op::Op};
use crate::{
    events::{
        decode::{Event, Origin, Phase, ProbeHit, SyscallHit},
        pairs::pair_like_the_kernel,
    },
    model::mount::MountOpts,
};

/// Builds event streams for tests, one thread at a time.
pub(crate) struct Script {
    /// The stream so far.
    pub events: Vec<Event>,
    ts: u64,
}

impl Script {
    pub fn new() -> Script {
        Script {
            events: Vec::new(),
            ts: 1_000,
        }
    }

    fn origin(&mut self, tid: u32) -> Origin {
        self.ts += 10;
        Origin {
            ts_ns: self.ts,
            tgid: tid,
            tid,
            cpu: 0,
            comm: "cat".into(),
        }
    }

    pub fn sys(&mut self, tid: u32, syscall: Syscall, path: Option<&str>, fd: i64) -> &mut Self {
        let origin = self.origin(tid);
        self.events.push(Event::Syscall(SyscallHit {
            origin,
            syscall,
            phase: Phase::Entry,
            fd,
            path: path.map(String::from),
            path_fault: false,
            at_flags: 0,
            ret: None,
            lost: false,
        }));
        self
    }

    pub fn sys_ret(&mut self, tid: u32, syscall: Syscall, ret: i64) -> &mut Self {
        self.sys_exit(tid, syscall, ret, false)
    }

    /// A syscall exit whose events the kernel could not all write.
    pub fn sys_ret_lost(&mut self, tid: u32, syscall: Syscall, ret: i64) -> &mut Self {
        self.sys_exit(tid, syscall, ret, true)
    }

    fn sys_exit(&mut self, tid: u32, syscall: Syscall, ret: i64, lost: bool) -> &mut Self {
        let origin = self.origin(tid);
        self.events.push(Event::Syscall(SyscallHit {
            origin,
            syscall,
            phase: Phase::Exit,
            fd: 0,
            path: None,
            path_fault: false,
            at_flags: 0,
            ret: Some(ret),
            lost,
        }));
        self
    }

    pub fn enter(&mut self, tid: u32, probe: ProbeId, name: Option<&str>) -> &mut Self {
        self.enter_with(tid, probe, name, None, None)
    }

    pub fn enter_with(
        &mut self,
        tid: u32,
        probe: ProbeId,
        name: Option<&str>,
        pos: Option<i64>,
        addr: Option<u64>,
    ) -> &mut Self {
        let origin = self.origin(tid);
        self.events.push(Event::Probe(ProbeHit {
            origin,
            probe,
            phase: Phase::Entry,
            name: name.map(String::from),
            pos,
            ret: None,
            addr,
            mount: None,
            ns_tid: None,
            faults: vec![],
        }));
        self
    }

    /// Gives the last entry the proc mount's options, as a
    /// [`procfs_trace_common::Role::MountOpts`] probe reports them.
    pub fn in_mount(&mut self, opts: MountOpts) -> &mut Self {
        if let Some(Event::Probe(p)) = self.events.last_mut() {
            p.mount = Some(opts);
        }
        self
    }

    /// Gives the last entry the thread id a
    /// [`procfs_trace_common::Role::SelfLink`] probe reports.
    pub fn with_ns_tid(&mut self, ns_tid: i64) -> &mut Self {
        if let Some(Event::Probe(p)) = self.events.last_mut() {
            p.ns_tid = Some(ns_tid);
        }
        self
    }

    pub fn exit(&mut self, tid: u32, probe: ProbeId, ret: i64) -> &mut Self {
        self.exit_with(tid, probe, ret, None)
    }

    pub fn exit_with(&mut self, tid: u32, probe: ProbeId, ret: i64, pos: Option<i64>) -> &mut Self {
        let origin = self.origin(tid);
        self.events.push(Event::Probe(ProbeHit {
            origin,
            probe,
            phase: Phase::Exit,
            name: None,
            pos,
            ret: Some(ret),
            addr: None,
            mount: None,
            ns_tid: None,
            faults: vec![],
        }));
        self
    }

    /// A cold lookup of pid `name` in the proc root: proc_root_lookup →
    /// proc_pid_lookup, both returning 0.
    pub fn pid_lookup(&mut self, tid: u32, name: &str) -> &mut Self {
        self.enter(tid, ProbeId::ProcRootLookup, Some(name))
            .enter(tid, ProbeId::ProcPidLookup, Some(name))
            .exit(tid, ProbeId::ProcPidLookup, 0)
            .exit(tid, ProbeId::ProcRootLookup, 0)
    }

    /// A cold lookup of `name` in a pid directory: proc_tgid_base_lookup →
    /// proc_pident_lookup, both returning 0.
    pub fn entry_lookup(&mut self, tid: u32, name: &str) -> &mut Self {
        self.enter(tid, ProbeId::ProcTgidBaseLookup, Some(name))
            .enter(tid, ProbeId::ProcPidentLookup, Some(name))
            .exit(tid, ProbeId::ProcPidentLookup, 0)
            .exit(tid, ProbeId::ProcTgidBaseLookup, 0)
    }

    /// Runs the events through a builder and returns every operation,
    /// checking that the records the kernel pairs make the same ones.
    pub fn ops(&self) -> Vec<Op> {
        let ops = build(&self.events);
        if let Some(paired) = pair_like_the_kernel(&self.events) {
            assert_eq!(
                build(&paired),
                ops,
                "the paired records make other operations"
            );
        }
        ops
    }
}

fn build(events: &[Event]) -> Vec<Op> {
    let mut b = FlowBuilder::new();
    let names = |a: u64| Some(format!("fn_{a:x}").into());
    for e in events {
        b.push(e.clone(), &names);
    }
    b.finish()
}
