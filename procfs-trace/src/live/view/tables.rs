//! The process, path and function tables.

use ratatui::{
    layout::{Constraint, Rect},
    style::{Color, Modifier, Style},
    widgets::{Cell, Row, Table, TableState},
    Frame,
};

use super::{
    super::{app::Pane, app::Ui, plain::bytes, state::FuncKind, store::Store},
    block, selected_style,
};
use crate::render::events::format_duration;

fn header(cells: &[&'static str]) -> Row<'static> {
    Row::new(cells.to_vec()).style(Style::new().add_modifier(Modifier::BOLD))
}

fn diverged(n: u64) -> Cell<'static> {
    if n > 0 {
        Cell::from(n.to_string()).style(Style::new().fg(Color::Red).add_modifier(Modifier::BOLD))
    } else {
        Cell::from("0")
    }
}

fn render(frame: &mut Frame, area: Rect, table: Table, ui: &Ui, pane: Pane, rows: usize) {
    let table = table.row_highlight_style(selected_style(ui, pane));
    let mut state = TableState::default();
    if rows > 0 {
        state.select(Some(ui.sel(pane).min(rows - 1)));
    }
    frame.render_stateful_widget(table, area, &mut state);
}

/// Processes hitting procfs.
pub fn procs(frame: &mut Frame, area: Rect, store: &Store, ui: &Ui) {
    let now = store.meta.now_ns;
    let rows: Vec<Row> = store
        .view()
        .procs_sorted(ui.proc_sort, now)
        .into_iter()
        .map(|p| {
            Row::new(vec![
                Cell::from(p.pid_label()),
                Cell::from(p.comm.clone()),
                Cell::from(p.rate.per_sec(now).to_string()),
                Cell::from(p.ops.to_string()),
                Cell::from(bytes(p.bytes)),
                Cell::from(format_duration(p.kernel_ns)),
                diverged(p.diverged),
            ])
        })
        .collect();
    let n = rows.len();
    let table = Table::new(
        rows,
        [
            Constraint::Length(7),
            Constraint::Min(8),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Length(10),
            Constraint::Length(3),
        ],
    )
    .header(header(&[
        "PID", "COMM", "OPS/S", "OPS", "READ", "KERNEL", "✗",
    ]))
    .block(block(
        format!(" Processes ({n}) by {} ", ui.proc_sort.name()),
        ui.focus == Pane::Procs,
    ));
    render(frame, area, table, ui, Pane::Procs, n);
}

/// Hot paths, or one path's processes.
pub fn paths(frame: &mut Frame, area: Rect, store: &Store, ui: &Ui) {
    let v = store.view();
    let now = store.meta.now_ns;
    let focused = ui.focus == Pane::Paths;
    if let Some(path) = &ui.breakdown {
        let rows: Vec<Row> = v
            .path_breakdown(path)
            .into_iter()
            .map(|(pid, s)| {
                Row::new(vec![
                    pid.to_string(),
                    s.comm.clone(),
                    s.ops.to_string(),
                    format_duration(s.kernel_ns),
                ])
            })
            .collect();
        let n = rows.len();
        let table = Table::new(
            rows,
            [
                Constraint::Length(8),
                Constraint::Min(10),
                Constraint::Length(8),
                Constraint::Length(10),
            ],
        )
        .header(header(&["PID", "COMM", "OPS", "KERNEL"]))
        .block(block(format!(" {path} by process (Esc back) "), focused));
        return render(frame, area, table, ui, Pane::Paths, n);
    }
    let rows: Vec<Row> = v
        .paths_sorted(ui.path_sort, now)
        .into_iter()
        .map(|(path, a)| {
            Row::new(vec![
                Cell::from(path.to_owned()),
                Cell::from(a.rate.per_sec(now).to_string()),
                Cell::from(a.ops.to_string()),
                Cell::from(format_duration(a.kernel_ns)),
                diverged(a.diverged),
            ])
        })
        .collect();
    let n = rows.len();
    let table = Table::new(
        rows,
        [
            Constraint::Min(16),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(10),
            Constraint::Length(3),
        ],
    )
    .header(header(&["PATH", "OPS/S", "OPS", "KERNEL", "✗"]))
    .block(block(
        format!(" Hot paths ({n}) by {} ", ui.path_sort.name()),
        focused,
    ));
    render(frame, area, table, ui, Pane::Paths, n);
}

/// Kernel functions and show callbacks with their latencies.
pub fn funcs(frame: &mut Frame, area: Rect, store: &Store, ui: &Ui) {
    let rows: Vec<Row> = store
        .view()
        .funcs_sorted(ui.func_sort)
        .into_iter()
        .map(|(name, f)| {
            let q = |x| {
                f.latency
                    .quantile(x)
                    .map_or("-".to_owned(), format_duration)
            };
            let style = if f.kind == FuncKind::Probed {
                Style::new()
            } else {
                Style::new().fg(Color::Green)
            };
            Row::new(vec![
                Cell::from(name.to_owned()).style(style),
                Cell::from(f.kind.label()).style(style),
                Cell::from(f.calls.to_string()),
                Cell::from(q(0.5)),
                Cell::from(q(0.99)),
                Cell::from(format_duration(f.total_ns)),
            ])
        })
        .collect();
    let n = rows.len();
    let table = Table::new(
        rows,
        [
            Constraint::Min(16),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(9),
        ],
    )
    .header(header(&[
        "FUNCTION", "KIND", "CALLS", "P50", "P99", "TOTAL",
    ]))
    .block(block(
        format!(" Kernel functions ({n}) by {} ", ui.func_sort.name()),
        ui.focus == Pane::Funcs,
    ));
    render(frame, area, table, ui, Pane::Funcs, n);
}
