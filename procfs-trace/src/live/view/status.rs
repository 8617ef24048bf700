//! The status line at the top and the key or filter line at the bottom.

use ratatui::{
    layout::Rect,
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::Paragraph,
    Frame,
};

use super::super::{app::Ui, plain::uptime, store::Store};

/// Source, kernel, attach method, uptime, events/s, losses, pause, filter.
pub fn top(frame: &mut Frame, area: Rect, store: &Store, ui: &Ui) {
    let m = &store.meta;
    let mut spans = vec![
        Span::styled(
            " procfs-trace live ",
            Style::new().fg(Color::Black).bg(Color::Cyan),
        ),
        Span::raw(format!(
            " {} │ {} │ {} │ up {} │ {} ev/s │ ",
            m.source,
            m.kernel,
            m.attach,
            uptime(m.uptime_ns()),
            m.event_rate.per_sec(m.now_ns),
        )),
    ];
    let lost = format!("lost {}", m.lost);
    spans.push(if m.lost > 0 {
        Span::styled(lost, Style::new().fg(Color::Yellow))
    } else {
        Span::raw(lost)
    });
    if m.waiting > 0 {
        spans.push(Span::styled(
            format!(" │ {} waiting", m.waiting),
            Style::new().fg(Color::Yellow),
        ));
    }
    let behind = store.behind();
    if behind > 0 {
        spans.push(Span::styled(
            format!(" │ FALLING BEHIND: {behind} lost/s"),
            Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(f) = store.fidelity() {
        spans.push(Span::raw(format!(" │ {f}")));
    }
    if m.finished {
        spans.push(Span::raw(" │ recording ended"));
    }
    if ui.paused.is_some() {
        spans.push(Span::styled(
            " │ PAUSED",
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(f) = store.filter() {
        spans.push(Span::styled(
            format!(" │ filter {f}"),
            Style::new().fg(Color::Magenta),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The filter being typed, a message, or the main keys.
pub fn bottom(frame: &mut Frame, area: Rect, ui: &Ui) {
    let line = if let Some(text) = &ui.input {
        Line::from(vec![
            Span::styled(
                " filter (pid:N comm:NAME path:GLOB, Enter applies, Esc cancels): ",
                Style::new().fg(Color::Black).bg(Color::Magenta),
            ),
            Span::raw(format!(" {text}▏")),
        ])
    } else if let Some(msg) = &ui.message {
        Line::styled(format!(" {msg}"), Style::new().fg(Color::Red))
    } else {
        Line::styled(
            " q quit  p pause  Tab pane  ↑↓ select  s sort  Enter open  / filter  c clear  ? help",
            Style::new().fg(Color::DarkGray),
        )
    };
    frame.render_widget(Paragraph::new(line), area);
}
