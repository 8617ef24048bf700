//! An OTLP/HTTP receiver for tests: it takes protobuf requests on
//! `/v1/metrics` and `/v1/logs`, answers 200, and decodes them with the
//! OpenTelemetry project's own protobuf definitions (`opentelemetry-proto`).

use std::{
    collections::BTreeMap,
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::{TcpListener, TcpStream},
    sync::{Arc, Mutex},
};

use opentelemetry_proto::tonic::{
    collector::{logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest},
    common::v1::{any_value, AnyValue, KeyValue},
    metrics::v1::{metric::Data, number_data_point, Metric, NumberDataPoint},
};
use prost::Message as _;

/// Requests received: (path, body).
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A receiver on a free loopback port, for as long as the test runs.
pub struct Receiver {
    /// Its base URL, as `serve --otlp` takes it.
    pub url: String,
    received: Received,
}

impl Receiver {
    /// Starts accepting.
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received: Received = Arc::default();
        let store = received.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().map_while(Result::ok) {
                let store = store.clone();
                std::thread::spawn(move || serve_connection(conn, &store));
            }
        });
        Receiver { url, received }
    }

    fn bodies(&self, path: &str) -> Vec<Vec<u8>> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// Every metrics export, decoded.
    pub fn metrics(&self) -> Vec<ExportMetricsServiceRequest> {
        self.bodies("/v1/metrics")
            .iter()
            .map(|b| ExportMetricsServiceRequest::decode(b.as_slice()).expect("a metrics request"))
            .collect()
    }

    /// Every logs export, decoded.
    pub fn logs(&self) -> Vec<ExportLogsServiceRequest> {
        self.bodies("/v1/logs")
            .iter()
            .map(|b| ExportLogsServiceRequest::decode(b.as_slice()).expect("a logs request"))
            .collect()
    }
}

/// Reads requests off one keep-alive connection until it closes.
fn serve_connection(conn: TcpStream, store: &Received) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_owned();
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap(),
                "content-encoding" | "transfer-encoding" => {
                    panic!("the receiver takes plain bodies, not {header}")
                }
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        store.lock().unwrap().push((path, body));
        out.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
    }
}

/// A string or integer attribute's value, as text.
pub fn text(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        other => format!("{other:?}"),
    }
}

/// Attributes by key.
pub fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), text(&kv.value)))
        .collect()
}

/// The newest export's data points of metric `name`: (attributes, value)
/// for a sum, (attributes, count) for a histogram. Cumulative temporality,
/// so the newest export holds the totals.
pub fn points(
    requests: &[ExportMetricsServiceRequest],
    name: &str,
) -> Vec<(BTreeMap<String, String>, f64)> {
    let newest: Option<&Metric> = requests
        .iter()
        .rev()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .find(|m| m.name == name);
    let number = |p: &NumberDataPoint| {
        let v = match p.value {
            Some(number_data_point::Value::AsInt(i)) => i as f64,
            Some(number_data_point::Value::AsDouble(d)) => d,
            None => f64::NAN,
        };
        (attributes(&p.attributes), v)
    };
    match newest.and_then(|m| m.data.as_ref()) {
        Some(Data::Sum(sum)) => sum.data_points.iter().map(number).collect(),
        Some(Data::Gauge(g)) => g.data_points.iter().map(number).collect(),
        Some(Data::Histogram(h)) => h
            .data_points
            .iter()
            .map(|p| (attributes(&p.attributes), p.count as f64))
            .collect(),
        other => panic!("metric {name}: unexpected data {other:?}"),
    }
}
