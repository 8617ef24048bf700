//! `cargo xtask test`: host tests, then the VM tests on each chosen kernel.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::Args;

use crate::guest::{self, Guest, PROCFS_TRACE_GUEST_PATH};
use crate::qemu::Options;
use crate::report::{self, KernelRun};
use crate::{artifact, host_tools, kernel, run, vm, workspace};

/// Where the tour VM test leaves its summary (see procfs-trace/tests/vm/tour.rs).
const TOUR_REPORT_GUEST_PATH: &str = "/tmp/tour-report.json";

/// Where the VM test binary lives inside the guest.
const VM_TESTS_GUEST_PATH: &str = "/bin/vm-tests";

/// VM test modules of the agent's own features: the live view, recordings
/// and exporters. The same events drive them on every kernel, so a matrix
/// of three or more kernels runs them on its first and last only (with
/// `all`, 5.10 on kprobes and the newest on fentry).
const AGENT_MODULES: [&str; 3] = ["live::", "record::", "serve::"];

/// The workspace member that cannot be built or tested for the host.
const EBPF_CRATE: &str = "procfs-trace-ebpf";

/// Options of `cargo xtask test`.
#[derive(Args)]
pub struct TestArgs {
    /// Kernels for the VM tests, comma-separated (names or paths as for `vm
    /// --kernel`), or `all` for 5.10, 6.1, 6.12 and the newest Debian ships.
    #[arg(long, value_delimiter = ',', default_value = "all")]
    kernels: Vec<String>,
    /// Run only the host tests.
    #[arg(long)]
    no_vm: bool,
    /// Wall-clock limit in seconds for each VM run: a hang detector (a
    /// kernel's whole suite takes 10 to 13 minutes under emulation).
    #[arg(long, default_value_t = 1200, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// How many kernels' VMs run at once (default: one per host CPU). A
    /// tracer's start-up, most of a suite under emulation, keeps one of a
    /// guest's two vCPUs busy, so two guests on two CPUs take little longer
    /// than one.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 1536, value_parser = clap::value_parser!(u32).range(256..))]
    memory: u32,
    /// Run only the VM tests whose name contains this (e.g. `check::` or
    /// `a_killed_recorder`), as libtest filters.
    #[arg(long, value_name = "NAME")]
    filter: Option<String>,
}

/// Where the Perfetto decoding test finds a Python with Perfetto's schema.
const PERFETTO_PYTHON_ENV: &str = "PROCFS_TRACE_PERFETTO_PYTHON";

