//! Decides, for the running kernel, which probes attach where and what each one
//! extracts: function presence from kallsyms, argument layout from BTF.

use procfs_trace_common::{
    Chain, Config, FdMagicOffsets, PidNsOffsets, ProbeId, ProbeSpec, Role, MAX_CHAIN, NO_ARG,
    PROBES,
};
use thiserror::Error;

use super::recipes::{self, Hop, Recipe};
use crate::kernel::{
    btf::{Btf, BtfError, Param, ParamType},
    kallsyms::Kallsyms,
};

/// What the plan needs to know of kernel types (BTF in production, fakes in tests).
pub trait KernelTypes {
    /// Byte offset of a member path inside a struct.
    fn member_offset(&self, ty: &str, path: &str) -> Result<u32, BtfError>;
    /// Size of a struct or union.
    fn struct_size(&self, ty: &str) -> Result<u32, BtfError>;
    /// A function's parameters, in order.
    fn func_params(&self, func: &str) -> Result<Vec<Param>, BtfError>;
    /// What a function returns (`None`: void).
    fn func_return(&self, func: &str) -> Result<Option<ParamType>, BtfError>;
}

impl KernelTypes for Btf {
    fn member_offset(&self, ty: &str, path: &str) -> Result<u32, BtfError> {
        Btf::member_offset(self, ty, path)
    }
    fn struct_size(&self, ty: &str) -> Result<u32, BtfError> {
        Btf::struct_size(self, ty)
    }
    fn func_params(&self, func: &str) -> Result<Vec<Param>, BtfError> {
        Btf::func_params(self, func)
    }
    fn func_return(&self, func: &str) -> Result<Option<ParamType>, BtfError> {
        Btf::func_return(self, func)
    }
}

/// What the plan needs to know of kernel symbols.
pub trait KernelSymbols {
    /// The symbol to attach to for `func`: itself, or a compiler-suffixed clone.
    fn attach_symbol(&self, func: &str) -> Option<String>;
}

impl KernelSymbols for Kallsyms {
    fn attach_symbol(&self, func: &str) -> Option<String> {
        if self.contains_function(func) {
            return Some(func.to_owned());
        }
        self.function_variants(func).first().map(|s| s.to_string())
    }
}

/// A plan that cannot be made at all.
#[derive(Debug, Error)]
pub enum PlanError {
    /// A struct member the filters or syscall attribution cannot work without.
    #[error("kernel BTF lacks {what}, which procfs-trace needs to {why}")]
    MissingLayout {
        /// What it is needed for.
        why: &'static str,
        /// The member.
        what: String,
        /// The lookup failure.
        #[source]
        source: BtfError,
    },
    /// None of the target functions exist.
    #[error("none of the procfs functions procfs-trace probes exist in this kernel's kallsyms; is /proc/kallsyms readable (run as root)?")]
    NothingToAttach,
}

/// One probe to attach.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// Which probe.
    pub id: ProbeId,
    /// The kallsyms symbol to attach to (may carry a `.isra.0`-style suffix).
    pub symbol: String,
    /// What the eBPF side extracts.
    pub spec: ProbeSpec,
}

/// A probe left out on this kernel, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// The kernel function.
    pub func: &'static str,
    /// Why, in words.
    pub reason: String,
}

/// The per-kernel decisions.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Probes to attach.
    pub probes: Vec<Planned>,
    /// Probes absent from this kernel.
    pub skipped: Vec<Skipped>,
    /// Probes attached with less than their full arguments, and why.
    pub degraded: Vec<String>,
    /// Settings for the eBPF side (filters are filled in by the caller).
    pub config: Config,
}

