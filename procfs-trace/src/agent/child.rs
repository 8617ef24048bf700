//! The command `trace -- CMD` starts and waits for.

use std::{io, process::ExitStatus};

use anyhow::Context as _;
use tokio::process::{Child, Command};

use super::user::RunAs;

/// Starts `argv` with inherited stdio, as `user` when given; probes are
/// attached before this runs, and the eBPF filter follows it as a descendant
/// of the agent, so nothing it does is missed.
pub fn spawn(argv: &[String], user: Option<&RunAs>) -> anyhow::Result<Child> {
    let (program, args) = argv.split_first().context("no command given after `--`")?;
    let mut cmd = Command::new(program);
    cmd.args(args);
    if let Some(user) = user {
        run_as(&mut cmd, user.clone());
    }
    cmd.spawn().with_context(|| match user {
        Some(u) => format!(
            "cannot start `{program}` as uid {} gid {} (changing user needs root)",
            u.uid, u.gid
        ),
        None => format!("cannot start `{program}`"),
    })
}

/// Makes `cmd` drop to `user`'s groups, group and user before it execs.
fn run_as(cmd: &mut Command, user: RunAs) {
    // SAFETY: the closure runs in the forked child before exec; it calls only
    // async-signal-safe functions (setgroups, setgid, setuid) and allocates
    // nothing (the group list was built before the fork).
    unsafe {
        cmd.pre_exec(move || {
            let check = |rc: libc::c_int| match rc {
                0 => Ok(()),
                _ => Err(io::Error::last_os_error()),
            };
            // Groups first: after setuid the process may no longer change them.
            check(libc::setgroups(user.groups.len(), user.groups.as_ptr()))?;
            check(libc::setgid(user.gid))?;
            check(libc::setuid(user.uid))
        });
    }
}

/// Like [`spawn`], with standard output piped back to the caller.
pub fn spawn_captured(argv: &[String]) -> anyhow::Result<Child> {
    let (program, args) = argv.split_first().context("no command given")?;
    Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{program}`"))
}

/// The exit code a shell would report: the code, or 128 + the signal number.
pub fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt as _;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn exit_codes_follow_the_shell_convention() {
        let argv = |s: &str| vec!["sh".to_owned(), "-c".to_owned(), s.to_owned()];
        let st = spawn(&argv("exit 7"), None).unwrap().wait().await.unwrap();
        assert_eq!(exit_code(st), 7);
        let st = spawn(&argv("kill -TERM $$"), None)
            .unwrap()
            .wait()
            .await
            .unwrap();
        assert_eq!(exit_code(st), 128 + 15);
    }

    #[test]
    fn a_missing_program_names_itself() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _g = rt.enter();
        let err = spawn(&["/nonexistent/prog".to_owned()], None).unwrap_err();
        assert!(format!("{err:#}").contains("cannot start `/nonexistent/prog`"));
    }
}
