//! `cargo xtask fixtures`: record the tour on each chosen kernel into procfs-trace's test fixtures.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::guest::{self, Guest, PROCFS_TRACE_GUEST_PATH};
use crate::qemu::{Finished, Options};
use crate::test_cmd::first_line;
use crate::{kernel, vm, workspace};

/// Where the guest command writes the recording.
const RECORDING_GUEST_PATH: &str = "/tmp/tour.pfsrec";
/// The flows the live tour printed beside its recording (`tour --record` writes
/// them), kept with the fixture so tests can compare a replay with them.
const LIVE_GUEST_PATH: &str = "/tmp/tour.pfsrec.live.jsonl";

/// The fixture directory, relative to the workspace root.
const FIXTURES_DIR: &str = "procfs-trace/tests/fixtures";

/// Fixtures larger than this are refused: they would bloat the repository.
pub const MAX_FIXTURE_BYTES: usize = 1024 * 1024;

/// Options of `cargo xtask fixtures`.
#[derive(Args)]
pub struct FixturesArgs {
    /// Kernels to record on, comma-separated (names or paths as for `vm --kernel`).
    #[arg(long, value_delimiter = ',', default_value = "6.1,5.10,6.12,latest")]
    kernels: Vec<String>,
    /// Wall-clock limit in seconds for each VM run.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 1536, value_parser = clap::value_parser!(u32).range(256..))]
    memory: u32,
    /// Guest command instead of the tour, to test this plumbing; it must write
    /// /tmp/tour.pfsrec (default: procfs-trace tour --record /tmp/tour.pfsrec).
    #[arg(last = true, value_name = "GUEST-COMMAND")]
    command: Vec<String>,
}

/// The guest command that records the tour.
fn tour_command() -> Vec<String> {
    ["procfs-trace", "tour", "--record", RECORDING_GUEST_PATH]
        .map(String::from)
        .to_vec()
}

/// The fixture file name for a kernel release: `tour-<major>.<minor>.pfsrec`.
fn fixture_name(release: &str) -> Result<String> {
    let version = release.split(['-', '+']).next().unwrap_or_default();
    let mut parts = version.split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor))
            if [major, minor]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) =>
        {
            Ok(format!("tour-{major}.{minor}.pfsrec"))
        }
        _ => bail!("kernel release {release:?} does not start with <major>.<minor>"),
    }
}

/// Checks the recording for fixture `file` against `MAX_FIXTURE_BYTES`.
fn check_size(file: &str, len: usize) -> Result<()> {
    if len > MAX_FIXTURE_BYTES {
        bail!(
            "the recording has {len} bytes, over the {MAX_FIXTURE_BYTES}-byte limit for fixtures; \
             {file} not written"
        );
    }
    Ok(())
}

/// Writes `data` to `dest` through a temporary file, so a failed write leaves no half fixture.
fn write_atomically(dest: &Path, data: &[u8]) -> Result<()> {
    let mut tmp = dest.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, data).with_context(|| format!("could not write {}", tmp.display()))?;
    fs::rename(&tmp, dest).with_context(|| {
        let _ = fs::remove_file(&tmp);
        format!("could not move {} to {}", tmp.display(), dest.display())
    })
}