impl Plan {
    /// Builds the plan for the kernel these types and symbols describe.
    pub fn new(types: &impl KernelTypes, symbols: &impl KernelSymbols) -> Result<Plan, PlanError> {
        let mut config = Config::EMPTY;
        const CHILDREN: &str = "follow a command's child processes";
        const SYSCALLS: &str = "read syscall arguments";
        config.task_real_parent = required(types, recipes::TASK_REAL_PARENT, CHILDREN)?;
        config.task_tgid = required(types, recipes::TASK_TGID, CHILDREN)?;
        config.regs_arg0 = required(types, recipes::REGS_ARG0, SYSCALLS)?;
        config.regs_arg1 = required(types, recipes::REGS_ARG1, SYSCALLS)?;
        config.regs_arg2 = required(types, recipes::REGS_ARG2, SYSCALLS)?;
        config.regs_arg3 = required(types, recipes::REGS_ARG3, SYSCALLS)?;
        config.regs_nr = required(types, recipes::REGS_NR, SYSCALLS)?;

        let mut plan = Plan {
            probes: Vec::new(),
            skipped: Vec::new(),
            degraded: Vec::new(),
            config,
        };
        match pidns_offsets(types) {
            Ok(o) => plan.config.pidns = o,
            Err(e) => plan.degraded.push(format!(
                "tgids in a proc mount's pid namespace not read ({e}): /proc/self in a container is checked against the global tgid"
            )),
        }
        match fd_magic_offsets(types) {
            Ok(o) => plan.config.fd_magic = o,
            Err(e) => plan.degraded.push(format!(
                "the filesystem of an opened fd not read ({e}): opens of /proc files through a relative path or a proc mounted elsewhere are reported only when a probe fires in them"
            )),
        }
        for def in PROBES {
            let Some(symbol) = symbols.attach_symbol(def.func) else {
                plan.skipped.push(Skipped {
                    func: def.func,
                    reason: "not in kallsyms (absent or inlined on this kernel)".to_owned(),
                });
                continue;
            };
            let spec = if symbol != def.func {
                // A clone such as .isra.0 may have dropped or reordered parameters,
                // so the BTF prototype of the original no longer describes it.
                plan.degraded.push(format!(
                    "{}: attached as {symbol}, a compiler clone whose arguments may differ, so none are read",
                    def.func
                ));
                ProbeSpec::NONE
            } else {
                let (spec, problems) = spec_for(types, def.func, def.role);
                plan.degraded
                    .extend(problems.into_iter().map(|p| format!("{}: {p}", def.func)));
                spec
            };
            plan.config.probes[def.id as usize] = spec;
            plan.probes.push(Planned {
                id: def.id,
                symbol,
                spec,
            });
        }
        if plan.probes.is_empty() {
            return Err(PlanError::NothingToAttach);
        }
        Ok(plan)
    }
}

fn required(
    types: &impl KernelTypes,
    (ty, path): (&'static str, &'static str),
    why: &'static str,
) -> Result<u32, PlanError> {
    types
        .member_offset(ty, path)
        .map_err(|source| PlanError::MissingLayout {
            what: format!("{ty}.{path}"),
            why,
            source,
        })
}

/// Where a task's tgid in a pid namespace is found on this kernel.
fn pidns_offsets(types: &impl KernelTypes) -> Result<PidNsOffsets, BtfError> {
    let at = |(ty, path): (&str, &str)| types.member_offset(ty, path);
    Ok(PidNsOffsets {
        valid: 1,
        ns_level: at(recipes::NS_LEVEL)?,
        task_group_leader: at(recipes::TASK_GROUP_LEADER)?,
        task_thread_pid: at(recipes::TASK_THREAD_PID)?,
        pid_level: at(recipes::PID_LEVEL)?,
        pid_numbers: at(recipes::PID_NUMBERS)?,
        upid_size: types.struct_size("upid")?,
        upid_nr: at(recipes::UPID_NR)?,
        upid_ns: at(recipes::UPID_NS)?,
        reserved: 0,
    })
}

/// Where the superblock magic of a task's fd is found on this kernel.
fn fd_magic_offsets(types: &impl KernelTypes) -> Result<FdMagicOffsets, BtfError> {
    let at = |(ty, path): (&str, &str)| types.member_offset(ty, path);
    Ok(FdMagicOffsets {
        valid: 1,
        task_files: at(recipes::TASK_FILES)?,
        files_fdt: at(recipes::FILES_FDT)?,
        fdt_fd: at(recipes::FDT_FD)?,
        file_inode: at(recipes::FILE_INODE)?,
        inode_sb: at(recipes::INODE_SB)?,
        sb_magic: at(recipes::SB_MAGIC)?,
        reserved: 0,
    })
}

