use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use domain::ids::{AffiliateId, MaletId, OrderId};
use domain::permissions::Permission;
use service_core::graphql::{AdminGuard, ApiError, Authenticated, actor};
use service_core::scalars::Long;

use super::types::{
    Affiliate, ApplicationFeeRefund, AuditLogEntry, CommissionBreakdown, CommissionLedger, CommissionRule,
    EarningsSummary, FeeRefundStatus, Malet, Order, OrderInput, OutgoingMovement, OutgoingStatus, PaymentException,
    ReconciliationMismatch, StorefrontDelivery, StorefrontDeliveryStatus, StorefrontOrder, StorefrontPlatform,
    WebhookEvent, WebhookEventStatus, WebhookReceiver, page_cost, svc,
};

pub struct Query;

#[Object]
impl Query {
    /// An order across its sellers: its entries (one per Malet of a cart) and what each party
    /// holds of the whole order. Platform-wide readers (admins, the order service) see every
    /// entry; a Malet Owner sees its own.
    #[graphql(guard = "Authenticated")]
    async fn order(&self, ctx: &Context<'_>, order_id: ID) -> Result<Order, ApiError> {
        let order_id = OrderId::parse(&order_id)?;
        let entries = svc(ctx)?.order_entries(actor(ctx), &order_id).await?;
        Ok(Order { order_id: order_id.into_string(), entries })
    }

    /// A page of a Malet's storefront orders (Shopify…), newest first (limit 1–100): each with
    /// its lines, the storefront's refunds, its payment, its ledger entry and any open
    /// exception. The Malet Owner (VIEW_REVENUE) and admins.
    #[graphql(guard = "Authenticated", complexity = "page_cost(limit, child_complexity)")]
    async fn storefront_orders(
        &self,
        ctx: &Context<'_>,
        malet_id: ID,
        platform: Option<StorefrontPlatform>,
        #[graphql(default = 20)] limit: i32,
        #[graphql(default = 0)] offset: i32,
    ) -> Result<Vec<StorefrontOrder>, ApiError> {
        let malet_id = MaletId::parse(&malet_id)?;
        let views = svc(ctx)?.storefront_orders(actor(ctx), &malet_id, platform.map(Into::into), limit, offset).await?;
        Ok(views.into_iter().map(StorefrontOrder).collect())
    }

