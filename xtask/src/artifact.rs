//! Builds with cargo and finds the executable it produced in cargo's JSON messages.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::run;

/// Runs a cargo build command (JSON messages are added) and returns `target`'s executable.
pub fn build_executable(cmd: &mut Command, target: &str) -> Result<PathBuf> {
    cmd.arg("--message-format=json-render-diagnostics")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let line = run::describe(cmd);
    let out = cmd
        .output()
        .with_context(|| format!("could not start `{line}`"))?;
    if !out.status.success() {
        bail!(
            "`{line}` failed ({}); see the compiler messages above",
            out.status
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    find_executable(&stdout, target)
        .with_context(|| format!("`{line}` built no executable for target `{target}`"))
}

/// The `executable` of the last `compiler-artifact` message whose target is named `target`.
pub fn find_executable(messages: &str, target: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == target)
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_test_executable() {
        let msgs = r#"{"reason":"compiler-artifact","target":{"name":"procfs_trace","kind":["lib"]},"executable":null}
not json at all
{"reason":"compiler-artifact","target":{"name":"vm","kind":["test"]},"executable":"/t/debug/deps/vm-0123"}
{"reason":"compiler-artifact","target":{"name":"cli","kind":["test"]},"executable":"/t/debug/deps/cli-9"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            find_executable(msgs, "vm"),
            Some(PathBuf::from("/t/debug/deps/vm-0123"))
        );
        assert_eq!(find_executable(msgs, "procfs_trace"), None);
        assert_eq!(find_executable(msgs, "missing"), None);
    }
}
