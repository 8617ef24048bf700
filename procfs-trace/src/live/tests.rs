//! Frames of the view, drawn from a recorded tour and injected flows, kept as
//! insta snapshots; and the plain-text summary.

use std::{cell::RefCell, path::Path, rc::Rc};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::{backend::TestBackend, Terminal};

use super::{
    app::Ui,
    collector::Collector,
    input, plain, replay,
    source::{self, Clock},
    store::{Meta, Store},
};
use crate::check::Verdict;

/// The 6.1 tour, played unpaced into a store.
fn tour() -> Rc<RefCell<Store>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tour-6.1.pfsrec");
    let mut rec = replay::open(&path).unwrap();
    let t0 = rec.header().clock_monotonic_ns;
    let store = Rc::new(RefCell::new(Store::new(Meta {
        source: "replay tour-6.1.pfsrec".into(),
        kernel: rec.header().kernel_release.clone(),
        attach: "kprobe".into(),
        started_ns: t0,
        now_ns: t0,
        ..Meta::default()
    })));
    let mut collector = Collector::new(replay::checker(rec.header()).unwrap(), store.clone());
    let clock = Clock::Replay {
        t0_ns: t0,
        wall0: std::time::Instant::now(),
        speed: 0.0,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(source::play(
        &mut rec,
        clock,
        &replay::ReplayOptions::default(),
        &mut collector,
    ))
    .unwrap();
    store
}

fn frame(store: &Store, ui: &Ui) -> String {
    let mut t = Terminal::new(TestBackend::new(120, 40)).unwrap();
    t.draw(|f| super::view::draw(f, store, ui)).unwrap();
    t.backend().to_string()
}

fn keys(ui: &mut Ui, store: &mut Store, keys: &[KeyCode]) {
    for k in keys {
        let a = input::action(KeyEvent::new(*k, KeyModifiers::NONE), ui.input.is_some())
            .expect("a mapped key");
        assert!(!ui.apply(a, store), "{k:?} quit");
    }
}

fn chars(s: &str) -> Vec<KeyCode> {
    s.chars().map(KeyCode::Char).collect()
}

#[test]
fn main_screen() {
    let store = tour();
    let store = store.borrow();
    assert_eq!(store.all.ops, 257, "as `info` counts the fixture");
    insta::assert_snapshot!(frame(&store, &Ui::default()));
}

#[test]
fn help_screen() {
    let store = tour();
    let mut store = store.borrow_mut();
    let mut ui = Ui::default();
    keys(&mut ui, &mut store, &[KeyCode::Char('?')]);
    insta::assert_snapshot!(frame(&store, &ui));
}

#[test]
fn typing_then_applying_a_path_filter() {
    let store = tour();
    let mut store = store.borrow_mut();
    let mut ui = Ui::default();
    let mut typed = vec![KeyCode::Char('/')];
    typed.extend(chars("/proc/*/stat"));
    keys(&mut ui, &mut store, &typed);
    insta::assert_snapshot!("filter_typing", frame(&store, &ui));
    keys(&mut ui, &mut store, &[KeyCode::Enter]);
    assert_eq!(store.view().paths.len(), 1);
    insta::assert_snapshot!("filter_applied", frame(&store, &ui));
    keys(&mut ui, &mut store, &[KeyCode::Char('c')]);
    assert!(store.filter().is_none());
}

#[test]
fn a_bad_filter_says_why() {
    let store = tour();
    let mut store = store.borrow_mut();
    let mut ui = Ui::default();
    let mut typed = vec![KeyCode::Char('/')];
    typed.extend(chars("pid:abc"));
    typed.push(KeyCode::Enter);
    keys(&mut ui, &mut store, &typed);
    assert!(store.filter().is_none());
    assert!(ui.message.as_deref().unwrap().contains("not a process id"));
}

#[test]
fn sorting_and_a_path_breakdown() {
    let store = tour();
    let mut store = store.borrow_mut();
    let mut ui = Ui::default();
    // Processes by bytes read; paths by ops, then the top path's processes.
    keys(
        &mut ui,
        &mut store,
        &[
            KeyCode::Char('s'),
            KeyCode::Char('s'),
            KeyCode::Tab,
            KeyCode::Char('s'),
            KeyCode::Enter,
        ],
    );
    insta::assert_snapshot!(frame(&store, &ui));
}

#[test]
fn a_divergence_is_highlighted_and_opens_whole() {
    let store = tour();
    let mut store = store.borrow_mut();
    let mut c = store
        .all
        .flows
        .iter()
        .find(|c| c.op.path.as_deref().is_some_and(|p| p.ends_with("/limits")))
        .cloned()
        .unwrap();
    c.verdict = Verdict::Divergence {
        at: "proc_pident_lookup".into(),
        expected: "proc_pident_lookup \"limits\" = 0".into(),
        seen: "proc_pident_lookup \"limits\" = -2".into(),
    };
    store.ingest(c, 0);
    assert_eq!(store.all.verdicts["divergence"], 1);
    let mut ui = Ui::default();
    keys(&mut ui, &mut store, &[KeyCode::BackTab, KeyCode::Char('p')]);
    insta::assert_snapshot!("divergence_in_flows", frame(&store, &ui));
    keys(&mut ui, &mut store, &[KeyCode::Enter]);
    insta::assert_snapshot!("divergence_detail", frame(&store, &ui));
    keys(&mut ui, &mut store, &[KeyCode::Esc, KeyCode::Char('p')]);
    assert!(ui.detail.is_none() && ui.paused.is_none());
}

#[test]
fn plain_summary() {
    let store = tour();
    let mut out = Vec::new();
    plain::write_tables(&store.borrow(), "summary after 0.7 s", 8, &mut out).unwrap();
    insta::assert_snapshot!(String::from_utf8(out).unwrap());
}

#[test]
fn quit_keys() {
    let q = input::action(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE), false);
    assert_eq!(q, Some(input::Action::Quit));
    let c = input::action(
        KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
        true,
    );
    assert_eq!(c, Some(input::Action::Quit));
}
