//! Checkout: `previewCommission` (no writes) and `createMurchasePayment` (a destination charge
//! whose `application_fee_amount` comes from the same engine, so checkout and ledger agree).

use domain::commission::{self, Breakdown, OrderAmounts};
use domain::lifecycle::AccountStatus;
use domain::metadata::PaymentMetadata;
use domain::money::Currency;
use domain::permissions::{Actor, Permission};
use domain::provider::{ChargeCreated, DestinationCharge, ProviderKind};

use super::{Murchases, ServiceError, ServiceResult};
use crate::repo;

/// An order as checkout describes it.
#[derive(Debug, Clone)]
pub struct OrderInput {
    pub order_id: Option<String>,
    pub malet_id: String,
    pub currency: String,
    pub gross_amount: i64,
    pub subtotal: Option<i64>,
    pub discount: i64,
    pub tax: i64,
    pub shipping: i64,
    pub affiliate_id: Option<String>,
    pub platform: Option<String>,
}

impl Murchases {
    /// The breakdown an order would get now (R-COMM, R-PAY-3); writes nothing.
    pub async fn preview(&self, actor: &Actor, input: &OrderInput) -> ServiceResult<Breakdown> {
        actor.can(Permission::ViewRevenue, &input.malet_id)?;
        self.breakdown_for(input).await
    }

    async fn breakdown_for(&self, input: &OrderInput) -> ServiceResult<Breakdown> {
        let currency = Currency::parse(&input.currency).map_err(ServiceError::bad_input)?;
        let order = OrderAmounts::new(
            currency,
            input.gross_amount,
            input.subtotal,
            input.discount,
            input.tax,
            input.shipping,
            input.affiliate_id.is_some(),
        )
        .map_err(ServiceError::bad_input)?;
        let now = service_core::clock::now();
        let effective = self.effective_rule(&self.db, &input.malet_id, now).await?;
        let first_sale = repo::rules::settings(&self.db, &input.malet_id).await?.and_then(|s| s.first_sale_at);
        let reserve = self.reserve_rate(&self.db, &input.malet_id, effective.rule.tier, first_sale, now).await?;
        commission::compute(&order, &effective.rule, reserve, Some(effective.version)).map_err(ServiceError::bad_input)
    }

    /// Creates the provider payment as a destination charge to the Malet's active account.
    /// The idempotency key is derived from the order id: retrying never charges twice.
    pub async fn create_payment(&self, actor: &Actor, input: &OrderInput) -> ServiceResult<(ChargeCreated, Breakdown)> {
        actor.can(Permission::ManagePayouts, &input.malet_id)?;
        let order_id = input
            .order_id
            .clone()
            .filter(|o| !o.trim().is_empty())
            .ok_or_else(|| ServiceError::BadInput("orderId is required".into()))?;
        let metadata = PaymentMetadata {
            order_id: order_id.clone(),
            malet_id: Some(input.malet_id.clone()),
            subtotal: input.subtotal,
            tax: input.tax,
            shipping: input.shipping,
            discount: input.discount,
            affiliate_id: input.affiliate_id.clone(),
            platform: input.platform.clone().or_else(|| Some("mallnline".into())),
        };
        // Validate the metadata exactly as the webhook will read it back.
        let metadata = PaymentMetadata::parse(&metadata.to_map()).map_err(ServiceError::bad_input)?;
        let account = repo::accounts::live_account(&self.db, &input.malet_id)
            .await?
            .ok_or_else(|| ServiceError::Conflict("the Malet has no payout account".into()))?;
        if account.status != AccountStatus::Active.as_str() {
            return Err(ServiceError::Conflict(format!(
                "the Malet's payout account is {}, not ACTIVE",
                account.status
            )));
        }
        if !account.currency.eq_ignore_ascii_case(input.currency.trim()) {
            return Err(ServiceError::BadInput(format!(
                "the Malet's payout account settles in {}, not {}",
                account.currency, input.currency
            )));
        }
        let destination = account
            .provider_account_id
            .clone()
            .ok_or_else(|| ServiceError::Conflict("the Malet's payout account has no provider account".into()))?;
        if repo::ledger::by_order_select(&order_id).one(&self.db).await?.is_some() {
            return Err(ServiceError::Conflict(format!("order {order_id} is already paid")));
        }
        let breakdown = self.breakdown_for(input).await?;
        let kind: ProviderKind =
            account.provider.parse().map_err(|_| ServiceError::Internal("stored provider".into()))?;
        let created = self
            .providers
            .get(kind)?
            .create_destination_charge(DestinationCharge {
                amount: breakdown.gross,
                currency: breakdown.currency,
                destination,
                application_fee_amount: breakdown.application_fee_amount,
                metadata: metadata.to_map(),
                idempotency_key: format!("murchase-payment:{order_id}"),
            })
            .await?;
        Ok((created, breakdown))
    }
}
