//! The view's own state (focus, sorts, selections, pause, filter being typed,
//! popups) and what each action does to it.

use super::{
    filter::Filter,
    input::Action,
    sort::{FuncSort, PathSort, ProcSort},
    store::Store,
};
use crate::check::Checked;

/// The panes, in focus order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pane {
    /// Processes.
    #[default]
    Procs,
    /// Hot paths.
    Paths,
    /// Kernel functions and show callbacks.
    Funcs,
    /// Recent flows.
    Flows,
}

const PANES: [Pane; 4] = [Pane::Procs, Pane::Paths, Pane::Funcs, Pane::Flows];

/// Everything about the view that is not the data.
#[derive(Debug, Clone, Default)]
pub struct Ui {
    /// The focused pane.
    pub focus: Pane,
    /// Process table order.
    pub proc_sort: ProcSort,
    /// Path table order.
    pub path_sort: PathSort,
    /// Function table order.
    pub func_sort: FuncSort,
    /// Selected row per pane (clamped when drawn).
    pub selected: [usize; 4],
    /// The data as it was when paused.
    pub paused: Option<Store>,
    /// The help is shown.
    pub help: bool,
    /// A filter being typed.
    pub input: Option<String>,
    /// A message for the bottom line (a bad filter).
    pub message: Option<String>,
    /// The path whose processes are shown.
    pub breakdown: Option<String>,
    /// The flow shown whole, and how far it is scrolled.
    pub detail: Option<(Checked, usize)>,
}

impl Ui {
    /// The selection of `pane`.
    pub fn sel(&self, pane: Pane) -> usize {
        self.selected[pane as usize]
    }

    /// The data to draw: frozen while paused.
    pub fn shown<'a>(&'a self, live: &'a Store) -> &'a Store {
        self.paused.as_ref().unwrap_or(live)
    }

    /// Applies `a`; returns true when the view should end.
    pub fn apply(&mut self, a: Action, store: &mut Store) -> bool {
        if let Some(text) = &mut self.input {
            match a {
                Action::Type(c) => text.push(c),
                Action::Erase => {
                    text.pop();
                }
                Action::Submit => {
                    let text = self.input.take().unwrap_or_default();
                    match Filter::parse(&text) {
                        Ok(f) => self.set_filter(f, store),
                        Err(e) => self.message = Some(format!("bad filter: {e}")),
                    }
                }
                Action::Back => self.input = None,
                Action::Quit => return true,
                _ => {}
            }
            return false;
        }
        self.message = None;
        match a {
            Action::Quit => return true,
            Action::Pause => {
                self.paused = match self.paused {
                    Some(_) => None,
                    None => Some(store.clone()),
                }
            }
            Action::Help => self.help = !self.help,
            Action::NextPane | Action::PrevPane => {
                let i = PANES.iter().position(|p| *p == self.focus).unwrap_or(0);
                let step = if a == Action::NextPane {
                    1
                } else {
                    PANES.len() - 1
                };
                self.focus = PANES[(i + step) % PANES.len()];
            }
            Action::Move(d) => match &mut self.detail {
                Some((_, scroll)) => *scroll = scroll.saturating_add_signed(d),
                None => {
                    let last = self.rows(store).saturating_sub(1);
                    let s = &mut self.selected[self.focus as usize];
                    *s = s.saturating_add_signed(d).min(last);
                }
            },
            Action::Top => self.selected[self.focus as usize] = 0,
            Action::Bottom => {
                self.selected[self.focus as usize] = self.rows(store).saturating_sub(1)
            }
            Action::Sort => match self.focus {
                Pane::Procs => self.proc_sort = self.proc_sort.next(),
                Pane::Paths => self.path_sort = self.path_sort.next(),
                Pane::Funcs => self.func_sort = self.func_sort.next(),
                // Flows are in arrival order.
                Pane::Flows => {}
            },
            Action::Select => self.select(store),
            Action::Back => {
                if self.detail.take().is_none() && !std::mem::take(&mut self.help) {
                    self.breakdown = None;
                }
            }
            Action::StartFilter => {
                self.input = Some(
                    self.shown(store)
                        .filter()
                        .map(|f| f.to_string())
                        .unwrap_or_default(),
                )
            }
            Action::ClearFilter => self.set_filter(Filter::default(), store),
            Action::Type(_) | Action::Erase | Action::Submit => {}
        }
        false
    }

    fn set_filter(&mut self, f: Filter, store: &mut Store) {
        store.set_filter(f.clone());
        if let Some(p) = &mut self.paused {
            p.set_filter(f);
        }
        self.selected = [0; 4];
        self.breakdown = None;
    }

    /// Rows in the focused pane.
    fn rows(&self, store: &Store) -> usize {
        let v = self.shown(store).view();
        match self.focus {
            Pane::Procs => v.procs.len(),
            Pane::Paths => match &self.breakdown {
                Some(p) => v.path_breakdown(p).len(),
                None => v.paths.len(),
            },
            Pane::Funcs => v.funcs().count(),
            Pane::Flows => v.flows.len(),
        }
    }

    fn select(&mut self, store: &mut Store) {
        let shown = self.shown(store);
        let v = shown.view();
        let now = shown.meta.now_ns;
        match self.focus {
            Pane::Procs => {
                let pid = v
                    .procs_sorted(self.proc_sort, now)
                    .get(self.sel(Pane::Procs))
                    .map(|p| p.tgid);
                if let Some(pid) = pid {
                    let mut f = shown.filter().cloned().unwrap_or_default();
                    f.pid = Some(pid);
                    self.set_filter(f, store);
                }
            }
            Pane::Paths if self.breakdown.is_none() => {
                self.breakdown = v
                    .paths_sorted(self.path_sort, now)
                    .get(self.sel(Pane::Paths))
                    .map(|(p, _)| (*p).to_owned());
                self.selected[Pane::Paths as usize] = 0;
            }
            Pane::Paths => self.breakdown = None,
            Pane::Funcs => {}
            Pane::Flows => {
                let flow = v.flows.iter().rev().nth(self.sel(Pane::Flows)).cloned();
                self.detail = flow.map(|c| (c, 0));
            }
        }
    }
}
