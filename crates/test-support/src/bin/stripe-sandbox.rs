//! `stripe-sandbox`: the local Stripe sandbox for development (see `test_support::sandbox`).
//!
//! ```text
//! stripe-sandbox --addr 127.0.0.1:4010 --webhook-secret whsec_… \
//!     --endpoint http://127.0.0.1:4001/webhooks/stripe --endpoint http://127.0.0.1:4002/webhooks/stripe
//! ```
//! (`STRIPE_SANDBOX_ADDR`, `STRIPE_WEBHOOK_SECRETS`'s first secret and `STRIPE_SANDBOX_ENDPOINTS`,
//! comma-separated, when the flags are absent.) It refuses to start with `APP_ENV=production`.

use test_support::sandbox::{Sandbox, SandboxConfig};

fn usage(why: &str) -> ! {
    eprintln!(
        "stripe-sandbox: {why}\nusage: stripe-sandbox --addr HOST:PORT --webhook-secret SECRET --endpoint URL [--endpoint URL …]"
    );
    std::process::exit(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    service_core::telemetry::init_logging();
    if std::env::var("APP_ENV").is_ok_and(|e| e.eq_ignore_ascii_case("production")) {
        usage("the sandbox is for development only and never runs with APP_ENV=production");
    }
    let mut addr = std::env::var("STRIPE_SANDBOX_ADDR").ok();
    let mut secret = std::env::var("STRIPE_WEBHOOK_SECRETS")
        .ok()
        .and_then(|s| s.split(',').next().map(str::trim).map(str::to_owned));
    let mut endpoints: Vec<String> = std::env::var("STRIPE_SANDBOX_ENDPOINTS")
        .map(|e| e.split(',').map(str::trim).filter(|e| !e.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--addr" => addr = Some(value()),
            "--webhook-secret" => secret = Some(value()),
            "--endpoint" => endpoints.push(value()),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let addr = addr.unwrap_or_else(|| "127.0.0.1:4010".into());
    let addr = addr.parse().unwrap_or_else(|_| usage(&format!("{addr} is not HOST:PORT")));
    let webhook_secret = secret.filter(|s| !s.is_empty()).unwrap_or_else(|| usage("no webhook secret"));
    if endpoints.is_empty() {
        usage("no webhook endpoint");
    }
    let sandbox = match Sandbox::start(SandboxConfig { addr, endpoints: endpoints.clone(), webhook_secret }).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("stripe-sandbox: {e}");
            std::process::exit(1)
        }
    };
    eprintln!("stripe-sandbox: Stripe API on {} → webhooks to {}", sandbox.base_url(), endpoints.join(", "));
    let _ = tokio::signal::ctrl_c().await;
}
