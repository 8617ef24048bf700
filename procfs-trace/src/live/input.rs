//! Keys to actions; what they do is in `app`.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Something the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Leave (detaching the probes).
    Quit,
    /// Freeze or unfreeze the view (collection goes on).
    Pause,
    /// Show or hide the help.
    Help,
    /// Focus the next pane.
    NextPane,
    /// Focus the previous pane.
    PrevPane,
    /// Move the selection by this many rows.
    Move(isize),
    /// Move the selection to the first row.
    Top,
    /// Move the selection to the last row.
    Bottom,
    /// Sort the focused table by its next key.
    Sort,
    /// Open what is selected: a flow, a path's processes, a process's filter.
    Select,
    /// Close the open popup or breakdown.
    Back,
    /// Start typing a filter.
    StartFilter,
    /// Remove the filter.
    ClearFilter,
    /// A character of the filter.
    Type(char),
    /// Delete the last character of the filter.
    Erase,
    /// Apply the typed filter.
    Submit,
}

/// The action for `key`; `typing` is true while a filter is typed in.
pub fn action(key: KeyEvent, typing: bool) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    if typing {
        return Some(match key.code {
            KeyCode::Enter => Action::Submit,
            KeyCode::Esc => Action::Back,
            KeyCode::Backspace => Action::Erase,
            KeyCode::Char(c) if !ctrl => Action::Type(c),
            _ => return None,
        });
    }
    Some(match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('p') | KeyCode::Char(' ') => Action::Pause,
        KeyCode::Char('?') | KeyCode::F(1) => Action::Help,
        KeyCode::Tab => Action::NextPane,
        KeyCode::BackTab => Action::PrevPane,
        KeyCode::Up | KeyCode::Char('k') => Action::Move(-1),
        KeyCode::Down | KeyCode::Char('j') => Action::Move(1),
        KeyCode::PageUp => Action::Move(-10),
        KeyCode::PageDown => Action::Move(10),
        KeyCode::Home | KeyCode::Char('g') => Action::Top,
        KeyCode::End | KeyCode::Char('G') => Action::Bottom,
        KeyCode::Char('s') => Action::Sort,
        KeyCode::Enter => Action::Select,
        KeyCode::Esc => Action::Back,
        KeyCode::Char('/') | KeyCode::Char('f') => Action::StartFilter,
        KeyCode::Char('c') => Action::ClearFilter,
        _ => return None,
    })
}
