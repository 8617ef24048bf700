//! Exists so that `procfs-trace` can name this crate as a build dependency; the
//! programs are in the `procfs-trace` binary target (`main.rs`).
#![no_std]
