//! The help popup.

use ratatui::{
    layout::Rect,
    style::{Modifier, Style},
    text::Line,
    widgets::{Block, Clear, Paragraph, Wrap},
    Frame,
};

const KEYS: &[(&str, &str)] = &[
    (
        "q, Ctrl-C",
        "quit (probes are detached, the terminal restored)",
    ),
    ("p, Space", "pause or resume the view (collection goes on)"),
    ("Tab, Shift-Tab", "focus the next or previous pane"),
    ("↑ ↓ j k, PgUp PgDn, g G", "move the selection"),
    ("s", "sort the focused table by its next column"),
    (
        "Enter",
        "processes: filter to that pid; paths: per-process breakdown;",
    ),
    (
        "",
        "flows: show the selected flow whole (↑↓ scroll, Esc closes)",
    ),
    (
        "/ or f",
        "type a filter: pid:N comm:NAME path:GLOB (bare terms work:",
    ),
    (
        "",
        "a number is a pid, a term with / a path glob, else a comm)",
    ),
    ("c", "clear the filter"),
    ("Esc", "close the popup or breakdown"),
    ("?", "this help"),
];

/// Draws the help over `area`.
pub fn draw(frame: &mut Frame, area: Rect) {
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| Line::from(format!(" {k:<24} {what}")))
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(
        " Paths fold numbers as [pid], [tid] and [fd]. Rates count the last second of trace",
    ));
    lines.push(Line::from(
        " time. A filter applies from when it is set, seeded with the recent flows it matches.",
    ));
    lines.push(Line::from(
        " KIND: fn a probed function; show a probed show callback; show~ a show callback that is",
    ));
    lines.push(Line::from(
        " not probed, timed by the innermost call naming it (buffered reads included).",
    ));
    lines.push(Line::from(
        " N waiting: events read from the kernel and not yet checked; the view lags them.",
    ));
    lines.push(Line::from(
        " FALLING BEHIND: the ring buffer overflowed in the last second (see --buffer-kib).",
    ));
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .title(" help ")
                .title_style(Style::new().add_modifier(Modifier::BOLD)),
        ),
        area,
    );
}
