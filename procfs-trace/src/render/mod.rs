//! Everything procfs-trace prints or exports, downstream of the checker: the
//! raw event stream (`events`), checked flows as text or JSON lines
//! (`print`), and Perfetto traces (`perfetto`).

pub mod events;
pub mod perfetto;
pub mod print;
