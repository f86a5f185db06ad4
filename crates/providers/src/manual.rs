//! The MANUAL provider: no external API. Accounts exist only in our database, and payouts are
//! made outside the platform and recorded by an admin, so the provider only hands out an id for
//! the record.

use async_trait::async_trait;
use domain::provider::{
    ChargeCreated, CreateAccount, DestinationCharge, FeeRefundCreated, FeeRefundRequest, Onboarding, OnboardingLink,
    OnboardingLinkRequest, PayoutCreated, PayoutProvider, PayoutRequest, ProviderAccount, ProviderBalance,
    ProviderError, ProviderEvent, ProviderKind, RefundCreated, RefundRequest, TransferCreated, TransferRequest,
};
use domain::schedule::PayoutSchedule;

/// Prefix of the payout ids [`Manual`] generates.
pub const MANUAL_PAYOUT_PREFIX: &str = "manual_po_";

/// The MANUAL payout provider (makes no external calls).
#[derive(Debug, Clone, Copy, Default)]
pub struct Manual;

impl Manual {
    /// A manual provider.
    pub fn new() -> Self {
        Manual
    }
}

fn not_supported(what: &str) -> ProviderError {
    ProviderError::NotSupported(format!("{what} (MANUAL provider)"))
}

#[async_trait]
impl PayoutProvider for Manual {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Manual
    }

    /// There is no external account: `provider_account_id` is `None`, nothing is enabled by a
    /// provider (an admin activates the account).
    async fn create_account(&self, _req: CreateAccount) -> Result<ProviderAccount, ProviderError> {
        Ok(ProviderAccount {
            provider_account_id: None,
            charges_enabled: false,
            payouts_enabled: false,
            currency: None,
        })
    }

    fn onboarding(&self) -> Onboarding {
        Onboarding::AdminConfirms
    }

    async fn onboarding_link(&self, _req: OnboardingLinkRequest) -> Result<OnboardingLink, ProviderError> {
        Err(not_supported("onboarding links"))
    }

    /// The schedule is ours alone: nothing to push.
    async fn update_payout_schedule(
        &self,
        _provider_account_id: &str,
        _schedule: PayoutSchedule,
    ) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn create_destination_charge(&self, _req: DestinationCharge) -> Result<ChargeCreated, ProviderError> {
        Err(not_supported("destination charges"))
    }

    async fn transfer(&self, _req: TransferRequest) -> Result<TransferCreated, ProviderError> {
        Err(not_supported("transfers"))
    }

    /// An admin-recorded payout: returns a fresh id (`manual_po_<uuid v7>`) for the record.
    async fn payout(&self, _req: PayoutRequest) -> Result<PayoutCreated, ProviderError> {
        Ok(PayoutCreated { payout_id: format!("{MANUAL_PAYOUT_PREFIX}{}", uuid::Uuid::now_v7().simple()) })
    }

    /// Nothing is paid through a provider, so there is nothing to refund there (nor any
    /// application fee to return).
    async fn refund(&self, _req: RefundRequest) -> Result<RefundCreated, ProviderError> {
        Err(not_supported("refunds"))
    }

    async fn refund_application_fee(&self, _req: FeeRefundRequest) -> Result<FeeRefundCreated, ProviderError> {
        Err(not_supported("application-fee refunds"))
    }

    /// Nothing is held at a provider: both lists are empty.
    async fn balance(&self, _provider_account_id: &str) -> Result<ProviderBalance, ProviderError> {
        Ok(ProviderBalance { available: Vec::new(), pending: Vec::new() })
    }

    /// No provider, no events (neither the platform's nor an account's).
    async fn events_since(
        &self,
        _account: Option<&str>,
        _created_after: i64,
        _limit: u32,
    ) -> Result<Vec<ProviderEvent>, ProviderError> {
        Err(not_supported("provider events"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use domain::money::Currency;

    use super::*;

    #[tokio::test]
    async fn manual_provider_makes_no_external_calls() {
        let m = Manual::new();
        assert_eq!(m.kind(), ProviderKind::Manual);
        let acct = m
            .create_account(CreateAccount {
                malet_id: "m1".into(),
                user_id: "u1".into(),
                country: None,
                email: None,
                idempotency_key: "k".into(),
            })
            .await
            .expect("create");
        assert_eq!(acct.provider_account_id, None);
        assert_eq!(m.update_payout_schedule("x", PayoutSchedule::Daily).await, Ok(()));

        let p1 = m
            .payout(PayoutRequest {
                provider_account_id: String::new(),
                amount: 100,
                currency: Currency::USD,
                idempotency_key: "p".into(),
            })
            .await
            .expect("payout");
        let p2 = m
            .payout(PayoutRequest {
                provider_account_id: String::new(),
                amount: 100,
                currency: Currency::USD,
                idempotency_key: "p2".into(),
            })
            .await
            .expect("payout");
        assert!(p1.payout_id.starts_with(MANUAL_PAYOUT_PREFIX));
        assert_ne!(p1.payout_id, p2.payout_id);

        let link = m
            .onboarding_link(OnboardingLinkRequest {
                account_id: "a".into(),
                provider_account_id: None,
                refresh_url: "r".into(),
                return_url: "r".into(),
            })
            .await;
        assert!(matches!(link, Err(ProviderError::NotSupported(_))));
        let charge = m
            .create_destination_charge(DestinationCharge {
                amount: 1,
                currency: Currency::USD,
                destination: "a".into(),
                application_fee_amount: 0,
                metadata: BTreeMap::new(),
                idempotency_key: "c".into(),
            })
            .await;
        assert!(matches!(charge, Err(ProviderError::NotSupported(_))));
        let transfer = m
            .transfer(TransferRequest {
                amount: 1,
                currency: Currency::USD,
                destination: "a".into(),
                source_transaction: None,
                transfer_group: None,
                metadata: BTreeMap::new(),
                idempotency_key: "t".into(),
            })
            .await;
        assert!(matches!(transfer, Err(ProviderError::NotSupported(_))));
        let refund = m
            .refund(RefundRequest {
                payment_id: "pi".into(),
                charge_id: None,
                currency: Currency::USD,
                amount: 1,
                reverse_transfer: true,
                metadata: BTreeMap::new(),
                idempotency_key: "r".into(),
            })
            .await;
        assert!(matches!(refund, Err(ProviderError::NotSupported(_))));
        assert!(matches!(m.events_since(None, 0, 10).await, Err(ProviderError::NotSupported(_))));
        assert!(matches!(m.events_since(Some("acct_1"), 0, 10).await, Err(ProviderError::NotSupported(_))));
        assert_eq!(m.balance("x").await, Ok(ProviderBalance { available: vec![], pending: vec![] }));
    }
}
