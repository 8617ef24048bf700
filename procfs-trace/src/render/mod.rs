//! Everything procfs-trace prints or exports, downstream of the checker: the
//! raw event stream (`events`), checked flows as text or JSON lines
//! (`print`), and traces for the Perfetto UI: native (`perfetto`) and Chrome
//! JSON (`chrome_json`).

pub mod chrome_json;
pub mod events;
pub mod perfetto;
pub mod print;
