use async_graphql::{Context, ID, Object};
use domain::ids::{AffiliateId, MaletId, OrderId, RecordId};
use domain::permissions::Permission;
use domain::rate::Rate;
use service_core::graphql::{AdminGuard, ApiError, Authenticated, actor};

use super::types::{
    Affiliate, AffiliateOnboarding, CartInput, CommissionBreakdown, CommissionLedger, CommissionOverrideInput,
    CommissionRule, MismatchResolution, MurchaseCapture, MurchasePayment, OrderInput, OrderPayment, OutgoingMovement,
    ReconciliationMismatch, ReconciliationRun, RegisterAffiliateInput, RegisterStorefrontShopInput, StorefrontBackfill,
    StorefrontDelivery, StorefrontPlatform, StorefrontShop, Tier, WebhookEvent, svc,
};

pub struct Mutation;

fn rate(text: Option<String>, field: &str) -> Result<Option<Rate>, ApiError> {
    text.map(|t| t.parse::<Rate>().map_err(|e| ApiError::BadInput(format!("{field}: {e}")))).transpose()
}

#[Object]
impl Mutation {
    /// Creates the provider payment for an order (a Stripe destination charge, a PayPal order
    /// paying the seller with the platform fee) and returns its client secret or approval URL. The order service (CREATE_MURCHASE_PAYMENTS on the Malet) may describe the
    /// commissionable base (subtotal, discount, tax, shipping, affiliate); a Malet Owner
    /// (MANAGE_PAYOUTS) may only charge an amount, all of it commissionable.
    #[graphql(guard = "Authenticated")]
    async fn create_murchase_payment(&self, ctx: &Context<'_>, input: OrderInput) -> Result<MurchasePayment, ApiError> {
        let input: crate::service::checkout::OrderInput = input.try_into()?;
        let malet_id = input.malet_id.to_string();
        let order_id = ID(input.order_id.as_ref().map(ToString::to_string).unwrap_or_default());
        let (created, b) = svc(ctx)?.create_payment(actor(ctx), &input).await?;
        Ok(MurchasePayment {
            order_id,
            payment_intent_id: created.payment_id,
            client_secret: created.client_secret,
            approval_url: created.approval_url,
            application_fee_amount: service_core::scalars::int32(b.application_fee_amount)?,
            breakdown: CommissionBreakdown { malet_id, b },
        })
    }

    /// Creates one payment for a cart whose items belong to several Malets: with Stripe one
    /// charge on the platform (separate charges and transfers, `transfer_group` = the order id),
    /// each seller's net transferred from it when it succeeds; with PayPal one order of one
    /// purchase unit per seller, each paying its seller less the platform's fee at capture.
    /// Order-level shipping, discount and the processing fee are shared by largest remainder on
    /// each seller's item subtotal, and each seller gets its own ledger entry. Every seller must
    /// be paid through the same provider. Order service only: CREATE_MURCHASE_PAYMENTS on every
    /// Malet of the cart.
    #[graphql(guard = "Authenticated")]
    async fn create_order_payment(&self, ctx: &Context<'_>, input: CartInput) -> Result<OrderPayment, ApiError> {
        let input: crate::service::checkout::CartInput = input.try_into()?;
        let made = svc(ctx)?.create_order_payment(actor(ctx), &input).await?;
        Ok(OrderPayment {
            order_id: ID(input.order_id.to_string()),
            payment_intent_id: made.created.payment_id,
            client_secret: made.created.client_secret,
            approval_url: made.created.approval_url,
            gross_amount: service_core::scalars::int32(made.gross)?,
            processing_fee_estimate: service_core::scalars::int32(made.processing_fee_estimate)?,
            parts: made
                .parts
                .into_iter()
                .map(|(malet, b)| CommissionBreakdown { malet_id: malet.to_string(), b })
                .collect(),
        })
    }