/// The extraction spec of one function, and what could not be resolved.
fn spec_for(types: &impl KernelTypes, func: &str, role: Role) -> (ProbeSpec, Vec<String>) {
    let mut problems = Vec::new();
    let params = match types.func_params(func) {
        Ok(p) => p,
        Err(e) => {
            problems.push(format!(
                "no prototype in BTF, so no arguments are read ({e})"
            ));
            return (ProbeSpec::NONE, problems);
        }
    };
    let mut resolve = |recipes: &[Recipe], what: &str| match chain_for(types, &params, recipes) {
        Ok(chain) => chain,
        Err(e) => {
            problems.push(format!("{what} not read: {e}"));
            Chain::NONE
        }
    };
    let name = resolve(recipes::NAME, "name");
    let pos = resolve(recipes::POS, "position");
    let show_recipes = match role {
        Role::Plain | Role::SelfLink | Role::MountOpts => None,
        Role::SeqReader => Some(recipes::SEQ_SHOW),
        Role::SingleShow => Some(recipes::SINGLE_SHOW),
    };
    let pidns = match role {
        Role::SelfLink => resolve(recipes::PIDNS, "the mount's pid namespace"),
        _ => Chain::NONE,
    };
    let addr = match show_recipes.map(|r| resolve(r, "show callback")) {
        None if role == Role::MountOpts => match mount_opts_readable(types) {
            Ok(()) => resolve(recipes::MOUNT_OPTS, "the mount's hidepid= and subset="),
            Err(e) => {
                problems.push(format!("the mount's hidepid= and subset= not read: {e}"));
                Chain::NONE
            }
        },
        None => Chain::NONE,
        Some(chain) => {
            if chain.arg == NO_ARG && problems.is_empty() {
                problems
                    .push("show callback not read: no parameter of the expected type".to_owned());
            }
            chain
        }
    };
    let ret32 = matches!(
        types.func_return(func),
        Ok(Some(ParamType::Int { size: 4 }))
    ) as u32;
    let addr_is_show = u32::from(show_recipes.is_some() && addr.arg != NO_ARG);
    (
        ProbeSpec {
            name,
            pos,
            addr,
            pidns,
            ret32,
            addr_is_show,
        },
        problems,
    )
}

/// Whether one 8-byte read at `proc_fs_info.hide_pid` also holds `pidonly`.
fn mount_opts_readable(types: &impl KernelTypes) -> Result<(), String> {
    let at = |(ty, path): (&str, &str)| types.member_offset(ty, path).map_err(|e| e.to_string());
    let (hide_pid, pidonly) = (at(recipes::HIDE_PID)?, at(recipes::PIDONLY)?);
    if pidonly != hide_pid + 4 {
        return Err(format!(
            "proc_fs_info.pidonly is at byte {pidonly}, not right after hide_pid at {hide_pid}"
        ));
    }
    Ok(())
}

/// The chain of the first recipe whose start type is a parameter; `NONE` when no
/// parameter fits (the probe simply has no such value), an error when one fits
/// but a member is missing from BTF.
fn chain_for(
    types: &impl KernelTypes,
    params: &[Param],
    recipes: &[Recipe],
) -> Result<Chain, BtfError> {
    for (start, hops) in recipes {
        let Some(arg) = params
            .iter()
            .position(|p| matches!(&p.ty, ParamType::PtrToStruct(s) if s == start))
        else {
            continue;
        };
        return build_chain(types, arg, hops);
    }
    Ok(Chain::NONE)
}

