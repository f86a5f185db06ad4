//! Verified webhook bodies → provider-neutral events: the one place that knows which provider
//! module reads which body.

use domain::events::ProviderEvent;
use domain::provider::ProviderKind;

/// The body is not an event of the provider it was sent as (refused at the door, never stored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed event: {0}")]
pub struct MalformedEvent(pub String);

/// Reads a webhook body of `provider` (already verified, or stored after verification).
pub fn normalize(provider: ProviderKind, payload: &str) -> Result<ProviderEvent, MalformedEvent> {
    match provider {
        ProviderKind::StripeConnect => crate::stripe::transformers::normalize(payload),
        ProviderKind::Paypal => crate::paypal::transformers::normalize(payload),
        other => Err(MalformedEvent(format!("{other} sends no webhooks we read"))),
    }
}
