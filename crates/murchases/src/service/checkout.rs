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
use domain::orders::{Cart, CartItem};
use domain::permissions::{AccessDenied, Actor, Permission};
use domain::provider::PlatformCharge;
use domain::provider::{CaptureRequest, Captured, ChargeCreated, DestinationCharge, ProviderKind};
use entity::checkouts;
use entity::enums::Funding;
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

/// A multi-seller cart as the order service sends it.
#[derive(Debug, Clone)]
pub struct CartInput {
    pub order_id: OrderId,
    pub currency: String,
    pub items: Vec<CartItem>,
    pub shipping: i64,
    pub discount: i64,
    pub platform: Option<String>,
}

/// What `createOrderPayment` made: the charge, and each seller's breakdown (by Malet).
#[derive(Debug, Clone)]
pub struct OrderPayment {
    pub created: ChargeCreated,
    pub gross: i64,
    pub processing_fee_estimate: i64,
    pub parts: Vec<(MaletId, Breakdown)>,
}

struct OrderPart {
    malet_id: MaletId,
    account: entity::connected_accounts::Model,
    destination: String,
    amounts: OrderAmounts,
    fee: i64,
    breakdown: Breakdown,
}

impl Murchases {
    /// The breakdown an order would get now (R-COMM, R-PAY-3); writes nothing.
    pub async fn preview(&self, actor: &Actor, input: &OrderInput) -> ServiceResult<Breakdown> {
        actor.can(Permission::ViewRevenue, input.malet_id.as_str())?;
        self.breakdown_for(input, &input.amounts()?).await
    }

    async fn breakdown_for(&self, input: &OrderInput, order: &OrderAmounts) -> ServiceResult<Breakdown> {
        self.breakdown_of(&input.malet_id, order, None).await
    }

    /// The breakdown of one seller's order (or part of one) under its rule now; `fee_estimate`
    /// is its share of a multi-seller order's processing fee.
    async fn breakdown_of(
        &self,
        malet: &MaletId,
        order: &OrderAmounts,
        fee_estimate: Option<i64>,
    ) -> ServiceResult<Breakdown> {
        let malet = malet.as_str();
        let now = service_core::clock::now();
        let effective = self.effective_rule(&self.db, malet, now).await?;
        let first_sale = repo::rules::settings(&self.db, malet).await?.and_then(|s| s.first_sale_at);
        let reserve = self.reserve_rate(&self.db, malet, effective.rule.tier, first_sale, now).await?;
        let b = commission::compute_with_fee(order, &effective.rule, reserve, Some(effective.version), fee_estimate)
            .map_err(ServiceError::bad_input)?;
        self.config.limits.check(&b)?;
        Ok(b)
    }

    /// The active payout account of a Malet that can be paid in `currency`.
    async fn payable_account(
        &self,
        malet: &str,
        currency: domain::money::Currency,
    ) -> ServiceResult<(entity::connected_accounts::Model, String)> {
        let account = repo::accounts::live_account(&self.db, malet)
            .await?
            .ok_or_else(|| ServiceError::Conflict(format!("Malet {malet} has no payout account")))?;
        if account.status.domain() != AccountStatus::Active {
            return Err(ServiceError::Conflict(format!(
                "Malet {malet}'s payout account is {}, not ACTIVE",
                account.status
            )));
        }
        if !account.currency.eq_ignore_ascii_case(currency.code()) {
            return Err(ServiceError::BadInput(format!(
                "Malet {malet}'s payout account settles in {}, not {}",
                account.currency,
                currency.code()
            )));
        }
        let destination = account
            .provider_account_id
            .clone()
            .ok_or_else(|| ServiceError::Conflict(format!("Malet {malet}'s payout account has no provider account")))?;
        Ok((account, destination))
    }

