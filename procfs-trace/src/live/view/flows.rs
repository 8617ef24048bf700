//! Recent flows as call trees with verdicts, and one flow shown whole.

use ratatui::{
    layout::Rect,
    style::{Color, Modifier, Style},
    text::Line,
    widgets::{Block, Clear, Paragraph},
    Frame,
};

use super::{
    super::{app::Pane, app::Ui, store::Store},
    block,
};
use crate::{
    check::{Checked, Verdict},
    render::events::Format,
    render::print,
};

/// Calls shown per flow in the pane; the popup shows all.
const MAX_CALL_LINES: usize = 6;

fn verdict_style(v: &Verdict) -> Style {
    match v {
        Verdict::Match { .. } => Style::new().fg(Color::Green),
        Verdict::Divergence { .. } => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        Verdict::Unknown { .. } => Style::new().fg(Color::Yellow),
        Verdict::Inconclusive { .. } => Style::new().fg(Color::DarkGray),
    }
}

/// Styled lines of one flow: the headline led by the verdict's mark (a
/// narrow pane cuts lines on the right, so the mark goes first), the call
/// tree as `trace` prints it (cut to `max` lines), divergence details in red.
/// `whole` adds the verdict spelled out, with its reason.
fn lines(c: &Checked, max: usize, selected: bool, whole: bool) -> Vec<Line<'static>> {
    let verdict = print::verdict_line(&c.verdict);
    let mark = verdict.split(' ').next().unwrap_or_default();
    let mut style = verdict_style(&c.verdict);
    if selected {
        style = style.add_modifier(Modifier::REVERSED);
    }
    let mut out = vec![Line::styled(
        format!("{mark} {}", print::headline(&c.op)),
        style,
    )];
    if whole {
        out.push(Line::styled(
            format!("  {verdict}"),
            verdict_style(&c.verdict),
        ));
    }
    let mut buf = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = print::print(c, Format::Text, &mut buf);
    let text = String::from_utf8_lossy(&buf);
    let body: Vec<&str> = text.lines().skip(1).collect();
    for (i, l) in body.iter().enumerate() {
        if l.trim_start().starts_with('✗') {
            out.push(Line::styled(l.to_string(), Style::new().fg(Color::Red)));
        } else if i < max {
            out.push(Line::from(l.to_string()));
        } else if i == max {
            out.push(Line::styled(
                format!("  … {} more lines (Enter shows the flow)", body.len() - i),
                Style::new().fg(Color::DarkGray),
            ));
        }
    }
    out
}

/// The recent flows, newest first, scrolled to keep the selection in view.
pub fn pane(frame: &mut Frame, area: Rect, store: &Store, ui: &Ui) {
    let flows = &store.view().flows;
    let focused = ui.focus == Pane::Flows;
    let sel = ui.sel(Pane::Flows).min(flows.len().saturating_sub(1));
    let per: Vec<Vec<Line>> = flows
        .iter()
        .rev()
        .enumerate()
        .map(|(i, c)| lines(c, MAX_CALL_LINES, focused && i == sel, false))
        .collect();
    let height = area.height.saturating_sub(2) as usize;
    let mut start = 0;
    while start < sel && per[start..=sel].iter().map(Vec::len).sum::<usize>() > height {
        start += 1;
    }
    let body: Vec<Line> = per.into_iter().skip(start).flatten().take(height).collect();
    let diverged = flows.iter().filter(|c| c.diverged()).count();
    let title = format!(
        " Recent flows ({}{}) ",
        flows.len(),
        if diverged > 0 {
            format!(", {diverged} diverged")
        } else {
            String::new()
        }
    );
    frame.render_widget(Paragraph::new(body).block(block(title, focused)), area);
}

/// One flow, whole, over `area`.
pub fn detail(frame: &mut Frame, area: Rect, c: &Checked, scroll: usize) {
    let mut body = lines(c, usize::MAX, false, true);
    let skip = scroll.min(body.len().saturating_sub(1));
    body.drain(..skip);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(body).block(Block::bordered().title(format!(
            " flow of {}[{}] ({}) — ↑↓ scroll, Esc closes ",
            c.op.comm,
            c.op.tgid,
            c.verdict.name()
        ))),
        area,
    );
}
