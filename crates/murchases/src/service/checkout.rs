//! Checkout: `previewCommission` (no writes) and `createMurchasePayment` (a destination charge
//! whose `application_fee_amount` comes from the same engine, so checkout and ledger agree).
//!
//! Who may shape the commissionable base (R-TRUST-2): the order service, whose token carries
//! CREATE_MURCHASE_PAYMENTS on the Malet. A Malet Owner (MANAGE_PAYOUTS) may start checkout for
//! an amount (all of it commissionable) but may not set subtotal, discount, tax, shipping or an
//! affiliate. The configured bounds (`[limits]`) apply to every caller. What checkout charged is
//! stored (`checkouts`) and is what the ledger records when the payment succeeds.

use domain::commission::{self, Breakdown, OrderAmounts};
use domain::ids::{MaletId, OrderId};
use domain::lifecycle::AccountStatus;
use domain::metadata::PaymentMetadata;
use domain::money::Currency;
use domain::permissions::{AccessDenied, Actor, Permission};
use domain::provider::{CaptureRequest, Captured, ChargeCreated, DestinationCharge, ProviderKind};
use entity::checkouts;
use sea_orm::ActiveValue::Set;

use super::{Murchases, ServiceError, ServiceResult};
use crate::repo;

/// An order as checkout describes it.
#[derive(Debug, Clone)]
pub struct OrderInput {
    pub order_id: Option<OrderId>,
    pub malet_id: MaletId,
    pub currency: String,
    pub gross_amount: i64,
    pub subtotal: Option<i64>,
    pub discount: i64,
    pub tax: i64,
    pub shipping: i64,
    pub affiliate_id: Option<String>,
    pub platform: Option<String>,
}

impl OrderInput {
    /// Whether the input departs from "the whole gross is commissionable, no affiliate".
    pub fn shapes_base(&self) -> bool {
        self.subtotal.is_some_and(|s| s != self.gross_amount)
            || self.discount != 0
            || self.tax != 0
            || self.shipping != 0
            || self.affiliate_id.is_some()
    }

    fn amounts(&self) -> ServiceResult<OrderAmounts> {
        let currency = Currency::parse(&self.currency).map_err(ServiceError::bad_input)?;
        OrderAmounts::new(
            currency,
            self.gross_amount,
            self.subtotal,
            self.discount,
            self.tax,
            self.shipping,
            self.affiliate_id.is_some(),
        )
        .map_err(ServiceError::bad_input)
    }
}

impl Murchases {
    /// The breakdown an order would get now (R-COMM, R-PAY-3); writes nothing.
    pub async fn preview(&self, actor: &Actor, input: &OrderInput) -> ServiceResult<Breakdown> {
        actor.can(Permission::ViewRevenue, input.malet_id.as_str())?;
        self.breakdown_for(input, &input.amounts()?).await
    }

    async fn breakdown_for(&self, input: &OrderInput, order: &OrderAmounts) -> ServiceResult<Breakdown> {
        let malet = input.malet_id.as_str();
        let now = service_core::clock::now();
        let effective = self.effective_rule(&self.db, malet, now).await?;
        let first_sale = repo::rules::settings(&self.db, malet).await?.and_then(|s| s.first_sale_at);
        let reserve = self.reserve_rate(&self.db, malet, effective.rule.tier, first_sale, now).await?;
        let b = commission::compute(order, &effective.rule, reserve, Some(effective.version))
            .map_err(ServiceError::bad_input)?;
        self.config.limits.check(&b)?;
        Ok(b)
    }

