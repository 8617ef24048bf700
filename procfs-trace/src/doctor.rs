//! `procfs-trace doctor`: what this machine allows, tried rather than guessed,
//! and a one-line verdict on whether (and how) procfs-trace can trace here.

use std::io::{self, Write};

use procfs_trace_common::PROBES;

use crate::probes::attach::Method;

use crate::kernel::{
    bpf_probe,
    btf::Btf,
    kallsyms::Kallsyms,
    preflight::{can_trace, effective_caps, Host, PreflightError},
};

/// The outcome of one check: Ok with a detail, or Err with the reason.
pub type Check = Result<String, String>;

/// Where each probed function stands on this kernel.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Functions {
    /// In kallsyms under its own name.
    pub present: Vec<&'static str>,
    /// Only compiler clones (`.isra.0`, ...) in kallsyms.
    pub cloned: Vec<&'static str>,
    /// In BTF but not kallsyms: inlined into its callers.
    pub inlined: Vec<&'static str>,
    /// Neither: absent from this kernel.
    pub absent: Vec<&'static str>,
}

/// Everything doctor found.
#[derive(Debug, Clone)]
pub struct Report {
    /// `uname -r`.
    pub release: String,
    /// Root or the needed capabilities.
    pub privileges: Check,
    /// Kernel BTF.
    pub btf: Check,
    /// kprobe support.
    pub kprobes: Check,
    /// fentry support.
    pub fentry: Check,
    /// Lockdown mode.
    pub lockdown: String,
    /// Ring buffer maps.
    pub ring_buffer: Check,
    /// Probed functions.
    pub functions: Option<Functions>,
}

impl Report {
    /// The attach method `--attach auto` would use.
    pub fn auto_method(&self) -> Option<&'static str> {
        match (&self.fentry, &self.kprobes) {
            (Ok(_), _) => Some("fentry (kprobes for any function a trampoline cannot reach)"),
            (Err(_), Ok(_)) => Some("kprobe"),
            _ => None,
        }
    }

    /// One line: can procfs-trace trace here, and if not, what to do.
    pub fn verdict(&self) -> String {
        if let Err(why) = &self.privileges {
            return format!("cannot tell yet: {why}; run `sudo procfs-trace doctor`");
        }
        let mut missing = Vec::new();
        if let Err(why) = &self.kprobes {
            missing.push(format!("no kprobes ({why})"));
        }
        if let Err(why) = &self.btf {
            missing.push(format!("no BTF ({why})"));
        }
        if let Err(why) = &self.ring_buffer {
            missing.push(format!("no ring buffer maps ({why})"));
        }
        if !missing.is_empty() {
            return format!(
                "tracing is impossible on this kernel: {}. Use a kernel with CONFIG_KPROBES, CONFIG_DEBUG_INFO_BTF and BPF ring buffers (Linux 5.8+), or trace in a VM: `cargo xtask vm -- procfs-trace tour`",
                missing.join("; ")
            );
        }
        let f = self.functions.clone().unwrap_or_default();
        format!(
            "procfs-trace can trace here with {}: {} of {} probed functions present{}",
            self.auto_method().unwrap_or("kprobe"),
            f.present.len() + f.cloned.len(),
            PROBES.len(),
            if f.inlined.len() + f.absent.len() > 0 {
                format!(
                    ", {} inlined or absent (skipped)",
                    f.inlined.len() + f.absent.len()
                )
            } else {
                String::new()
            }
        )
    }

    /// The report as lines of text.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let line = |out: &mut dyn Write, name: &str, c: &Check| match c {
            Ok(s) => writeln!(out, "{name:12} yes: {s}"),
            Err(s) => writeln!(out, "{name:12} no: {s}"),
        };
        writeln!(out, "{:12} {}", "kernel", self.release)?;
        line(out, "privileges", &self.privileges)?;
        line(out, "btf", &self.btf)?;
        line(out, "kprobes", &self.kprobes)?;
        line(out, "fentry", &self.fentry)?;
        writeln!(out, "{:12} {}", "lockdown", self.lockdown)?;
        line(out, "ring buffer", &self.ring_buffer)?;
        match &self.functions {
            Some(f) => {
                writeln!(
                    out,
                    "{:12} {} present, {} as compiler clones, {} inlined, {} absent",
                    "functions",
                    f.present.len(),
                    f.cloned.len(),
                    f.inlined.len(),
                    f.absent.len()
                )?;
                for (what, list) in [
                    ("clones", &f.cloned),
                    ("inlined", &f.inlined),
                    ("absent", &f.absent),
                ] {
                    if !list.is_empty() {
                        writeln!(out, "{:12}   {what}: {}", "", list.join(", "))?;
                    }
                }
            }
            None => writeln!(
                out,
                "{:12} unknown (kallsyms or BTF unreadable)",
                "functions"
            )?,
        }
        writeln!(
            out,
            "{:12} {}",
            "attach",
            match self.auto_method() {
                Some(m) => format!("--attach auto would use {m}"),
                None => "nothing can attach here".to_owned(),
            }
        )?;
        writeln!(out, "{:12} {}", "verdict", self.verdict())
    }
}