    /// Captures an order's payment after the buyer approved it at the provider (PayPal: the
    /// order `createMurchasePayment` made, approved at its `approvalUrl`). Same permissions as
    /// `createMurchasePayment`; the sale is recorded when the provider reports the capture.
    #[graphql(guard = "Authenticated")]
    async fn capture_murchase_payment(
        &self,
        ctx: &Context<'_>,
        malet_id: ID,
        order_id: ID,
    ) -> Result<MurchaseCapture, ApiError> {
        let (checkout, captured) =
            svc(ctx)?.capture_payment(actor(ctx), &MaletId::parse(&malet_id)?, &OrderId::parse(&order_id)?).await?;
        Ok(MurchaseCapture {
            order_id: ID(checkout.order_id),
            payment_intent_id: checkout.provider_payment_id,
            capture_id: captured.charge_id,
            completed: captured.completed,
        })
    }

    /// Refunds (part of) a paid order through the provider and claws back the commission
    /// proportionally. Called by the order service on cancellation (MANAGE_COMMISSIONS and
    /// VIEW_REVENUE). Retrying the same request never refunds twice.
    #[graphql(guard = "Authenticated")]
    async fn refund_murchase(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The Malet whose order it is (order ids are unique per Malet).")] malet_id: ID,
        order_id: ID,
        amount: i32,
        reason: String,
        #[graphql(desc = "Distinguishes two otherwise identical refunds; the same key never refunds twice.")]
        idempotency_key: Option<String>,
    ) -> Result<CommissionLedger, ApiError> {
        let entry = svc(ctx)?
            .refund_order(
                actor(ctx),
                &MaletId::parse(&malet_id)?,
                &OrderId::parse(&order_id)?,
                i64::from(amount),
                &reason,
                idempotency_key.as_deref(),
            )
            .await?;
        Ok(CommissionLedger(entry))
    }

    /// Admin: set a Malet's subscription tier (new orders use its rate).
    #[graphql(guard = "Authenticated")]
    async fn set_malet_tier(
        &self,
        ctx: &Context<'_>,
        malet_id: ID,
        tier: Tier,
        reason: String,
    ) -> Result<CommissionRule, ApiError> {
        let malet_id = MaletId::parse(&malet_id)?;
        Ok(svc(ctx)?.set_tier(actor(ctx), malet_id.as_str(), tier.into(), &reason).await?.into())
    }

    /// Admin: a custom commission rate and/or affiliate share for a Malet.
    #[graphql(guard = "Authenticated")]
    async fn set_commission_override(
        &self,
        ctx: &Context<'_>,
        input: CommissionOverrideInput,
    ) -> Result<CommissionRule, ApiError> {
        let commission_rate = rate(input.commission_rate, "commissionRate")?;
        let affiliate_rate = rate(input.affiliate_rate, "affiliateRate")?;
        let malet_id = MaletId::parse(&input.malet_id)?;
        let row = svc(ctx)?
            .set_override(
                actor(ctx),
                malet_id.as_str(),
                commission_rate,
                affiliate_rate,
                input.affiliate_funding.map(Into::into),
                input.clear,
                input.effective_from,
                &input.reason,
            )
            .await?;
        Ok(row.into())
    }

    /// Admin: register an affiliate as a payee with the account it is paid to (a Stripe
    /// connected account, a PayPal id, or MANUAL). Its shares are held through the refund window
    /// (`AFFILIATE_HOLD_DAYS` after each order settles), then paid once.
    #[graphql(guard = "Authenticated")]
    async fn register_affiliate(
        &self,
        ctx: &Context<'_>,
        input: RegisterAffiliateInput,
    ) -> Result<Affiliate, ApiError> {
        let service = svc(ctx)?;
        let id = AffiliateId::parse(&input.affiliate_id)?;
        let currency = domain::money::Currency::parse(&input.currency)
            .map_err(|e| ApiError::from(crate::service::ServiceError::bad_input(e)))?;
        service
            .register_affiliate(actor(ctx), &id, input.provider.into(), input.provider_account_id.as_deref(), currency)
            .await?;
        Ok(Affiliate(service.affiliate_view(actor(ctx), &id).await?))
    }

