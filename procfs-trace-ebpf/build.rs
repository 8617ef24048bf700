use which::which;

/// Rebuild when bpf-linker changes: it is invoked by rustc, so cargo cannot see it.
fn main() {
    if let Ok(linker) = which("bpf-linker") {
        println!("cargo:rerun-if-changed={}", linker.display());
    }
}
