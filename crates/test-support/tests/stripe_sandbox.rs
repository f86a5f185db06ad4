//! The `stripe-sandbox` binary (issue 15). Being an integration test of this crate also makes
//! `cargo test --workspace` build the binary, which `tests/e2e/tests/sandbox.rs` runs.

use std::process::Command;

/// The sandbox never runs in production mode, and says why.
#[test]
fn the_sandbox_refuses_production() {
    let out = Command::new(env!("CARGO_BIN_EXE_stripe-sandbox"))
        .env("APP_ENV", "production")
        .args(["--webhook-secret", "whsec_x", "--endpoint", "http://127.0.0.1:9/webhooks/stripe"])
        .output()
        .expect("run stripe-sandbox");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("never runs with APP_ENV=production"));
}

/// An unknown command is a usage error, not a sandbox started by mistake.
#[test]
fn an_unknown_command_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_stripe-sandbox")).arg("charge").output().expect("run stripe-sandbox");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown command charge"));
}