    /// Admin: storefront webhook deliveries, newest first (limit 1–100), optionally of one status
    /// (NEEDS_ATTENTION: an order whose numbers do not add up, or that names another Malet).
    #[graphql(guard = "Authenticated", complexity = "page_cost(limit, child_complexity)")]
    async fn storefront_deliveries(
        &self,
        ctx: &Context<'_>,
        status: Option<StorefrontDeliveryStatus>,
        #[graphql(default = 20)] limit: i32,
        #[graphql(default = 0)] offset: i32,
    ) -> Result<Vec<StorefrontDelivery>, ApiError> {
        let rows = svc(ctx)?.storefront_deliveries(actor(ctx), status.map(Into::into), limit, offset).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// An affiliate's earnings, held and paid amounts, lines and payouts: the affiliate itself
    /// (VIEW_REVENUE with the claim `affiliate`) or a platform admin.
    #[graphql(guard = "Authenticated")]
    async fn affiliate(&self, ctx: &Context<'_>, id: ID) -> Result<Affiliate, ApiError> {
        let id = AffiliateId::parse(&id)?;
        Ok(Affiliate(svc(ctx)?.affiliate(actor(ctx), &id).await?))
    }

    /// Earnings of a Malet in one currency (default: its account currency).
    #[graphql(guard = "Authenticated")]
    async fn earnings_summary(
        &self,
        ctx: &Context<'_>,
        malet_id: ID,
        currency: Option<String>,
    ) -> Result<EarningsSummary, ApiError> {
        let malet_id = MaletId::parse(&malet_id)?;
        Ok(EarningsSummary(svc(ctx)?.earnings_summary(actor(ctx), malet_id.as_str(), currency.as_deref()).await?))
    }

    /// A page of a Malet's ledger entries, newest first (limit 1–100). Its query cost is
    /// `limit` times the cost of one entry's selection.
    #[graphql(guard = "Authenticated", complexity = "page_cost(limit, child_complexity)")]
    async fn commission_ledger(
        &self,
        ctx: &Context<'_>,
        malet_id: ID,
        #[graphql(default = 20)] limit: i32,
        #[graphql(default = 0)] offset: i32,
        #[graphql(desc = "Keyset paging: the `cursor` of the last entry of the previous page (instead of offset).")]
        after: Option<String>,
    ) -> Result<Vec<CommissionLedger>, ApiError> {
        let malet_id = MaletId::parse(&malet_id)?;
        let rows = svc(ctx)?.ledger_page(actor(ctx), malet_id.as_str(), limit, offset, after.as_deref()).await?;
        Ok(rows.into_iter().map(CommissionLedger).collect())
    }

    /// How many ledger entries a Malet has (for paging).
    #[graphql(guard = "Authenticated")]
    async fn commission_ledger_count(&self, ctx: &Context<'_>, malet_id: ID) -> Result<Long, ApiError> {
        let malet_id = MaletId::parse(&malet_id)?;
        let n = svc(ctx)?.ledger_count(actor(ctx), malet_id.as_str()).await?;
        Long::count(n)
    }

    /// The breakdown and Stripe `application_fee_amount` an order would get; writes nothing.
    #[graphql(guard = "Authenticated")]
    async fn preview_commission(&self, ctx: &Context<'_>, input: OrderInput) -> Result<CommissionBreakdown, ApiError> {
        let input: crate::service::checkout::OrderInput = input.try_into()?;
        let malet_id = input.malet_id.to_string();
        let b = svc(ctx)?.preview(actor(ctx), &input).await?;
        Ok(CommissionBreakdown { malet_id, b })
    }

    /// Every version of a Malet's commission rule (admins).
    #[graphql(guard = "AdminGuard(Permission::ManageCommissions)")]
    async fn commission_rule_history(&self, ctx: &Context<'_>, malet_id: ID) -> Result<Vec<CommissionRule>, ApiError> {
        let malet_id = MaletId::parse(&malet_id)?;
        let rows = svc(ctx)?.rule_history(actor(ctx), malet_id.as_str()).await?;
        Ok(rows.into_iter().map(CommissionRule::from).collect())
    }

    /// Payments that need an admin (unusable metadata, unknown Malet).
    #[graphql(guard = "AdminGuard(Permission::ManageCommissions)")]
    async fn payment_exceptions(&self, ctx: &Context<'_>) -> Result<Vec<PaymentException>, ApiError> {
        let rows = svc(ctx)?.exceptions(actor(ctx)).await?;
        Ok(rows.into_iter().map(PaymentException::from).collect())
    }

    /// Application-fee refunds owed to sellers for clawbacks (admins): PENDING (not sent yet),
    /// SENT, FAILED (refused, or still failing after every retry) and UNCOLLECTED (more than the
    /// provider held of the fee), newest first, at most `limit` (1–100).
    #[graphql(guard = "AdminGuard(Permission::ManageCommissions)")]
    async fn application_fee_refunds(
        &self,
        ctx: &Context<'_>,
        status: Option<FeeRefundStatus>,
        #[graphql(default = 50)] limit: i32,
    ) -> Result<Vec<ApplicationFeeRefund>, ApiError> {
        let rows = svc(ctx)?.fee_refunds(actor(ctx), status.map(Into::into), limit).await?;
        rows.into_iter().map(ApplicationFeeRefund::try_from).collect()
    }

    /// Reconciliation (admins): the differences found between our books and the provider's
    /// records for `[from, to)` (at most 31 days), oldest first, with their resolution.
    #[graphql(guard = "AdminGuard(Permission::ManageCommissions)")]
    async fn reconciliation_report(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ReconciliationMismatch>, ApiError> {
        let rows = svc(ctx)?.reconciliation_report(actor(ctx), from, to).await?;
        Ok(rows.into_iter().map(ReconciliationMismatch::from).collect())
    }

    /// Outgoing money movements (transfers and reversals that follow adjustments and disputes),
    /// newest first (admins): optionally of one ledger entry or one status; `limit` 1–100.
    #[graphql(guard = "AdminGuard(Permission::ManageCommissions)")]
    async fn outgoing_movements(
        &self,
        ctx: &Context<'_>,
        ledger_id: Option<ID>,
        status: Option<OutgoingStatus>,
        #[graphql(default = 50)] limit: i32,
    ) -> Result<Vec<OutgoingMovement>, ApiError> {
        let rows = svc(ctx)?
            .outgoing_movements(actor(ctx), ledger_id.as_ref().map(|id| id.as_str()), status.map(Into::into), limit)
            .await?;
        rows.into_iter().map(OutgoingMovement::try_from).collect()
    }

    /// Webhook inbox events of both subgraphs, newest first (admins): filter by `status` (e.g.
    /// NEEDS_ATTENTION, FAILED) and `receiver`; `limit` 1–100.
    #[graphql(guard = "AdminGuard(Permission::ManageCommissions)", complexity = "page_cost(limit, child_complexity)")]
    async fn webhook_events(
        &self,
        ctx: &Context<'_>,
        status: Option<WebhookEventStatus>,
        receiver: Option<WebhookReceiver>,
        #[graphql(default = 50)] limit: i32,
        #[graphql(default = 0)] offset: i32,
    ) -> Result<Vec<WebhookEvent>, ApiError> {
        let rows = svc(ctx)?
            .webhook_events(actor(ctx), receiver.map(WebhookReceiver::as_str), status.map(Into::into), limit, offset)
            .await?;
        rows.into_iter().map(WebhookEvent::try_from).collect()
    }

    /// A Malet's audit log, newest first (MANAGE_COMMISSIONS on the Malet): every audited change
    /// that concerns it (commission rules and adjustments, refunds, account lifecycle, payout
    /// schedules, transfers) made in `[from, to)` (either bound may be left open; `from` before
    /// `to`), `limit` 1–100 from `offset` ≥ 0.
    #[graphql(guard = "Authenticated", complexity = "page_cost(limit, child_complexity)")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        malet_id: ID,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        #[graphql(default = 50)] limit: i32,
        #[graphql(default = 0)] offset: i32,
    ) -> Result<Vec<AuditLogEntry>, ApiError> {
        let malet_id = MaletId::parse(&malet_id)?;
        let rows = svc(ctx)?.audit_log(actor(ctx), &malet_id, from, to, limit, offset).await?;
        Ok(rows.into_iter().map(AuditLogEntry).collect())
    }

    /// Federation: a Malet reference. Its fields carry their own guards.
    // A denied representation fails the whole `_entities` batch (async-graphql propagates
    // the error to the list): safe, nothing leaks, but a router batching several Malets'
    // references for one actor gets one error. Field guards alone behave the same way.
    #[graphql(entity)]
    async fn find_malet_by_id(&self, id: ID) -> Result<Malet, ApiError> {
        Ok(Malet { id: ID(MaletId::parse(&id)?.into_string()) })
    }

    /// Federation: a ledger entry by id. async-graphql ignores guards on entity resolvers
    /// (upstream issue 1651), so the service checks access and the type's guard checks every
    /// field again.
    #[graphql(entity)]
    async fn find_commission_ledger_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Option<CommissionLedger>, ApiError> {
        Ok(svc(ctx)?.ledger_entry(actor(ctx), &id).await?.map(CommissionLedger))
    }
}
