//! What to trace and how: the arguments trace, check, record and live share,
//! and the parsers of their values.

use std::time::Duration;

use clap::Args as ClapArgs;
use thiserror::Error;

use crate::{
    agent::{reader::DEFAULT_BACKLOG_MIB, tracer::Probing},
    probes::attach::Method,
};

/// A command-line value that does not parse.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ValueError {
    /// Not a number of seconds.
    #[error("{0:?} is not a number of seconds")]
    NotSeconds(String),
    /// Zero, negative or infinite seconds.
    #[error("{0:?}: the duration must be a positive number of seconds")]
    NotPositive(String),
    /// Not a whole number of KiB.
    #[error("{0:?} is not a whole number of KiB")]
    NotKib(String),
    /// A ring buffer size the kernel refuses.
    #[error("{0} KiB: the ring buffer must be a power of two from 4 KiB to 1 GiB")]
    BufferSize(u32),
    /// A task name the kernel cannot hold.
    #[error("{0:?}: a task name is 1 to {max} bytes (the kernel keeps only that much)", max = procfs_trace_common::COMM_LEN - 1)]
    Comm(String),
    /// A negative or non-numeric speed.
    #[error("{0:?}: the speed is a number of at least 0")]
    Speed(String),
}

/// What to trace and how: shared by trace, check, record and live.
#[derive(Debug, ClapArgs)]
pub struct ProbingArgs {
    /// Only this process id (filtered in the kernel).
    #[arg(long, value_name = "N")]
    pub pid: Option<u32>,
    /// Only tasks with this name (comm, at most 15 bytes; filtered in the kernel).
    #[arg(long, value_name = "NAME", value_parser = parse_comm)]
    pub comm: Option<String>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub duration: Option<Duration>,
    /// Ring buffer size in KiB: a power of two of at least 4. A larger buffer
    /// absorbs longer bursts before events are lost.
    #[arg(long, value_name = "KIB", default_value_t = 4096, value_parser = parse_buffer_kib)]
    pub buffer_kib: u32,
    /// Memory in MiB for events read out of the ring buffer and not yet
    /// processed: a burst waits there instead of being lost, and the output
    /// lags it. 0 reads no further ahead than the processing.
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_BACKLOG_MIB,
          value_parser = clap::value_parser!(u32).range(0..=65536))]
    pub backlog_mib: u32,
    /// How to attach: fentry/fexit where the kernel allows it and kprobes
    /// elsewhere (auto), or only one method.
    #[arg(long, value_enum, default_value_t = Method::Auto)]
    pub attach: Method,
}

impl ProbingArgs {
    /// The tracer settings these arguments ask for.
    pub fn probing(self) -> Probing {
        Probing {
            pid: self.pid,
            comm: self.comm,
            duration: self.duration,
            buffer_kib: self.buffer_kib,
            backlog_mib: self.backlog_mib,
            attach: self.attach,
        }
    }
}

/// A positive, finite number of seconds.
pub fn parse_secs(s: &str) -> Result<Duration, ValueError> {
    let secs: f64 = s
        .parse()
        .map_err(|_| ValueError::NotSeconds(s.to_owned()))?;
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(ValueError::NotPositive(s.to_owned()));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_buffer_kib(s: &str) -> Result<u32, ValueError> {
    let kib: u32 = s.parse().map_err(|_| ValueError::NotKib(s.to_owned()))?;
    // The kernel wants a power-of-two multiple of the page size (4 KiB on x86-64).
    if kib < 4 || !kib.is_power_of_two() || kib > 1 << 20 {
        return Err(ValueError::BufferSize(kib));
    }
    Ok(kib)
}

fn parse_comm(s: &str) -> Result<String, ValueError> {
    if s.is_empty() || s.len() > procfs_trace_common::COMM_LEN - 1 {
        return Err(ValueError::Comm(s.to_owned()));
    }
    Ok(s.to_owned())
}

/// A playing speed: a finite number of at least 0.
pub fn parse_speed(s: &str) -> Result<f64, ValueError> {
    match s.parse::<f64>() {
        Ok(v) if v >= 0.0 && v.is_finite() => Ok(v),
        _ => Err(ValueError::Speed(s.to_owned())),
    }
}