fn build_chain(types: &impl KernelTypes, arg: usize, hops: &[Hop]) -> Result<Chain, BtfError> {
    debug_assert!(hops.len() <= MAX_CHAIN);
    let mut chain = Chain::NONE;
    // Only the six register arguments are visible to a kprobe.
    if arg >= 6 {
        return Ok(chain);
    }
    for (slot, hop) in chain.offsets.iter_mut().zip(hops) {
        let mut off = i64::from(types.member_offset(hop.ty, hop.path)?);
        if let Some(minus) = hop.minus {
            off -= i64::from(types.member_offset(hop.ty, minus)?);
        }
        *slot = off as i32;
    }
    chain.arg = arg as u8;
    chain.steps = hops.len().min(MAX_CHAIN) as u8;
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    /// A kernel described by hand: member offsets and function prototypes.
    #[derive(Default)]
    struct FakeKernel {
        members: HashMap<(&'static str, &'static str), u32>,
        funcs: HashMap<&'static str, Vec<Param>>,
        symbols: HashSet<String>,
    }

    fn ptr(s: &str) -> ParamType {
        ParamType::PtrToStruct(s.to_owned())
    }

    fn param(name: &str, ty: ParamType) -> Param {
        Param {
            name: name.to_owned(),
            ty,
        }
    }

    impl KernelTypes for FakeKernel {
        fn member_offset(&self, ty: &str, path: &str) -> Result<u32, BtfError> {
            self.members
                .iter()
                .find(|((t, p), _)| *t == ty && *p == path)
                .map(|(_, off)| *off)
                .ok_or_else(|| BtfError::NoSuchMember {
                    type_name: ty.to_owned(),
                    member: path.to_owned(),
                })
        }
        fn struct_size(&self, ty: &str) -> Result<u32, BtfError> {
            match ty {
                "upid" => Ok(16),
                _ => Err(BtfError::NoSuchType {
                    name: ty.to_owned(),
                }),
            }
        }
        fn func_return(&self, func: &str) -> Result<Option<ParamType>, BtfError> {
            Ok((func == "proc_root_readdir").then_some(ParamType::Int { size: 4 }))
        }
        fn func_params(&self, func: &str) -> Result<Vec<Param>, BtfError> {
            self.funcs
                .get(func)
                .cloned()
                .ok_or_else(|| BtfError::NoSuchFunction {
                    name: func.to_owned(),
                })
        }
    }

    impl KernelSymbols for FakeKernel {
        fn attach_symbol(&self, func: &str) -> Option<String> {
            if self.symbols.contains(func) {
                return Some(func.to_owned());
            }
            let clone = format!("{func}.isra.0");
            self.symbols.contains(&clone).then_some(clone)
        }
    }

    /// Offsets chosen to be distinct so a wrong hop shows up as a wrong number.
    fn kernel() -> FakeKernel {
        let mut k = FakeKernel::default();
        for (key, off) in [
            (("task_struct", "real_parent"), 1000),
            (("task_struct", "tgid"), 1100),
            (("pt_regs", "di"), 112),
            (("pt_regs", "si"), 104),
            (("pt_regs", "dx"), 96),
            (("pt_regs", "r10"), 56),
            (("pt_regs", "orig_ax"), 120),
            (("dentry", "d_name.name"), 40),
            (("file", "f_path.dentry"), 24),
            (("file", "private_data"), 200),
            (("kiocb", "ki_filp"), 0),
            (("seq_file", "op"), 96),
            (("seq_file", "private"), 120),
            (("seq_file", "file"), 112),
            (("seq_operations", "show"), 24),
            (("proc_inode", "op.proc_show"), 48),
            (("proc_inode", "vfs_inode"), 72),
            (("dir_context", "pos"), 8),
            (("inode", "i_sb"), 40),
            (("super_block", "s_fs_info"), 904),
            (("proc_fs_info", "pid_ns"), 0),
            (("proc_fs_info", "hide_pid"), 20),
            (("proc_fs_info", "pidonly"), 24),
            (("file", "f_inode"), 32),
            (("pid_namespace", "level"), 72),
            (("task_struct", "group_leader"), 1200),
            (("task_struct", "thread_pid"), 2336),
            (("pid", "level"), 4),
            (("pid", "numbers"), 96),
            (("upid", "nr"), 0),
            (("upid", "ns"), 8),
        ] {
            k.members.insert(key, off);
        }
        k.funcs.insert(
            "proc_root_lookup",
            vec![
                param("dir", ptr("inode")),
                param("dentry", ptr("dentry")),
                param("flags", ParamType::Int { size: 4 }),
            ],
        );
        k.funcs.insert(
            "proc_root_readdir",
            vec![param("file", ptr("file")), param("ctx", ptr("dir_context"))],
        );
        k.funcs.insert(
            "seq_read_iter",
            vec![param("iocb", ptr("kiocb")), param("iter", ptr("iov_iter"))],
        );
        k.funcs.insert(
            "proc_single_show",
            vec![
                param("m", ptr("seq_file")),
                param("v", ParamType::PtrToOther),
            ],
        );
        k.funcs.insert(
            "proc_self_get_link",
            vec![
                param("dentry", ptr("dentry")),
                param("inode", ptr("inode")),
                param("done", ptr("delayed_call")),
            ],
        );
        k.symbols = [
            "proc_self_get_link",
            "proc_root_lookup",
            "proc_root_readdir",
            "seq_read_iter",
            "proc_single_show",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        k
    }

    fn planned(plan: &Plan, id: ProbeId) -> &Planned {
        plan.probes.iter().find(|p| p.id == id).expect("planned")
    }

    fn chain(arg: u8, offsets: &[i32]) -> Chain {
        let mut c = Chain::NONE;
        c.arg = arg;
        c.steps = offsets.len() as u8;
        c.offsets[..offsets.len()].copy_from_slice(offsets);
        c
    }

    #[test]
    fn lookup_reads_the_dentry_parameter_name() {
        let k = kernel();
        let plan = Plan::new(&k, &k).unwrap();
        let p = planned(&plan, ProbeId::ProcRootLookup);
        assert_eq!(p.spec.name, chain(1, &[40]));
        assert_eq!(p.spec.pos, Chain::NONE);
        assert_eq!(plan.config.probes[ProbeId::ProcRootLookup as usize], p.spec);
    }

    #[test]
    fn root_functions_read_the_mounts_options() {
        let k = kernel();
        let plan = Plan::new(&k, &k).unwrap();
        // From the directory inode: i_sb, s_fs_info, then hide_pid and pidonly.
        let lookup = planned(&plan, ProbeId::ProcRootLookup);
        assert_eq!(lookup.spec.addr, chain(0, &[40, 904, 20]));
        // From the open directory: f_inode first.
        let readdir = planned(&plan, ProbeId::ProcRootReaddir);
        assert_eq!(readdir.spec.addr, chain(0, &[32, 40, 904, 20]));
        // Where pidonly does not follow hide_pid, one read cannot hold both.
        let mut k = kernel();
        k.members.insert(("proc_fs_info", "pidonly"), 32);
        let plan = Plan::new(&k, &k).unwrap();
        assert_eq!(
            planned(&plan, ProbeId::ProcRootLookup).spec.addr,
            Chain::NONE
        );
        assert!(plan
            .degraded
            .iter()
            .any(|d| d.starts_with("proc_root_lookup: the mount's hidepid= and subset= not read")));
    }

    #[test]
    fn readdir_reads_position_and_directory_name() {
        let k = kernel();
        let plan = Plan::new(&k, &k).unwrap();
        let p = planned(&plan, ProbeId::ProcRootReaddir);
        assert_eq!(p.spec.pos, chain(1, &[8]));
        assert_eq!(p.spec.ret32, 1, "int-returning functions are sign-extended");
        assert_eq!(planned(&plan, ProbeId::ProcRootLookup).spec.ret32, 0);
        assert_eq!(p.spec.name, chain(0, &[24, 40]));
    }

    #[test]
    fn seq_read_iter_walks_to_the_show_callback() {
        let k = kernel();
        let plan = Plan::new(&k, &k).unwrap();
        let p = planned(&plan, ProbeId::SeqReadIter);
        assert_eq!(p.spec.addr, chain(0, &[0, 200, 96, 24]));
        assert_eq!(p.spec.name, chain(0, &[0, 24, 40]));
    }

    #[test]
    fn single_show_uses_container_of_the_proc_inode() {
        let k = kernel();
        let plan = Plan::new(&k, &k).unwrap();
        let p = planned(&plan, ProbeId::ProcSingleShow);
        assert_eq!(p.spec.addr, chain(0, &[120, 48 - 72]));
        assert_eq!(p.spec.name, chain(0, &[112, 24, 40]));
    }

    #[test]
    fn self_link_walks_to_the_mounts_pid_namespace() {
        let plan = Plan::new(&kernel(), &kernel()).unwrap();
        let p = planned(&plan, ProbeId::ProcSelfGetLink);
        assert_eq!(p.spec.pidns, chain(1, &[40, 904, 0]));
        assert_eq!(p.spec.pos, Chain::NONE);
        let o = plan.config.pidns;
        assert_eq!(
            (o.valid, o.ns_level, o.task_group_leader, o.task_thread_pid),
            (1, 72, 1200, 2336)
        );
        assert_eq!(
            (
                o.pid_level,
                o.pid_numbers,
                o.upid_size,
                o.upid_nr,
                o.upid_ns
            ),
            (4, 96, 16, 0, 8)
        );
        // Other probes report no namespaced tgid.
        assert_eq!(
            planned(&plan, ProbeId::ProcRootLookup).spec.pidns,
            Chain::NONE
        );
        // Without the pid layout, the plan says so and reports none.
        let mut k = kernel();
        k.members.remove(&("pid", "numbers"));
        let plan = Plan::new(&k, &k).unwrap();
        assert_eq!(plan.config.pidns.valid, 0);
        assert!(plan
            .degraded
            .iter()
            .any(|d| d.contains("pid namespace not read")));
    }

    #[test]
    fn absent_functions_are_skipped_with_a_reason() {
        let k = kernel();
        let plan = Plan::new(&k, &k).unwrap();
        let skipped: Vec<_> = plan.skipped.iter().map(|s| s.func).collect();
        assert!(skipped.contains(&"proc_pid_lookup"));
        assert!(!skipped.contains(&"proc_root_lookup"));
        assert_eq!(plan.probes.len() + plan.skipped.len(), PROBES.len());
    }

    #[test]
    fn compiler_clones_attach_without_arguments() {
        let mut k = kernel();
        k.symbols.remove("proc_root_lookup");
        k.symbols.insert("proc_root_lookup.isra.0".to_owned());
        let plan = Plan::new(&k, &k).unwrap();
        let p = planned(&plan, ProbeId::ProcRootLookup);
        assert_eq!(p.symbol, "proc_root_lookup.isra.0");
        assert_eq!(p.spec, ProbeSpec::NONE);
        assert!(plan.degraded.iter().any(|d| d.contains("compiler clone")));
    }

    #[test]
    fn a_missing_member_degrades_only_that_value() {
        let mut k = kernel();
        k.members.remove(&("proc_inode", "vfs_inode"));
        let plan = Plan::new(&k, &k).unwrap();
        let p = planned(&plan, ProbeId::ProcSingleShow);
        assert_eq!(p.spec.addr, Chain::NONE);
        assert_eq!(p.spec.name, chain(0, &[112, 24, 40]));
        assert!(plan
            .degraded
            .iter()
            .any(|d| d.starts_with("proc_single_show: show callback")));
    }

    #[test]
    fn task_layout_is_required() {
        let mut k = kernel();
        k.members.remove(&("task_struct", "real_parent"));
        assert!(matches!(
            Plan::new(&k, &k),
            Err(PlanError::MissingLayout { .. })
        ));
        assert_eq!(
            Plan::new(&kernel(), &kernel()).unwrap().config.task_tgid,
            1100
        );
    }

    /// The syscall tracepoints read arguments and the number from the saved
    /// registers, at this kernel's offsets; without them nothing is followed.
    #[test]
    fn syscall_registers_come_from_btf() {
        let c = Plan::new(&kernel(), &kernel()).unwrap().config;
        let got = [
            c.regs_arg0,
            c.regs_arg1,
            c.regs_arg2,
            c.regs_arg3,
            c.regs_nr,
        ];
        assert_eq!(got, [112, 104, 96, 56, 120]);
        let mut k = kernel();
        k.members.remove(&("pt_regs", "orig_ax"));
        assert!(matches!(
            Plan::new(&k, &k),
            Err(PlanError::MissingLayout { .. })
        ));
    }

    #[test]
    fn no_symbols_at_all_is_an_error() {
        let mut k = kernel();
        k.symbols.clear();
        assert!(matches!(Plan::new(&k, &k), Err(PlanError::NothingToAttach)));
    }
}
