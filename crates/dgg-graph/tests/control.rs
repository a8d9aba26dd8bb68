//! Control: the cancel flag and the progress callback.

use dgg_graph::{Control, GraphError, Progress};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

#[test]
fn check_cancel_follows_the_flag() {
    assert!(Control::none().check_cancel().is_ok());
    let flag = AtomicBool::new(false);
    let ctl = Control { progress: None, cancel: Some(&flag) };
    assert!(ctl.check_cancel().is_ok());
    flag.store(true, Ordering::SeqCst);
    assert!(matches!(ctl.check_cancel(), Err(GraphError::Cancelled)));
    assert!(ctl.is_cancelled());
}

#[test]
fn report_calls_the_callback() {
    let seen = Mutex::new(Vec::new());
    let cb = |p: &Progress| seen.lock().unwrap().push((p.phase.to_string(), p.batch, p.losses[0].1));
    let ctl = Control { progress: Some(&cb), cancel: None };
    let losses = [("contrastive", 1.5)];
    ctl.report(&Progress { phase: "siamese", epoch: 0, epochs: 1, batch: 3, batches: 4, losses: &losses });
    Control::none().report(&Progress { phase: "x", epoch: 0, epochs: 1, batch: 0, batches: 1, losses: &[] });
    assert_eq!(seen.into_inner().unwrap(), vec![("siamese".to_string(), 3, 1.5)]);
}
