//! Drawing: widgets that read the store and the view state, nothing else.

mod flows;
mod help;
mod status;
mod tables;

use ratatui::{
    layout::{Constraint, Layout, Rect},
    style::{Color, Modifier, Style},
    widgets::{Block, BorderType},
    Frame,
};

use super::{
    app::{Pane, Ui},
    store::Store,
};

/// Draws one frame.
pub fn draw(frame: &mut Frame, live: &Store, ui: &Ui) {
    let store = ui.shown(live);
    let [top, body, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(6),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    status::top(frame, top, store, ui);
    status::bottom(frame, bottom, ui);
    let [upper, lower] =
        Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(body);
    let [procs, paths] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(upper);
    let [funcs, flows] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(lower);
    tables::procs(frame, procs, store, ui);
    tables::paths(frame, paths, store, ui);
    tables::funcs(frame, funcs, store, ui);
    flows::pane(frame, flows, store, ui);
    if let Some((checked, scroll)) = &ui.detail {
        flows::detail(frame, popup(frame.area(), 90, 80), checked, *scroll);
    }
    if ui.help {
        help::draw(frame, popup(frame.area(), 80, 80));
    }
}

/// A pane's frame, highlighted when focused.
fn block(title: String, focused: bool) -> Block<'static> {
    let b = Block::bordered().title(title);
    if focused {
        b.border_type(BorderType::Thick)
            .border_style(Style::new().fg(Color::Cyan))
    } else {
        b.border_style(Style::new().fg(Color::DarkGray))
    }
}

/// The selected row's style in the focused pane.
fn selected_style(ui: &Ui, pane: Pane) -> Style {
    if ui.focus == pane {
        Style::new().add_modifier(Modifier::REVERSED)
    } else {
        Style::new()
    }
}

/// A centered rectangle of `w`% by `h`% of `area`.
fn popup(area: Rect, w: u16, h: u16) -> Rect {
    let [_, mid, _] = Layout::vertical([
        Constraint::Percentage((100 - h) / 2),
        Constraint::Percentage(h),
        Constraint::Percentage((100 - h) / 2),
    ])
    .areas(area);
    let [_, c, _] = Layout::horizontal([
        Constraint::Percentage((100 - w) / 2),
        Constraint::Percentage(w),
        Constraint::Percentage((100 - w) / 2),
    ])
    .areas(mid);
    c
}