/// Looks at the running machine.
pub fn examine() -> Report {
    let host = Host::real();
    let status = std::fs::read_to_string(host.path("proc/self/status")).unwrap_or_default();
    let caps = effective_caps(&status).unwrap_or(0);
    let privileged = can_trace(caps);
    let privileges = if privileged {
        Ok(format!("effective capabilities {caps:#x}"))
    } else {
        Err("not root, and no CAP_BPF + CAP_PERFMON".to_owned())
    };
    let btf = Btf::from_file(&host.btf_path());
    let btf_check = match &btf {
        Ok(_) => Ok(host.btf_path().display().to_string()),
        Err(e) => Err(e.to_string()),
    };
    let kallsyms = Kallsyms::from_file(&host.path("proc/kallsyms")).ok();
    let kprobes = match host.check_kprobes() {
        Err(PreflightError::NoKprobes { why, .. }) => Err(why),
        Err(e) => Err(e.to_string()),
        Ok(()) if !privileged => {
            Ok("kprobe PMU present (attaching not tried without root)".to_owned())
        }
        Ok(()) => try_attach(Method::Kprobe),
    };
    let fentry = match (&btf, privileged) {
        (_, false) => Err("not tried without root".to_owned()),
        (Err(_), _) => Err("needs BTF".to_owned()),
        (Ok(b), true) => match b.func_id("proc_root_lookup") {
            None => Err("proc_root_lookup is not in BTF".to_owned()),
            // First whether the kernel allows trampolines at all, then whether
            // procfs-trace's own programs load (they need Linux 5.17+ helpers).
            Some(id) => bpf_probe::fentry(id).and_then(|()| try_attach(Method::Fentry)),
        },
    };
    let ring_buffer = if privileged {
        bpf_probe::ring_buffer()
            .map(|()| "created a ring buffer map".to_owned())
            .map_err(|e| e.to_string())
    } else {
        Err("not tried without root".to_owned())
    };
    let lockdown = std::fs::read_to_string(host.path("sys/kernel/security/lockdown"))
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .find(|w| w.starts_with('['))
                .map(|w| w.trim_matches(['[', ']']).to_owned())
        })
        .unwrap_or_else(|| "unknown (no /sys/kernel/security/lockdown)".to_owned());
    let functions = kallsyms.map(|k| classify(&k, btf.as_ref().ok()));
    Report {
        release: host.release(),
        privileges,
        btf: btf_check,
        kprobes,
        fentry,
        lockdown,
        ring_buffer,
        functions,
    }
}

/// Sorts the probed functions by how this kernel has them.
pub fn classify(k: &Kallsyms, btf: Option<&Btf>) -> Functions {
    let mut f = Functions::default();
    for p in PROBES {
        if k.contains_function(p.func) {
            f.present.push(p.func);
        } else if !k.function_variants(p.func).is_empty() {
            f.cloned.push(p.func);
        } else if btf.is_some_and(|b| b.func_id(p.func).is_some()) {
            f.inlined.push(p.func);
        } else {
            f.absent.push(p.func);
        }
    }
    f
}

/// Attaches procfs-trace's own programs with `method` only, then detaches them.
fn try_attach(method: Method) -> Check {
    let host = Host::real();
    let btf = Btf::from_file(&host.btf_path()).map_err(|e| e.to_string())?;
    let k = Kallsyms::from_file(&host.path("proc/kallsyms")).map_err(|e| e.to_string())?;
    let plan = crate::probes::plan::Plan::new(&btf, &k).map_err(|e| e.to_string())?;
    let a = crate::probes::attach::attach(&plan, &plan.config, 4096, method)
        .map_err(|e| e.to_string())?;
    let detail = format!(
        "{} of {} probes attached with {} (and detached)",
        a.attached.len(),
        plan.probes.len(),
        method.as_str()
    );
    match a.failed.first() {
        Some((f, why)) if a.attached.is_empty() => Err(format!("{f}: {why}")),
        _ => Ok(detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            release: "6.1.0-test".into(),
            privileges: Ok("root".into()),
            btf: Ok("/sys/kernel/btf/vmlinux".into()),
            kprobes: Ok("attached".into()),
            fentry: Ok("attached".into()),
            lockdown: "none".into(),
            ring_buffer: Ok("created".into()),
            functions: Some(Functions {
                present: vec!["proc_root_lookup"],
                inlined: vec!["proc_lookup"],
                ..Functions::default()
            }),
        }
    }

    #[test]
    fn a_working_kernel_says_how_it_traces() {
        let v = report().verdict();
        assert!(
            v.starts_with("procfs-trace can trace here with fentry"),
            "{v}"
        );
        assert!(v.contains("1 inlined or absent"), "{v}");
    }

    #[test]
    fn kprobes_alone_are_enough() {
        let mut r = report();
        r.fentry = Err("helpers missing".into());
        assert_eq!(r.auto_method(), Some("kprobe"));
        assert!(r
            .verdict()
            .starts_with("procfs-trace can trace here with kprobe"));
    }

    #[test]
    fn this_host_without_kprobes_is_told_to_use_the_vm() {
        let mut r = report();
        r.kprobes = Err("CONFIG_KPROBES is not set".into());
        r.fentry = Err("loading an fentry program failed: Operation not permitted (denied)".into());
        let v = r.verdict();
        assert!(
            v.contains("tracing is impossible")
                && v.contains("CONFIG_KPROBES")
                && v.contains("cargo xtask vm"),
            "{v}"
        );
        assert_eq!(r.auto_method(), None);
        let mut out = Vec::new();
        r.write(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("fentry       no: loading an fentry program failed"),
            "{text}"
        );
        assert!(
            text.contains("attach       nothing can attach here"),
            "{text}"
        );
    }

    #[test]
    fn without_privileges_nothing_is_claimed() {
        let mut r = report();
        r.privileges = Err("not root".into());
        assert!(r.verdict().contains("sudo procfs-trace doctor"));
    }
}
