//! `procfs-trace serve`: the headless exporter.

use std::{net::SocketAddr, path::PathBuf};

use clap::Args as ClapArgs;

use super::probing::{parse_speed, ProbingArgs};
use crate::serve::{self, ServeOptions};

/// Arguments of `serve`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Where Prometheus scrapes: /metrics (OpenMetrics text) and /healthz.
    /// Port 0 picks a free port, named on standard error.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9464")]
    pub listen: SocketAddr,
    /// Also push the figures, and each divergence as a log record with its
    /// flow, to this OpenTelemetry collector over OTLP/HTTP (protobuf), e.g.
    /// http://localhost:4318 (/v1/metrics and /v1/logs are appended). The
    /// interval is OTEL_METRIC_EXPORT_INTERVAL (ms, 60 s by default).
    #[arg(long, value_name = "URL", value_parser = parse_otlp_url)]
    pub otlp: Option<String>,
    /// Export the figures of this recording instead of tracing; once it is
    /// played they stay served until SIGINT or SIGTERM.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Playing speed of --from (2 is twice as fast; 0 as fast as possible).
    #[arg(long, value_name = "N", default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,
    #[command(flatten)]
    pub probing: ProbingArgs,
}

/// An OTLP/HTTP base URL: `http://HOST:PORT[/PATH]`. (This build speaks no
/// TLS: a collector on the node or a local gateway is the usual target.)
fn parse_otlp_url(s: &str) -> Result<String, String> {
    let uri: hyper::Uri = s
        .parse()
        .map_err(|e| format!("not a URL ({e}); e.g. http://localhost:4318"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http"), Some(_)) => Ok(s.trim_end_matches('/').to_owned()),
        (Some("https"), _) => Err("https is not supported (this build has no TLS): send to a collector over http, e.g. http://localhost:4318".to_owned()),
        _ => Err("expected http://HOST:PORT, e.g. http://localhost:4318".to_owned()),
    }
}

/// Serves until stopped.
pub async fn run(args: Args) -> anyhow::Result<i32> {
    serve::run(ServeOptions {
        from: args.from,
        speed: args.speed,
        listen: args.listen,
        otlp: args.otlp,
        probing: args.probing.probing(),
    })
    .await
}