/// Runs the subcommand; fails if any kernel's fixture could not be made.
pub fn run(args: FixturesArgs) -> Result<ExitCode> {
    let names: Vec<&str> = args
        .kernels
        .iter()
        .map(|k| k.trim())
        .filter(|k| !k.is_empty())
        .collect();
    if names.is_empty() {
        bail!("--kernels is empty; give at least one kernel (e.g. --kernels 6.1)");
    }
    let stand_in = !args.command.is_empty();
    let command = if stand_in {
        println!(
            "fixtures: running the given guest command instead of the tour; \
             it must write {RECORDING_GUEST_PATH}"
        );
        args.command
    } else {
        tour_command()
    };
    let bin = guest::procfs_trace_binary()?;
    let guest = Guest {
        files: vec![(bin, PROCFS_TRACE_GUEST_PATH.into())],
        command,
        env: Vec::new(),
        outputs: if stand_in {
            vec![RECORDING_GUEST_PATH.into()]
        } else {
            vec![RECORDING_GUEST_PATH.into(), LIVE_GUEST_PATH.into()]
        },
    };
    let opts = Options {
        memory_mib: args.memory,
        timeout: Duration::from_secs(args.timeout),
        interactive: false,
        label: None,
    };
    let dir = workspace::root().join(FIXTURES_DIR);
    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let mut written: Vec<(String, String)> = Vec::new();
    let mut summary = Vec::new();
    for name in names {
        println!("fixtures: recording on kernel {name}");
        let result = record(name, &guest, &opts, &dir, &written);
        let (passed, line) = match result {
            Ok((release, file, len, done)) => {
                written.push((file.clone(), name.to_owned()));
                (
                    true,
                    format!(
                        "fixtures: kernel {name} ({release}): wrote {FIXTURES_DIR}/{file}, \
                         {len} bytes, in {:.1} s",
                        done.elapsed.as_secs_f64()
                    ),
                )
            }
            Err(err) => {
                eprintln!("xtask: kernel {name}: error: {err:#}");
                (
                    false,
                    format!("fixtures: kernel {name}: FAIL ({})", first_line(&err)),
                )
            }
        };
        summary.push((passed, line));
    }
    for (_, line) in &summary {
        println!("{line}");
    }
    let failed = summary.iter().filter(|(passed, _)| !passed).count();
    if failed > 0 {
        bail!(
            "fixtures could not be made on {failed} of {} kernels",
            summary.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Records on one kernel and writes its fixture; returns release, file name, size and the run.
fn record(
    name: &str,
    guest: &Guest,
    opts: &Options,
    dir: &Path,
    written: &[(String, String)],
) -> Result<(String, String, usize, Finished)> {
    let k = kernel::resolve(name)?;
    let file = fixture_name(&k.release)?;
    if let Some((_, other)) = written.iter().find(|(f, _)| *f == file) {
        bail!(
            "kernel {name} ({}) would overwrite {file}, just written for kernel {other}",
            k.release
        );
    }
    let done = vm::run(&k, guest, opts)?;
    if done.rc != 0 {
        bail!(
            "the guest command exited with status {} on {} (for the tour: some scenario did \
             not match); {file} not written",
            done.rc,
            k.release
        );
    }
    let recording = done
        .files
        .iter()
        .find(|f| f.path == RECORDING_GUEST_PATH)
        .with_context(|| {
            format!(
                "the guest command succeeded but {RECORDING_GUEST_PATH} did not come back \
                 (did it write the file? see the console above); {file} not written"
            )
        })?;
    let len = recording.data.len();
    println!(
        "fixtures: kernel {name} ({}): recording is {len} bytes",
        k.release
    );
    check_size(&file, len)?;
    write_atomically(&dir.join(&file), &recording.data)?;
    if let Some(live) = done.files.iter().find(|f| f.path == LIVE_GUEST_PATH) {
        let live_name = format!("{file}.live.jsonl");
        check_size(&live_name, live.data.len())?;
        write_atomically(&dir.join(&live_name), &live.data)?;
    }
    Ok((k.release, file, len, done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fixtures_by_major_minor() {
        for (release, want) in [
            ("6.1.0-31-cloud-amd64", "tour-6.1.pfsrec"),
            ("5.10.0-34-cloud-amd64", "tour-5.10.pfsrec"),
            ("6.12.43+deb13-cloud-amd64", "tour-6.12.pfsrec"),
            ("7.2-rc3-cloud-amd64", "tour-7.2.pfsrec"),
            ("6.16.9+deb14-cloud-amd64", "tour-6.16.pfsrec"),
        ] {
            assert_eq!(fixture_name(release).unwrap(), want, "{release}");
        }
        for bad in ["", "6", "6-1", "v6.1.0", "6.x.0", "../6.1"] {
            assert!(fixture_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn size_limit() {
        assert!(check_size("f", 0).is_ok());
        assert!(check_size("f", 1_048_576).is_ok());
        let err = check_size("tour-6.1.pfsrec", 1_048_577)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("1048577") && err.contains("tour-6.1.pfsrec not written"),
            "{err}"
        );
    }

    #[test]
    fn tour_records_where_init_sends_from() {
        let cmd = tour_command();
        assert_eq!(cmd.last().map(String::as_str), Some(RECORDING_GUEST_PATH));
        assert_eq!(cmd[..3], ["procfs-trace", "tour", "--record"]);
    }

    #[test]
    fn writes_atomically() {
        let dir = std::env::temp_dir().join(format!("xtask-fixture-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let dest = dir.join("tour-6.1.pfsrec");
        write_atomically(&dest, b"one").unwrap();
        write_atomically(&dest, b"two").unwrap();
        let got = fs::read(&dest).unwrap();
        let leftovers = fs::read_dir(&dir).unwrap().count();
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(got, b"two");
        assert_eq!(leftovers, 1);
    }
}