    /// Creates the provider payment as a destination charge to the Malet's active account.
    /// The idempotency key is derived from the Malet and order: retrying never charges twice.
    pub async fn create_payment(&self, actor: &Actor, input: &OrderInput) -> ServiceResult<(ChargeCreated, Breakdown)> {
        let malet = input.malet_id.as_str();
        let trusted = actor.can(Permission::CreateMurchasePayments, malet);
        if trusted.is_err() {
            actor.can(Permission::ManagePayouts, malet)?;
            if input.shapes_base() {
                // An owner may charge an amount, not decide how much of it is commissionable.
                return Err(AccessDenied::Forbidden.into());
            }
        }
        let order_id = input.order_id.clone().ok_or_else(|| ServiceError::BadInput("orderId is required".into()))?;
        let order = input.amounts()?;
        let metadata = PaymentMetadata {
            order_id: order_id.as_str().to_owned(),
            malet_id: Some(malet.to_owned()),
            subtotal: Some(order.subtotal),
            tax: order.tax,
            shipping: order.shipping,
            discount: order.discount,
            affiliate_id: input.affiliate_id.clone(),
            platform: input.platform.clone().or_else(|| Some("mallnline".into())),
        };
        // Validate the metadata exactly as the webhook will read it back.
        let metadata = PaymentMetadata::parse(&metadata.to_map()).map_err(ServiceError::bad_input)?;
        let account = repo::accounts::live_account(&self.db, malet)
            .await?
            .ok_or_else(|| ServiceError::Conflict("the Malet has no payout account".into()))?;
        if account.status.domain() != AccountStatus::Active {
            return Err(ServiceError::Conflict(format!(
                "the Malet's payout account is {}, not ACTIVE",
                account.status
            )));
        }
        if !account.currency.eq_ignore_ascii_case(order.currency.code()) {
            return Err(ServiceError::BadInput(format!(
                "the Malet's payout account settles in {}, not {}",
                account.currency,
                order.currency.code()
            )));
        }
        let destination = account
            .provider_account_id
            .clone()
            .ok_or_else(|| ServiceError::Conflict("the Malet's payout account has no provider account".into()))?;
        if repo::ledger::by_order_select(malet, order_id.as_str()).one(&self.db).await?.is_some() {
            return Err(ServiceError::Conflict(format!("order {order_id} is already paid")));
        }
        let breakdown = self.breakdown_for(input, &order).await?;
        let kind: ProviderKind = account.provider.kind();
        let created = self
            .providers
            .get(kind)?
            .create_destination_charge(DestinationCharge {
                amount: breakdown.gross,
                currency: breakdown.currency,
                destination: destination.clone(),
                application_fee_amount: breakdown.application_fee_amount,
                metadata: metadata.to_map(),
                idempotency_key: format!("murchase-payment:{malet}:{order_id}"),
            })
            .await?;
        repo::checkouts::insert(
            &self.db,
            checkouts::ActiveModel {
                id: Set(uuid::Uuid::now_v7().to_string()),
                malet_id: Set(malet.to_owned()),
                order_id: Set(order_id.as_str().to_owned()),
                account_id: Set(account.id.clone()),
                provider: Set(kind.into()),
                provider_payment_id: Set(created.payment_id.clone()),
                provider_account_id: Set(Some(destination)),
                currency: Set(order.currency.code().to_owned()),
                gross_amount: Set(order.gross),
                subtotal: Set(order.subtotal),
                discount: Set(order.discount),
                tax: Set(order.tax),
                shipping: Set(order.shipping),
                affiliate_id: Set(input.affiliate_id.clone()),
                created_by: Set(actor.subject().unwrap_or("unknown").to_owned()),
                created_at: Set(service_core::clock::now()),
            },
        )
        .await?;
        Ok((created, breakdown))
    }

    /// Captures an order's payment once the buyer approved it (PayPal), with the permission
    /// that created it; the provider's capture webhook records the sale. A retry captures nothing
    /// twice (the key is the Malet's order).
    pub async fn capture_payment(
        &self,
        actor: &Actor,
        malet: &MaletId,
        order_id: &OrderId,
    ) -> ServiceResult<(checkouts::Model, Captured)> {
        let malet = malet.as_str();
        if actor.can(Permission::CreateMurchasePayments, malet).is_err() {
            actor.can(Permission::ManagePayouts, malet)?;
        }
        let checkout = repo::checkouts::by_order(&self.db, malet, order_id.as_str())
            .await?
            .ok_or_else(|| ServiceError::missing(actor, format!("checkout of order {order_id}")))?;
        let captured = self
            .providers
            .get(checkout.provider.kind())?
            .capture_payment(CaptureRequest {
                payment_id: checkout.provider_payment_id.clone(),
                idempotency_key: format!("murchase-capture:{malet}:{order_id}"),
            })
            .await?;
        Ok((checkout, captured))
    }
}
