//! Starting the control plane: what a start that fails says.

use vmop_testenv::{ControlPlane, TestEnvError};

#[test]
fn a_failed_start_reports_the_end_of_kube_testenv_s_log_though_its_data_dir_is_gone() {
    let error = ControlPlane::start_ephemeral_with(&["--datastore".into(), "floppy".into()])
        .expect_err("kube-testenv refuses an unknown datastore");
    let TestEnvError::Start { detail, log } = error else {
        panic!("expected a start error, got {error}");
    };
    assert!(
        detail.contains("kube-testenv exited with"),
        "the exit is named: {detail}"
    );
    assert!(
        detail.contains(r#"unknown datastore "floppy""#),
        "Go's own message is in the error: {detail}"
    );
    assert!(
        !log.exists(),
        "an ephemeral control plane's data dir goes with it, log included: {}",
        log.display()
    );
}
