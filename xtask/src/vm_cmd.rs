//! `cargo xtask vm`: boot a kernel and run one command in it.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::Args;

use crate::guest::{self, Guest, PROCFS_TRACE_GUEST_PATH};
use crate::qemu::Options;
use crate::{kernel, vm};

/// Options of `cargo xtask vm`.
#[derive(Args)]
pub struct VmArgs {
    /// Kernel: 5.10, 6.1, 6.12 or latest (Debian cloud kernels), or a vmlinuz or .deb path.
    #[arg(long, default_value = "6.1")]
    kernel: String,
    /// Wall-clock limit in seconds for boot and command.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 1536, value_parser = clap::value_parser!(u32).range(256..))]
    memory: u32,
    /// Pass our terminal to the guest: keys go to the command, which sees a
    /// terminal of our size (for `procfs-trace live`).
    #[arg(long)]
    interactive: bool,
    /// Command to run in the guest (default: `procfs-trace tour`, the documents' scenarios).
    #[arg(last = true, value_name = "GUEST-COMMAND")]
    command: Vec<String>,
}

/// Runs the subcommand; the process exits with the guest command's status.
pub fn run(args: VmArgs) -> Result<ExitCode> {
    let kernel = kernel::resolve(&args.kernel)?;
    let bin = guest::procfs_trace_binary()?;
    let mut command = if args.command.is_empty() {
        guest::default_command()
    } else {
        args.command
    };
    if args.interactive {
        command = with_terminal_size(command)?;
    }
    let guest = Guest {
        files: vec![(bin, PROCFS_TRACE_GUEST_PATH.into())],
        command,
        env: Vec::new(),
        outputs: Vec::new(),
    };
    let opts = Options {
        memory_mib: args.memory,
        timeout: Duration::from_secs(args.timeout),
        interactive: args.interactive,
        label: None,
    };
    let done = vm::run(&kernel, &guest, &opts)?;
    println!("vm: guest command exited with status {}", done.rc);
    println!(
        "vm: kernel {} ran in {:.1} s",
        kernel.release,
        done.elapsed.as_secs_f64()
    );
    Ok(exit_code(done.rc))
}

/// `command` run after giving the guest console our terminal's size: a serial
/// line has none, and a full-screen program needs one.
fn with_terminal_size(command: Vec<String>) -> Result<Vec<String>> {
    let size = std::process::Command::new("stty")
        .arg("size")
        .stdin(std::process::Stdio::inherit())
        .output()
        .context("running stty to read the terminal size")?;
    let text = String::from_utf8_lossy(&size.stdout);
    let (rows, cols) = match text.split_whitespace().collect::<Vec<_>>()[..] {
        [r, c] if size.status.success() => (r.to_owned(), c.to_owned()),
        _ => bail!("--interactive needs a terminal on standard input (stty size said {text:?})"),
    };
    let mut wrapped: Vec<String> = [
        "sh",
        "-c",
        r#"stty rows "$1" cols "$2" && shift 2 && exec "$@""#,
        "sh",
    ]
    .map(String::from)
    .to_vec();
    wrapped.extend([rows, cols]);
    wrapped.extend(command);
    Ok(wrapped)
}

/// The guest's status as our exit code (shell statuses are 0..=255 already).
pub fn exit_code(rc: i32) -> ExitCode {
    ExitCode::from(u8::try_from(rc).unwrap_or(1))
}