    /// Admin: register a storefront shop (Shopify, WooCommerce, TikTok Shop) as a Malet's, with
    /// where its secrets are read from. Its signed order webhooks (`POST /webhooks/shopify`,
    /// `/webhooks/woocommerce`, `/webhooks/tiktok`) then become order records; a payment naming
    /// one of its orders is recorded with the order's numbers, and a TikTok order's commission is
    /// owed by the seller (a receivable).
    #[graphql(guard = "Authenticated")]
    async fn register_storefront_shop(
        &self,
        ctx: &Context<'_>,
        input: RegisterStorefrontShopInput,
    ) -> Result<StorefrontShop, ApiError> {
        let malet = MaletId::parse(&input.malet_id)?;
        let registration = crate::service::storefronts::ShopRegistration {
            platform: input.platform.into(),
            shop: &input.shop,
            malet: &malet,
            secret_env: input.secret_env.as_deref(),
            api_key_env: input.api_key_env.as_deref(),
            api_secret_env: input.api_secret_env.as_deref(),
            affiliate_attribution: input.affiliate_attribution,
        };
        let shop = svc(ctx)?.register_storefront_shop(actor(ctx), registration).await?;
        Ok(shop.into())
    }

    /// Admin: apply a storefront delivery that needs attention again, read from its stored body
    /// (e.g. once the affiliate it names is registered). Only NEEDS_ATTENTION and
    /// SOURCE_UNAVAILABLE deliveries are replayed (CONFLICT otherwise); the result is the
    /// delivery with its new status and note.
    #[graphql(guard = "Authenticated")]
    async fn replay_storefront_delivery(&self, ctx: &Context<'_>, id: ID) -> Result<StorefrontDelivery, ApiError> {
        let id = RecordId::parse(&id)?;
        Ok(svc(ctx)?.replay_storefront_delivery(actor(ctx), id.as_str()).await?.into())
    }

