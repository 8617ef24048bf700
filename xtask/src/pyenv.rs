//! A Python environment holding Perfetto's own protobuf definitions, which
//! the test of `replay --format perfetto` decodes our traces with. Pinned,
//! so a fresh machine next month decodes with the same schema.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, Result};

use crate::{host_tools, run, workspace};

/// The packages, pinned: Perfetto's Python bindings ship its compiled
/// trace schema (`perfetto_trace_pb2`), which needs protobuf's runtime.
const PACKAGES: [&str; 2] = ["perfetto==0.59.1", "protobuf==7.36.2"];

/// Python with venv support.
const PYTHON: host_tools::Tool = host_tools::Tool {
    program: "python3",
    package: "python3-venv",
};

/// The environment's interpreter (`target/pyenv/bin/python3`), made and
/// filled when missing or holding other versions.
pub fn ensure() -> Result<PathBuf> {
    let dir = workspace::state_dir().join("pyenv");
    let python = dir.join("bin/python3");
    let stamp = dir.join("packages.txt");
    let wanted = PACKAGES.join("\n");
    if python.is_file() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(python);
    }
    host_tools::require(&[PYTHON])?;
    println!(
        "xtask: making {} with {}",
        dir.display(),
        PACKAGES.join(" ")
    );
    let venv = || {
        run::stream(
            Command::new(PYTHON.program)
                .args(["-m", "venv", "--clear"])
                .arg(&dir),
        )
    };
    if venv().is_err() {
        // Debian's python3 lacks venv until python3-venv is installed.
        host_tools::install(&["python3-venv"])?;
        venv()?;
    }
    run::stream(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(PACKAGES),
    )
    .context("installing Perfetto's Python bindings from PyPI")?;
    std::fs::write(&stamp, wanted)?;
    Ok(python)
}