    /// `createOrderPayment` (issue 13): one charge on the platform for a cart whose items belong
    /// to several Malets (Stripe's separate charges and transfers, `transfer_group` = the order
    /// id). Each seller's part is computed now (order-level amounts and the processing fee
    /// allocated by largest remainder on item subtotals) and stored; when the charge succeeds,
    /// each part becomes that seller's ledger entry and its net is transferred from the charge.
    /// Only the order service (CREATE_MURCHASE_PAYMENTS on every Malet of the cart) may call it.
    pub async fn create_order_payment(&self, actor: &Actor, input: &CartInput) -> ServiceResult<OrderPayment> {
        let mut malets: Vec<&MaletId> = input.items.iter().map(|i| &i.malet_id).collect();
        malets.sort();
        malets.dedup();
        for malet in &malets {
            actor.can(Permission::CreateMurchasePayments, malet.as_str())?;
        }
        let currency = Currency::parse(&input.currency).map_err(ServiceError::bad_input)?;
        let cart = Cart { currency, items: input.items.clone(), shipping: input.shipping, discount: input.discount };
        let gross = cart.gross().map_err(ServiceError::bad_input)?;
        self.config.limits.positive("gross", gross)?;
        let fee = self.config.processing_fee.estimate(gross).map_err(ServiceError::bad_input)?;
        let split = cart.split(fee).map_err(ServiceError::bad_input)?;
        let order_id = input.order_id.as_str();
        let mut parts = Vec::with_capacity(split.len());
        let mut provider_kind = None;
        for part in split {
            let malet = part.malet_id.as_str();
            let (account, destination) = self.payable_account(malet, currency).await?;
            let kind: ProviderKind = account.provider.kind();
            if provider_kind.is_some_and(|k| k != kind) {
                return Err(ServiceError::BadInput(
                    "every seller of one charge must be paid through the same provider".into(),
                ));
            }
            provider_kind = Some(kind);
            if repo::ledger::by_order_select(malet, order_id).one(&self.db).await?.is_some() {
                return Err(ServiceError::Conflict(format!("order {order_id} is already paid for Malet {malet}")));
            }
            let breakdown =
                self.breakdown_of(&part.malet_id, &part.amounts, Some(part.processing_fee_estimate)).await?;
            parts.push(OrderPart {
                malet_id: part.malet_id,
                account,
                destination,
                amounts: part.amounts,
                fee: part.processing_fee_estimate,
                breakdown,
            });
        }
        let kind = provider_kind.ok_or_else(|| ServiceError::BadInput("a cart needs at least one item".into()))?;
        let metadata = PaymentMetadata {
            order_id: order_id.to_owned(),
            malet_id: None,
            subtotal: None,
            tax: 0,
            shipping: 0,
            discount: 0,
            affiliate_id: None,
            platform: input.platform.clone().or_else(|| Some("mallnline".into())),
        };
        let metadata = PaymentMetadata::parse(&metadata.to_map()).map_err(ServiceError::bad_input)?;
        let sellers: Vec<&str> = parts.iter().map(|p| p.malet_id.as_str()).collect();
        // The key names the order and its sellers: a retry never charges twice, and another cart
        // under the same order id is refused by the provider instead of answered with this one.
        let key = format!("order-payment:{order_id}:{}", service_core::clock::short_hash(&sellers.join(",")));
        let api = self.providers.get(kind)?;
        // A provider that transfers is paid on the platform and transfers each net (Stripe); one
        // that pays sellers at capture (PayPal) pays each seller its part, less its fee, directly.
        let separate = api.moves(domain::provider::OutgoingKind::Transfer);
        let created = api
            .create_platform_charge(PlatformCharge {
                amount: gross,
                currency,
                transfer_group: order_id.to_owned(),
                parts: parts
                    .iter()
                    .map(|p| domain::provider::ChargePart {
                        malet_id: p.malet_id.as_str().to_owned(),
                        destination: p.destination.clone(),
                        amount: p.amounts.gross,
                        platform_fee: p.breakdown.application_fee_amount,
                    })
                    .collect(),
                metadata: metadata.to_map(),
                idempotency_key: key,
            })
            .await?;
        let txn = service_core::db::begin_write(&self.db).await?;
        for p in &parts {
            repo::checkouts::insert(
                &*txn,
                checkouts::ActiveModel {
                    id: Set(uuid::Uuid::now_v7().to_string()),
                    malet_id: Set(p.malet_id.as_str().to_owned()),
                    order_id: Set(order_id.to_owned()),
                    account_id: Set(p.account.id.clone()),
                    provider: Set(kind.into()),
                    provider_payment_id: Set(created.payment_id.clone()),
                    provider_account_id: Set(Some(p.destination.clone())),
                    currency: Set(currency.code().to_owned()),
                    gross_amount: Set(p.amounts.gross),
                    subtotal: Set(p.amounts.subtotal),
                    discount: Set(p.amounts.discount),
                    tax: Set(p.amounts.tax),
                    shipping: Set(p.amounts.shipping),
                    affiliate_id: Set(None),
                    funding: Set(if separate { Funding::SeparateTransfer } else { Funding::DestinationCharge }),
                    transfer_group: Set(separate.then(|| order_id.to_owned())),
                    processing_fee_estimate: Set(Some(p.fee)),
                    created_by: Set(actor.subject().unwrap_or("unknown").to_owned()),
                    created_at: Set(service_core::clock::now()),
                },
            )
            .await?;
        }
        txn.commit().await?;
        Ok(OrderPayment {
            created,
            gross,
            processing_fee_estimate: fee,
            parts: parts.into_iter().map(|p| (p.malet_id, p.breakdown)).collect(),
        })
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
        let (account, destination) = self.payable_account(malet, order.currency).await?;
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
                funding: Set(Funding::DestinationCharge),
                transfer_group: Set(None),
                processing_fee_estimate: Set(None),
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