    /// Admin: pull the orders a WooCommerce shop created in [`from`, `to`) (at most 31 days)
    /// through its REST API and apply each as a delivery: orders whose webhook was missed are
    /// recorded, others converge unchanged. Idempotent (a second run applies nothing). The shop
    /// needs API credentials (`apiKeyEnv`, `apiSecretEnv`).
    #[graphql(guard = "Authenticated")]
    async fn backfill_storefront_orders(
        &self,
        ctx: &Context<'_>,
        platform: StorefrontPlatform,
        shop: String,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<StorefrontBackfill, ApiError> {
        let report = svc(ctx)?.backfill_storefront_orders(actor(ctx), platform.into(), &shop, from, to).await?;
        Ok(report.into())
    }

    /// The affiliate itself (MANAGE_PAYOUTS with the claim `affiliate`) or an admin: start (or
    /// resume) the affiliate's Stripe onboarding. Returns the affiliate, ONBOARDING, and the link
    /// to send it to; Stripe's `account.updated` with charges and payouts enabled makes it ACTIVE.
    #[graphql(guard = "Authenticated")]
    async fn start_affiliate_onboarding(
        &self,
        ctx: &Context<'_>,
        affiliate_id: ID,
        #[graphql(default_with = "String::from(\"USD\")")] currency: String,
    ) -> Result<AffiliateOnboarding, ApiError> {
        let service = svc(ctx)?;
        let id = AffiliateId::parse(&affiliate_id)?;
        let currency = domain::money::Currency::parse(&currency)
            .map_err(|e| ApiError::from(crate::service::ServiceError::bad_input(e)))?;
        let (_, link) = service.start_affiliate_onboarding(actor(ctx), &id, currency).await?;
        let affiliate = Affiliate(service.affiliate_view(actor(ctx), &id).await?);
        Ok(AffiliateOnboarding { affiliate, onboarding_url: link.url })
    }

    /// Admin: send again a seller's net transfer from a multi-seller charge that the provider
    /// refused, after fixing its cause (a new movement of the same amount under a new key).
    /// Refused when something was taken back from the refused transfer meanwhile.
    #[graphql(guard = "Authenticated")]
    async fn retry_outgoing_movement(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
    ) -> Result<OutgoingMovement, ApiError> {
        let id = RecordId::parse(&id)?;
        svc(ctx)?.retry_outgoing_movement(actor(ctx), id.as_str(), &reason).await?.try_into()
    }

    /// Admin: record a payout made by hand to a MANUAL affiliate, once per `reference`, at most
    /// its due balance.
    #[graphql(guard = "Authenticated")]
    async fn record_affiliate_payout(
        &self,
        ctx: &Context<'_>,
        affiliate_id: ID,
        amount: i32,
        reference: String,
    ) -> Result<Affiliate, ApiError> {
        let service = svc(ctx)?;
        let id = AffiliateId::parse(&affiliate_id)?;
        service.record_affiliate_payout(actor(ctx), &id, i64::from(amount), &reference).await?;
        Ok(Affiliate(service.affiliate_view(actor(ctx), &id).await?))
    }

    /// Admin: move `amount` minor units from the seller's net to the commission (negative:
    /// back to the seller) on one entry.
    #[graphql(guard = "Authenticated")]
    async fn adjust_commission(
        &self,
        ctx: &Context<'_>,
        ledger_id: ID,
        amount: i32,
        reason: String,
    ) -> Result<CommissionLedger, ApiError> {
        Ok(CommissionLedger(svc(ctx)?.adjust_commission(actor(ctx), &ledger_id, i64::from(amount), &reason).await?))
    }

    /// Admin: compare the books with the provider for `[from, to)` now (the job does it hourly
    /// and after each `payout.paid`). Idempotent: a second run finds the same mismatches.
    #[graphql(guard = "Authenticated")]
    async fn run_reconciliation(
        &self,
        ctx: &Context<'_>,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<ReconciliationRun, ApiError> {
        let report = svc(ctx)?.run_reconciliation(actor(ctx), from, to).await?;
        let int = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(ReconciliationRun {
            compared: int(report.compared),
            found: int(report.found),
            new: int(report.new),
            cleared: int(report.cleared),
        })
    }

    /// Admin: resolve a reconciliation mismatch as ACKNOWLEDGED (known and accepted) or FIXED,
    /// with the reason (audited).
    #[graphql(guard = "Authenticated")]
    async fn resolve_reconciliation_mismatch(
        &self,
        ctx: &Context<'_>,
        id: ID,
        state: MismatchResolution,
        reason: String,
    ) -> Result<ReconciliationMismatch, ApiError> {
        let row = svc(ctx)?.resolve_mismatch(actor(ctx), &id, state.into(), &reason).await?;
        Ok(ReconciliationMismatch::from(row))
    }

    /// Admin: apply a stored webhook event again after fixing its cause (e.g. registering the
    /// destination account of a NEEDS_ATTENTION payment), with the reason audited. Applying is
    /// idempotent: an event already applied is returned unchanged, and a payment is never
    /// recorded twice. Returns the event afterwards (PROCESSED, or still NEEDS_ATTENTION /
    /// FAILED with why).
    #[graphql(guard = "AdminGuard(Permission::ManageCommissions)")]
    async fn replay_webhook_event(&self, ctx: &Context<'_>, id: ID, reason: String) -> Result<WebhookEvent, ApiError> {
        let id = RecordId::parse(&id)?;
        svc(ctx)?.replay_webhook_event(actor(ctx), &id, &reason).await?.try_into()
    }
}
