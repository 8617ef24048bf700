//! Facts about the running kernel: BTF, kallsyms, and whether tracing can work here.

pub mod bpf_probe;
pub mod btf;
pub mod kallsyms;
pub mod preflight;