/// Runs the subcommand; fails if any host test or any kernel's VM tests fail.
pub fn run(args: TestArgs) -> Result<ExitCode> {
    crate::toolchain::ensure_ebpf_toolchain()?;
    // The servers and schemas some host tests check our output with; outside
    // CI a test whose checker is missing says it skipped.
    if let Err(e) = host_tools::require(&[host_tools::PROMETHEUS]) {
        eprintln!("xtask: warning: {e:#}");
    }
    let python = crate::pyenv::ensure()
        .inspect_err(|e| eprintln!("xtask: warning: {e:#}"))
        .ok();
    println!("test: host tests (cargo test --workspace --exclude {EBPF_CRATE})");
    // The eBPF crate builds only for the BPF target; procfs-trace's build.rs covers it.
    run::stream(
        workspace::cargo()
            .args(["test", "--workspace", "--exclude", EBPF_CRATE])
            .envs(python.map(|p| (PERFETTO_PYTHON_ENV, p))),
    )?;
    package_test()?;
    if args.no_vm {
        return Ok(ExitCode::SUCCESS);
    }
    if args.kernels.iter().all(|k| k.trim().is_empty()) {
        bail!("--kernels is empty; give at least one kernel (e.g. --kernels 6.1) or pass --no-vm");
    }
    let vm_tests = build_vm_tests()?;
    let bin = guest::procfs_trace_binary()?;
    let guest = Guest {
        files: vec![
            (bin, PROCFS_TRACE_GUEST_PATH.into()),
            (vm_tests, VM_TESTS_GUEST_PATH.into()),
        ],
        command: [
            VM_TESTS_GUEST_PATH,
            "--include-ignored",
            "--test-threads=1",
            "--show-output",
        ]
        .into_iter()
        .map(String::from)
        .chain(args.filter.clone())
        .collect(),
        env: vec![("PROCFS_TRACE_BIN".into(), PROCFS_TRACE_GUEST_PATH.into())],
        outputs: vec![TOUR_REPORT_GUEST_PATH.into()],
    };
    let kernels = kernels(&args.kernels);
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |j| j as usize,
    );
    let jobs = jobs.clamp(1, kernels.len().max(1));
    let opts = |label: &str| Options {
        memory_mib: args.memory,
        timeout: Duration::from_secs(args.timeout),
        interactive: false,
        label: (jobs > 1).then(|| label.to_owned()),
    };
    if let Some(first) = kernels.first() {
        harness_catches_a_sick_kernel(first, &opts(first))?;
    }
    if jobs > 1 {
        println!(
            "test: VM tests on {} kernels, {jobs} at a time; each console line starts with [kernel]",
            kernels.len()
        );
    }
    // Workers take the next kernel as they come free; results keep the list's order.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut runs: Vec<(usize, KernelRun)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&name) = kernels.get(i) else {
                            return done;
                        };
                        let agent = runs_agent_modules(i, kernels.len());
                        done.push((i, run_kernel(name, &guest, agent, &opts(name))));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    if runs.len() != kernels.len() {
        bail!(
            "only {} of {} kernels' VM runs reported back (a worker thread panicked)",
            runs.len(),
            kernels.len()
        );
    }
    runs.sort_by_key(|(i, _)| *i);
    let runs: Vec<KernelRun> = runs.into_iter().map(|(_, r)| r).collect();
    print!("{}", report::table(&runs));
    let junit = workspace::state_dir().join("vm-report/junit.xml");
    if let Some(dir) = junit.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&junit, report::junit(&runs))
        .with_context(|| format!("writing {}", junit.display()))?;
    println!("test: JUnit results in {}", junit.display());
    let failed = runs.iter().filter(|r| !r.passed).count();
    if failed > 0 {
        bail!("VM tests failed on {failed} of {} kernels", runs.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether the kernel at `i` of a matrix of `n` runs the [`AGENT_MODULES`].
fn runs_agent_modules(i: usize, n: usize) -> bool {
    i == 0 || i + 1 == n
}

/// `guest`'s test run without the [`AGENT_MODULES`].
fn without_agent_modules(guest: &Guest) -> Guest {
    let mut g = guest.clone();
    for m in AGENT_MODULES {
        g.command.extend(["--skip".to_owned(), m.to_owned()]);
    }
    g
}

/// Runs the VM tests on kernel `name`, the [`AGENT_MODULES`] too if `agent`;
/// a failure to run them is a failed run.
fn run_kernel(name: &str, guest: &Guest, agent: bool, opts: &Options) -> KernelRun {
    let without;
    let guest = if agent {
        println!("test: VM tests on kernel {name}");
        guest
    } else {
        println!(
            "test: VM tests on kernel {name}, but for {} (the matrix's first and last kernels run those)",
            AGENT_MODULES.join(", ")
        );
        without = without_agent_modules(guest);
        &without
    };
    match kernel::resolve(name).and_then(|k| Ok((vm::run(&k, guest, opts)?, k))) {
        Ok((done, k)) => KernelRun {
            name: name.to_owned(),
            release: Some(k.release.clone()),
            passed: done.rc == 0,
            elapsed: done.elapsed,
            failure: (done.rc != 0).then(|| format!("vm-tests exited with {}", done.rc)),
            tour: done
                .files
                .iter()
                .find(|f| f.path == TOUR_REPORT_GUEST_PATH)
                .and_then(|f| serde_json::from_slice(&f.data).ok()),
        },
        Err(err) => {
            eprintln!("xtask: kernel {name}: error: {err:#}");
            KernelRun {
                name: name.to_owned(),
                release: None,
                passed: false,
                elapsed: Duration::ZERO,
                failure: Some(first_line(&err)),
                tour: None,
            }
        }
    }
}

/// Proves on one kernel that the harness fails a run whose kernel logged an
/// oops although its command exited 0, before any result is trusted.
fn harness_catches_a_sick_kernel(name: &str, opts: &Options) -> Result<()> {
    const INJECTED: &str = "Oops: 0000 [#1] SMP (injected by cargo xtask test)";
    println!("test: the VM harness must fail a run whose kernel logs an oops (kernel {name})");
    let guest = Guest {
        files: Vec::new(),
        command: [
            "sh".to_owned(),
            "-c".to_owned(),
            format!("echo '{INJECTED}' > /dev/kmsg; exit 0"),
        ]
        .to_vec(),
        env: Vec::new(),
        outputs: Vec::new(),
    };
    let kernel = kernel::resolve(name)?;
    match vm::run(&kernel, &guest, opts) {
        Ok(_) => bail!("the VM harness called a run green although its kernel logged `{INJECTED}`"),
        Err(e) if format!("{e:#}").contains(INJECTED) => Ok(()),
        Err(e) => Err(e.context("the VM harness's sick-kernel check failed for another reason")),
    }
}

/// Every kernel the matrix knows: `--kernels all`.
const ALL_KERNELS: [&str; 4] = ["5.10", "6.1", "6.12", "latest"];

/// The kernel names asked for, with `all` expanded.
pub fn kernels(asked: &[String]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for k in asked.iter().map(|k| k.trim()).filter(|k| !k.is_empty()) {
        let names: Vec<&str> = if k == "all" {
            ALL_KERNELS.to_vec()
        } else {
            vec![k]
        };
        for n in names {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

/// The first line of an error's message, for one-line summaries.
pub fn first_line(err: &anyhow::Error) -> String {
    err.to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Builds procfs-trace's `vm` integration test and returns its executable.
fn build_vm_tests() -> Result<std::path::PathBuf> {
    let source = workspace::root().join("procfs-trace/tests/vm/main.rs");
    if !source.is_file() {
        bail!(
            "{} does not exist, so there are no VM tests to run; pass --no-vm to run only the host tests",
            source.display()
        );
    }
    let mut cmd = workspace::cargo();
    cmd.args(["test", "-p", "procfs-trace", "--test", "vm", "--no-run"]);
    artifact::build_executable(&mut cmd, "vm")
}

/// Builds the release archives and, as root, installs the .deb, runs it
/// and removes it again (not as another user: that would need sudo).
fn package_test() -> Result<()> {
    println!("test: the release archives (cargo xtask dist)");
    let dist = crate::dist::build()?;
    if !host_tools::is_root() {
        println!("test: not root, so the .deb is built but not installed (cargo xtask dist --check-install does it)");
        return Ok(());
    }
    crate::dist::check_install(&dist.deb)
}

#[cfg(test)]
mod kernel_list_tests {
    use super::*;

    #[test]
    fn the_agent_modules_run_on_the_first_and_last_kernel() {
        let runs = |n| (0..n).map(|i| runs_agent_modules(i, n)).collect::<Vec<_>>();
        assert_eq!(runs(4), [true, false, false, true]);
        assert_eq!(runs(2), [true, true]);
        assert_eq!(runs(1), [true]);
        let g = without_agent_modules(&Guest::default());
        assert_eq!(
            g.command,
            ["--skip", "live::", "--skip", "record::", "--skip", "serve::"]
        );
    }

    #[test]
    fn all_expands_and_duplicates_go() {
        let asked = ["6.1".to_owned(), "all".to_owned(), " ".to_owned()];
        assert_eq!(kernels(&asked), ["6.1", "5.10", "6.12", "latest"]);
    }
}

#[cfg(test)]
mod workflow_tests {
    use super::*;

    /// The hosted workflow runs one job per kernel of `all`: a kernel added
    /// here must be added there.
    #[test]
    fn the_hosted_workflow_runs_every_kernel() {
        let text = std::fs::read_to_string(workspace::root().join(".github/workflows/kernels.yml"))
            .expect("the workflow file");
        let matrix = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("kernel: "))
            .expect("a kernel matrix line");
        let listed: Vec<&str> = matrix
            .trim_matches(['[', ']'])
            .split(',')
            .map(|k| k.trim().trim_matches('"'))
            .collect();
        assert_eq!(listed, ALL_KERNELS);
        assert!(text.contains("cargo xtask test --kernels ${{ matrix.kernel }}"));
        assert!(text.contains("target/vm-report/junit.xml"));
    }
}
