//! Developer tasks for procfs-trace: boot real kernels in qemu and run the tests there.

mod apt;
mod artifact;
mod bench_cmd;
mod cpio;
mod debver;
mod dist;
mod fixtures_cmd;
mod guest;
mod host_tools;
mod init_script;
mod initramfs;
mod kernel;
mod ldd;
mod marker;
mod pyenv;
mod qemu;
mod report;
mod run;
mod test_cmd;
mod toolchain;
mod transfer;
mod vm;
mod vm_cmd;
mod workspace;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Tasks run with `cargo xtask ...`.
#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "procfs-trace developer tasks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Boot a Debian cloud kernel in qemu and run a command there (default: a procfs-trace demo).
    Vm(vm_cmd::VmArgs),
    /// Run the host tests, then the VM tests on each chosen kernel.
    Test(test_cmd::TestArgs),
    /// Build a release tarball and a .deb (binary with its eBPF object, man
    /// pages, completions) into target/dist/.
    Dist(dist::DistArgs),
    /// Measure the tracer's cost per procfs operation against count-only
    /// programs, untraced and in a flood, on each chosen kernel.
    Bench(bench_cmd::BenchArgs),
    /// Record the tour on each chosen kernel into procfs-trace/tests/fixtures/tour-<major.minor>.pfsrec.
    Fixtures(fixtures_cmd::FixturesArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Vm(args) => vm_cmd::run(args),
        Command::Test(args) => test_cmd::run(args),
        Command::Dist(args) => dist::run(args),
        Command::Fixtures(args) => fixtures_cmd::run(args),
        Command::Bench(args) => bench_cmd::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
