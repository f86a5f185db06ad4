//! GraphQL types of murchases, mapped from service values (never derived on entities).

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use domain::commission::{Breakdown, Trace};
use domain::ids::{MaletId, OrderId};
use domain::permissions::Permission;
use service_core::graphql::{ApiError, MaletGuard, actor};
use service_core::scalars::{DisplayFloat, Long, display_float, int32};

use crate::service::Murchases;
use crate::service::ledger::EarningsSummary as SummaryValue;

/// The query cost of a page: `limit` rows of the child selection (R-TRUST-5), plus the field.
pub(crate) fn page_cost(limit: i32, child_complexity: usize) -> usize {
    usize::try_from(limit.max(1)).unwrap_or(1).saturating_mul(child_complexity).saturating_add(1)
}

pub(crate) fn svc<'a>(ctx: &'a Context<'_>) -> Result<&'a Murchases, ApiError> {
    ctx.data::<Murchases>().map_err(|_| ApiError::internal("murchases service missing from schema data"))
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum LedgerStatus {
    Pending,
    Settled,
    PartiallyRefunded,
    Refunded,
}

impl LedgerStatus {
    fn from_stored(s: entity::enums::LedgerStatus) -> Result<Self, ApiError> {
        match s.domain() {
            domain::lifecycle::LedgerStatus::Pending => Ok(LedgerStatus::Pending),
            domain::lifecycle::LedgerStatus::Settled => Ok(LedgerStatus::Settled),
            domain::lifecycle::LedgerStatus::PartiallyRefunded => Ok(LedgerStatus::PartiallyRefunded),
            domain::lifecycle::LedgerStatus::Refunded => Ok(LedgerStatus::Refunded),
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Tier {
    Starter,
    Pro,
    Enterprise,
}

impl From<Tier> for domain::commission::Tier {
    fn from(value: Tier) -> Self {
        match value {
            Tier::Starter => domain::commission::Tier::Starter,
            Tier::Pro => domain::commission::Tier::Pro,
            Tier::Enterprise => domain::commission::Tier::Enterprise,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AffiliateFunding {
    Platform,
    Seller,
}

impl From<AffiliateFunding> for domain::commission::AffiliateFunding {
    fn from(value: AffiliateFunding) -> Self {
        match value {
            AffiliateFunding::Platform => domain::commission::AffiliateFunding::Platform,
            AffiliateFunding::Seller => domain::commission::AffiliateFunding::Seller,
        }
    }
}

/// How a ledger entry's seller is paid.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Funding {
    /// The charge paid the seller's account; the platform kept an application fee.
    DestinationCharge,
    /// The platform was paid (one charge for several sellers) and transferred the seller's net.
    SeparateTransfer,
}

/// Who a part of an entry belongs to.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PartyRole {
    /// The platform's commission.
    Platform,
    /// The provider's processing fee the seller bears.
    ProcessingFee,
    /// Held back from the seller until its release.
    Reserve,
    Affiliate,
    /// What the seller keeps (its net, less what lost disputes took).
    Seller,
    /// What lost disputes took from the seller.
    Dispute,
    /// Refunded to the buyer.
    Buyer,
}

/// Who holds what of an entry now; the amounts sum to its gross (R-MONEY-2 per party). The
/// platform and the seller are always listed, the others when not zero.
fn party_lines(e: &entity::commission_ledger::Model) -> Result<Vec<(PartyRole, Option<String>, i64)>, ApiError> {
    let seller =
        e.net_payout.checked_sub(e.dispute_debit).ok_or_else(|| ApiError::internal("seller part overflows"))?;
    let lines = [
        (PartyRole::Platform, None, e.commission_amount),
        (PartyRole::ProcessingFee, None, e.processing_fee),
        (PartyRole::Reserve, Some(e.malet_id.clone()), e.reserve_amount),
        (PartyRole::Affiliate, e.affiliate_id.clone(), e.affiliate_amount),
        (PartyRole::Seller, Some(e.malet_id.clone()), seller),
        (PartyRole::Dispute, None, e.dispute_debit),
        (PartyRole::Buyer, None, e.refunded_amount),
    ];
    Ok(lines
        .into_iter()
        .filter(|(role, _, amount)| *amount != 0 || matches!(role, PartyRole::Platform | PartyRole::Seller))
        .collect())
}

/// An order across its sellers (item 3 of issue 13): its entries (one per Malet of a cart) and,
/// per currency, what each party holds of the whole order. The parties of an order sum to its
/// gross exactly, as each entry's do (R-MONEY-2, R-COMM-7).
pub struct Order {
    pub order_id: String,
    pub entries: Vec<entity::commission_ledger::Model>,
}

#[Object]
impl Order {
    async fn order_id(&self) -> ID {
        ID(self.order_id.clone())
    }
    /// The provider payments of its entries (one for a cart; several only if unrelated orders of
    /// different Malets share the id).
    async fn payment_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.entries.iter().map(|e| e.provider_payment_id.clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    }
    /// Per currency: the order's gross and each party's part of it.
    async fn totals(&self) -> Result<Vec<OrderTotal>, ApiError> {
        let mut totals: Vec<OrderTotal> = Vec::new();
        for e in &self.entries {
            let at = match totals.iter().position(|t| t.currency == e.currency) {
                Some(i) => i,
                None => {
                    totals.push(OrderTotal { currency: e.currency.clone(), gross: 0, parties: Vec::new() });
                    totals.len() - 1
                }
            };
            let total = &mut totals[at];
            total.gross =
                total.gross.checked_add(e.gross_amount).ok_or_else(|| ApiError::internal("order gross overflows"))?;
            for (role, id, amount) in party_lines(e)? {
                match total.parties.iter_mut().find(|p| p.role == role && p.id == id) {
                    Some(p) => {
                        p.amount = p.amount.checked_add(amount).ok_or_else(|| ApiError::internal("party overflows"))?;
                        if !p.rule_versions.contains(&e.rule_version) {
                            p.rule_versions.push(e.rule_version);
                        }
                    }
                    None => {
                        total.parties.push(OrderPartyTotal { role, id, amount, rule_versions: vec![e.rule_version] })
                    }
                }
            }
        }
        Ok(totals)
    }
    /// The entries the caller may read, by Malet.
    async fn entries(&self) -> Vec<CommissionLedger> {
        self.entries.iter().cloned().map(CommissionLedger).collect()
    }
}

/// An order's figures in one currency.
pub struct OrderTotal {
    currency: String,
    gross: i64,
    parties: Vec<OrderPartyTotal>,
}

#[Object]
impl OrderTotal {
    async fn currency(&self) -> &str {
        &self.currency
    }
    async fn gross_amount(&self) -> Result<Long, ApiError> {
        Long::new(self.gross)
    }
    /// Each party's part of the order (summed over its entries); they sum to `grossAmount`.
    async fn parties(&self) -> Result<Vec<OrderParty>, ApiError> {
        self.parties
            .iter()
            .map(|p| {
                Ok(OrderParty {
                    role: p.role,
                    id: p.id.clone().map(ID),
                    amount: Long::new(p.amount)?,
                    rule_versions: p.rule_versions.clone(),
                })
            })
            .collect()
    }
}

struct OrderPartyTotal {
    role: PartyRole,
    id: Option<String>,
    amount: i64,
    rule_versions: Vec<i64>,
}

/// One party's part of an order, and the rule versions (of each seller's entry) it came from.
#[derive(SimpleObject)]
pub struct OrderParty {
    pub role: PartyRole,
    /// The Malet (seller, reserve) or the affiliate.
    pub id: Option<ID>,
    pub amount: Long,
    pub rule_versions: Vec<i64>,
}

/// One party's part of a ledger entry, and the rule version it came from.
#[derive(SimpleObject, Clone, Debug)]
pub struct EntryParty {
    pub role: PartyRole,
    /// The Malet (seller, reserve) or the affiliate.
    pub id: Option<ID>,
    pub amount: i32,
    pub rule_version: i64,
}

/// One line of a multi-seller cart.
#[derive(InputObject, Clone, Debug)]
pub struct CartItemInput {
    pub malet_id: ID,
    /// The line's subtotal (price × quantity), minor units.
    pub amount: i32,
    /// A discount on this line only.
    #[graphql(default = 0)]
    pub discount: i32,
    /// Tax charged on this line.
    #[graphql(default = 0)]
    pub tax: i32,
}

/// A cart whose items belong to one or more Malets, paid as one charge.
#[derive(InputObject, Clone, Debug)]
pub struct CartInput {
    pub order_id: ID,
    #[graphql(default = "USD")]
    pub currency: String,
    pub items: Vec<CartItemInput>,
    /// Order-level shipping, allocated across the sellers on their item subtotals.
    #[graphql(default = 0)]
    pub shipping: i32,
    /// Order-level discount (a coupon), allocated across the sellers.
    #[graphql(default = 0)]
    pub discount: i32,
    pub platform: Option<String>,
}

impl TryFrom<CartInput> for crate::service::checkout::CartInput {
    type Error = ApiError;

    fn try_from(i: CartInput) -> Result<Self, ApiError> {
        if i.items.is_empty() || i.items.len() > 100 {
            return Err(ApiError::BadInput("a cart has 1 to 100 items".into()));
        }
        Ok(crate::service::checkout::CartInput {
            order_id: OrderId::parse(&i.order_id)?,
            currency: i.currency,
            items: i
                .items
                .into_iter()
                .map(|item| {
                    Ok(domain::orders::CartItem {
                        malet_id: MaletId::parse(&item.malet_id)?,
                        amount: i64::from(item.amount),
                        discount: i64::from(item.discount),
                        tax: i64::from(item.tax),
                    })
                })
                .collect::<Result<_, ApiError>>()?,
            shipping: i64::from(i.shipping),
            discount: i64::from(i.discount),
            platform: i.platform,
        })
    }
}

/// The charge of a multi-seller order and each seller's part of it.
#[derive(SimpleObject)]
pub struct OrderPayment {
    pub order_id: ID,
    pub payment_intent_id: String,
    /// Stripe: what the buyer's browser confirms the charge with.
    pub client_secret: Option<String>,
    /// PayPal: where the buyer approves the order (then `captureMurchasePayment` with any of its
    /// sellers captures every seller's unit).
    pub approval_url: Option<String>,
    pub gross_amount: i32,
    /// The provider's fee on the whole charge, shared across the sellers.
    pub processing_fee_estimate: i32,
    /// One breakdown per seller (by Malet id); their gross amounts sum to the charge.
    pub parts: Vec<CommissionBreakdown>,
}

/// How an amount was computed: rule, inputs and steps.
#[derive(SimpleObject, Clone, Debug)]
pub struct CommissionTrace {
    pub config_version: i64,
    pub rule_version: Option<i64>,
    pub tier: String,
    pub rounding: String,
    /// `name=value` pairs of every input.
    pub inputs: Vec<String>,
    pub steps: Vec<String>,
}

impl From<Trace> for CommissionTrace {
    fn from(t: Trace) -> Self {
        CommissionTrace {
            config_version: t.config_version,
            rule_version: t.rule_version,
            tier: t.tier,
            rounding: t.rounding,
            inputs: t.inputs.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
            steps: t.steps,
        }
    }
}

/// One ledger entry (a paid Murchase).
pub struct CommissionLedger(pub entity::commission_ledger::Model);

#[Object(guard = "MaletGuard::new(Permission::ViewRevenue, &self.0.malet_id)")]
impl CommissionLedger {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn order_id(&self) -> ID {
        ID(self.0.order_id.clone())
    }
    async fn malet_id(&self) -> ID {
        ID(self.0.malet_id.clone())
    }
    async fn malet(&self) -> Malet {
        Malet { id: ID(self.0.malet_id.clone()) }
    }
    async fn gross_amount(&self) -> Result<i32, ApiError> {
        int32(self.0.gross_amount)
    }
    /// The rate as a GraphQL Float, produced from the exact decimal (see `commissionRateDecimal`).
    async fn commission_rate(&self) -> Result<DisplayFloat, ApiError> {
        let rate: rust_decimal::Decimal = self.0.commission_rate.parse().map_err(ApiError::internal)?;
        display_float(rate)
    }
    /// The exact rate as a decimal string, e.g. "0.08".
    async fn commission_rate_decimal(&self) -> &str {
        &self.0.commission_rate
    }
    async fn commission_amount(&self) -> Result<i32, ApiError> {
        int32(self.0.commission_amount)
    }
    async fn processing_fee(&self) -> Result<i32, ApiError> {
        int32(self.0.processing_fee)
    }
    async fn net_payout(&self) -> Result<i32, ApiError> {
        int32(self.0.net_payout)
    }
    async fn reserve_amount(&self) -> Result<i32, ApiError> {
        int32(self.0.reserve_amount)
    }
    async fn affiliate_amount(&self) -> Result<i32, ApiError> {
        int32(self.0.affiliate_amount)
    }
    async fn affiliate_id(&self) -> Option<ID> {
        self.0.affiliate_id.clone().map(ID)
    }
    /// Stripe `application_fee_amount` charged with the payment.
    async fn application_fee_amount(&self) -> Result<i32, ApiError> {
        int32(self.0.application_fee_amount)
    }
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    async fn status(&self) -> Result<LedgerStatus, ApiError> {
        LedgerStatus::from_stored(self.0.status)
    }
    async fn refunded_amount(&self) -> Result<Option<i32>, ApiError> {
        int32(self.0.refunded_amount).map(Some)
    }
    async fn refunded_commission(&self) -> Result<Option<i32>, ApiError> {
        int32(self.0.refunded_commission).map(Some)
    }
    async fn settlement_date(&self) -> Option<DateTime<Utc>> {
        self.0.settlement_date
    }
    async fn disputed(&self) -> bool {
        self.0.disputed
    }
    /// How the seller's money reaches it: by the charge itself, or by a transfer of its net
    /// from a multi-seller charge.
    async fn funding(&self) -> Funding {
        match self.0.funding {
            entity::enums::Funding::DestinationCharge => Funding::DestinationCharge,
            entity::enums::Funding::SeparateTransfer => Funding::SeparateTransfer,
        }
    }
    /// The multi-seller order the charge and its transfers are grouped under.
    async fn transfer_group(&self) -> Option<&str> {
        self.0.transfer_group.as_deref()
    }
    /// Who holds what of this entry now (R-MONEY-2 per party): the platform's commission, the
    /// processing fee, the reserve held for the seller, the affiliate's share, the seller's net,
    /// what lost disputes took, and what was refunded to the buyer; they sum to the gross.
    async fn parties(&self) -> Result<Vec<EntryParty>, ApiError> {
        let e = &self.0;
        party_lines(e)?
            .into_iter()
            .map(|(role, id, amount)| {
                Ok(EntryParty { role, id: id.map(ID), amount: int32(amount)?, rule_version: e.rule_version })
            })
            .collect()
    }
    /// The commission rule version the entry was computed with (0: configuration defaults).
    async fn rule_version(&self) -> i64 {
        self.0.rule_version
    }
    /// The computation trace stored with the entry.
    async fn breakdown(&self) -> Result<CommissionTrace, ApiError> {
        let trace: Trace = serde_json::from_str(&self.0.breakdown).map_err(ApiError::internal)?;
        Ok(trace.into())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Where this entry stands in its Malet's ledger: pass it as `after` for the next page.
    async fn cursor(&self) -> String {
        crate::service::ledger::LedgerCursor::of(&self.0)
    }
}

/// Earnings of one Malet in one currency. Totals are `Long` (they can exceed 32 bits).
pub struct EarningsSummary(pub SummaryValue);

#[Object(guard = "MaletGuard::new(Permission::ViewPayouts, &self.0.malet_id)")]
impl EarningsSummary {
    async fn malet_id(&self) -> ID {
        ID(self.0.malet_id.clone())
    }
    async fn currency(&self) -> &str {
        self.0.currency.code()
    }
    /// Gross sales net of refunds.
    async fn total_gross(&self) -> Result<Long, ApiError> {
        Long::new(self.0.total_gross)
    }
    async fn total_commission(&self) -> Result<Long, ApiError> {
        Long::new(self.0.total_commission)
    }
    async fn total_net_payouts(&self) -> Result<Long, ApiError> {
        Long::new(self.0.total_net_payouts)
    }
    async fn pending_balance(&self) -> Result<Long, ApiError> {
        Long::new(self.0.pending_balance)
    }
    async fn reserve_balance(&self) -> Result<Long, ApiError> {
        Long::new(self.0.reserve_balance)
    }
}

/// A Malet (shop), owned by another subgraph; murchases adds its earnings and ledger.
pub struct Malet {
    pub id: ID,
}

#[Object]
impl Malet {
    async fn id(&self) -> &ID {
        &self.id
    }
    #[graphql(guard = "MaletGuard::new(Permission::ViewPayouts, &self.id)")]
    async fn earnings_summary(&self, ctx: &Context<'_>, currency: Option<String>) -> Result<EarningsSummary, ApiError> {
        Ok(EarningsSummary(svc(ctx)?.earnings_summary(actor(ctx), &self.id, currency.as_deref()).await?))
    }
    #[graphql(
        guard = "MaletGuard::new(Permission::ViewRevenue, &self.id)",
        complexity = "page_cost(limit, child_complexity)"
    )]
    async fn commission_ledger(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] limit: i32,
        #[graphql(default = 0)] offset: i32,
        #[graphql(desc = "Keyset paging: the `cursor` of the last entry of the previous page (instead of offset).")]
        after: Option<String>,
    ) -> Result<Vec<CommissionLedger>, ApiError> {
        let rows = svc(ctx)?.ledger_page(actor(ctx), &self.id, limit, offset, after.as_deref()).await?;
        Ok(rows.into_iter().map(CommissionLedger).collect())
    }
    #[graphql(guard = "MaletGuard::new(Permission::ViewRevenue, &self.id)")]
    async fn commission_ledger_count(&self, ctx: &Context<'_>) -> Result<Long, ApiError> {
        let n = svc(ctx)?.ledger_count(actor(ctx), &self.id).await?;
        Long::count(n)
    }
}

/// The full breakdown of an order that is not yet paid.
pub struct CommissionBreakdown {
    pub malet_id: String,
    pub b: Breakdown,
}

#[Object(guard = "MaletGuard::new(Permission::ViewRevenue, &self.malet_id)")]
impl CommissionBreakdown {
    /// The Malet this breakdown is for.
    async fn malet_id(&self) -> ID {
        ID(self.malet_id.clone())
    }
    async fn currency(&self) -> &str {
        self.b.currency.code()
    }
    async fn gross_amount(&self) -> Result<i32, ApiError> {
        int32(self.b.gross)
    }
    async fn commissionable_base(&self) -> Result<i32, ApiError> {
        int32(self.b.commissionable_base)
    }
    async fn commission_rate(&self) -> Result<DisplayFloat, ApiError> {
        display_float(self.b.commission_rate.value())
    }
    async fn commission_rate_decimal(&self) -> String {
        self.b.commission_rate.to_string()
    }
    async fn commission_amount(&self) -> Result<i32, ApiError> {
        int32(self.b.commission)
    }
    async fn affiliate_amount(&self) -> Result<i32, ApiError> {
        int32(self.b.affiliate)
    }
    async fn processing_fee(&self) -> Result<i32, ApiError> {
        int32(self.b.processing_fee)
    }
    async fn platform_absorbed_fee(&self) -> Result<i32, ApiError> {
        int32(self.b.platform_absorbed_fee)
    }
    async fn reserve_amount(&self) -> Result<i32, ApiError> {
        int32(self.b.reserve)
    }
    async fn net_payout(&self) -> Result<i32, ApiError> {
        int32(self.b.net)
    }
    /// Exactly what is sent to Stripe as `application_fee_amount`.
    async fn application_fee_amount(&self) -> Result<i32, ApiError> {
        int32(self.b.application_fee_amount)
    }
    async fn trace(&self) -> CommissionTrace {
        self.b.trace.clone().into()
    }
}

/// An order to preview or to charge. Amounts are minor units of `currency`.
#[derive(InputObject, Clone, Debug)]
pub struct OrderInput {
    /// Required for `createMurchasePayment`; ignored by `previewCommission`.
    pub order_id: Option<ID>,
    pub malet_id: ID,
    #[graphql(default = "USD")]
    pub currency: String,
    /// What the buyer is charged, tax and shipping included.
    pub gross_amount: i32,
    /// Items subtotal before discounts; defaults to gross − tax − shipping + discount.
    pub subtotal: Option<i32>,
    #[graphql(default = 0)]
    pub discount: i32,
    #[graphql(default = 0)]
    pub tax: i32,
    #[graphql(default = 0)]
    pub shipping: i32,
    pub affiliate_id: Option<ID>,
    pub platform: Option<String>,
}

impl TryFrom<OrderInput> for crate::service::checkout::OrderInput {
    type Error = ApiError;

    /// Ids are parsed once here (R-TRUST-3): what is checked is what is written.
    fn try_from(i: OrderInput) -> Result<Self, ApiError> {
        Ok(crate::service::checkout::OrderInput {
            order_id: i.order_id.map(|o| OrderId::parse(&o)).transpose()?,
            malet_id: MaletId::parse(&i.malet_id)?,
            currency: i.currency,
            gross_amount: i64::from(i.gross_amount),
            subtotal: i.subtotal.map(i64::from),
            discount: i64::from(i.discount),
            tax: i64::from(i.tax),
            shipping: i64::from(i.shipping),
            affiliate_id: i.affiliate_id.map(|a| a.0),
            platform: i.platform,
        })
    }
}

/// A created provider payment for checkout.
#[derive(SimpleObject)]
pub struct MurchasePayment {
    pub order_id: ID,
    /// The provider's payment: a Stripe PaymentIntent, a PayPal order.
    pub payment_intent_id: String,
    /// Stripe: what the buyer's browser confirms the PaymentIntent with.
    pub client_secret: Option<String>,
    /// PayPal: where the buyer approves the order.
    pub approval_url: Option<String>,
    pub application_fee_amount: i32,
    pub breakdown: CommissionBreakdown,
}

/// A captured provider payment.
#[derive(SimpleObject)]
pub struct MurchaseCapture {
    pub order_id: ID,
    /// The provider's payment (the PayPal order).
    pub payment_intent_id: String,
    /// The provider's capture of it.
    pub capture_id: String,
    /// Captured now; otherwise the provider holds it pending and reports the outcome.
    pub completed: bool,
}

/// One version of a Malet's commission rule.
#[derive(SimpleObject)]
pub struct CommissionRule {
    pub malet_id: ID,
    pub version: i64,
    pub tier: String,
    pub commission_rate: Option<String>,
    pub affiliate_rate: Option<String>,
    pub affiliate_funding: Option<String>,
    pub effective_from: DateTime<Utc>,
    pub created_by: String,
    pub reason: String,
}

impl From<entity::commission_rules::Model> for CommissionRule {
    fn from(r: entity::commission_rules::Model) -> Self {
        CommissionRule {
            malet_id: ID(r.malet_id),
            version: r.version,
            tier: r.tier,
            commission_rate: r.commission_rate,
            affiliate_rate: r.affiliate_rate,
            affiliate_funding: r.affiliate_funding,
            effective_from: r.effective_from,
            created_by: r.created_by,
            reason: r.reason,
        }
    }
}

/// A payment that could not be recorded automatically (R-HOOK-4), for admins.
#[derive(SimpleObject)]
pub struct PaymentException {
    pub id: ID,
    pub provider: String,
    pub provider_payment_id: String,
    pub event_id: Option<String>,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

impl From<entity::payment_exceptions::Model> for PaymentException {
    fn from(e: entity::payment_exceptions::Model) -> Self {
        PaymentException {
            id: ID(e.id),
            provider: e.provider.to_string(),
            provider_payment_id: e.provider_payment_id,
            event_id: e.event_id,
            reason: e.reason,
            created_at: e.created_at,
        }
    }
}

/// Admin input of `setCommissionOverride`.
#[derive(InputObject)]
pub struct CommissionOverrideInput {
    pub malet_id: ID,
    /// Decimal string, e.g. "0.045".
    pub commission_rate: Option<String>,
    pub affiliate_rate: Option<String>,
    pub affiliate_funding: Option<AffiliateFunding>,
    /// Remove every override first (back to the tier's defaults).
    #[graphql(default = false)]
    pub clear: bool,
    /// When the new version applies; now when omitted.
    pub effective_from: Option<DateTime<Utc>>,
    pub reason: String,
}

/// The state of an application-fee refund.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum FeeRefundStatus {
    Pending,
    Sent,
    Failed,
    Uncollected,
}

impl From<FeeRefundStatus> for crate::repo::refunds::FeeRefundStatus {
    fn from(value: FeeRefundStatus) -> Self {
        use crate::repo::refunds::FeeRefundStatus as S;
        match value {
            FeeRefundStatus::Pending => S::Pending,
            FeeRefundStatus::Sent => S::Sent,
            FeeRefundStatus::Failed => S::Failed,
            FeeRefundStatus::Uncollected => S::Uncollected,
        }
    }
}

/// An application-fee refund owed to a seller for a clawback (admins).
#[derive(SimpleObject)]
pub struct ApplicationFeeRefund {
    pub id: ID,
    pub ledger_id: ID,
    /// Minor units of the entry's currency.
    pub amount: i32,
    pub status: String,
    pub provider_fee_refund_id: Option<String>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<entity::fee_refunds::Model> for ApplicationFeeRefund {
    type Error = ApiError;

    fn try_from(r: entity::fee_refunds::Model) -> Result<Self, ApiError> {
        Ok(ApplicationFeeRefund {
            id: ID(r.id),
            ledger_id: ID(r.ledger_id),
            amount: int32(r.amount)?,
            status: r.status.to_string(),
            provider_fee_refund_id: r.provider_fee_refund_id,
            attempts: r.attempts,
            last_error: r.last_error,
            created_at: r.created_at,
        })
    }
}

/// The state of an outgoing money movement: PENDING → SENT → CONFIRMED | FAILED | UNKNOWN.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum OutgoingStatus {
    /// Written with its posting; not sent yet (or not reached the provider: retried).
    Pending,
    /// Being sent.
    Sent,
    /// Made at the provider (`providerRef`).
    Confirmed,
    /// Refused by the provider: its posting is reversed by a REVERSAL posting.
    Failed,
    /// Sent without a known outcome (a timeout): looked up at the provider before any retry.
    Unknown,
}

impl From<OutgoingStatus> for entity::enums::OutgoingStatus {
    fn from(value: OutgoingStatus) -> Self {
        use entity::enums::OutgoingStatus as S;
        match value {
            OutgoingStatus::Pending => S::Pending,
            OutgoingStatus::Sent => S::Sent,
            OutgoingStatus::Confirmed => S::Confirmed,
            OutgoingStatus::Failed => S::Failed,
            OutgoingStatus::Unknown => S::Unknown,
        }
    }
}

/// One provider call that moves money, written with the posting that caused it (admins).
#[derive(SimpleObject)]
pub struct OutgoingMovement {
    pub id: ID,
    /// TRANSFER, TRANSFER_REVERSAL, PAYOUT, FEE_REFUND or REFUND.
    pub kind: String,
    /// PENDING, SENT, CONFIRMED, FAILED or UNKNOWN.
    pub status: String,
    pub provider: String,
    /// The payee: the Malet, or for an affiliate payout (`postingKey` `affiliate-payout:…`) the
    /// affiliate.
    pub malet_id: ID,
    pub account_id: ID,
    pub ledger_id: Option<ID>,
    /// The idempotency key of the posting that caused it.
    pub posting_key: String,
    pub idempotency_key: String,
    /// Minor units of `currency`.
    pub amount: i32,
    pub currency: String,
    /// The provider's id of what it made.
    pub provider_ref: Option<String>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<entity::outgoing_movements::Model> for OutgoingMovement {
    type Error = ApiError;

    fn try_from(m: entity::outgoing_movements::Model) -> Result<Self, ApiError> {
        Ok(OutgoingMovement {
            id: ID(m.id),
            kind: m.kind.to_string(),
            status: m.status.to_string(),
            provider: m.provider.to_string(),
            malet_id: ID(m.malet_id),
            account_id: ID(m.account_id),
            ledger_id: m.ledger_id.map(ID),
            posting_key: m.posting_key,
            idempotency_key: m.idempotency_key,
            amount: int32(m.amount)?,
            currency: m.currency,
            provider_ref: m.provider_ref,
            attempts: m.attempts,
            last_error: m.last_error,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

/// How a reconciliation mismatch is resolved.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum MismatchResolution {
    /// Known and accepted, with a reason.
    Acknowledged,
    /// Corrected.
    Fixed,
}

impl From<MismatchResolution> for entity::enums::MismatchState {
    fn from(value: MismatchResolution) -> Self {
        match value {
            MismatchResolution::Acknowledged => entity::enums::MismatchState::Acknowledged,
            MismatchResolution::Fixed => entity::enums::MismatchState::Fixed,
        }
    }
}

/// A difference between our books and the provider's records (admins).
#[derive(SimpleObject)]
pub struct ReconciliationMismatch {
    pub id: ID,
    pub provider: String,
    /// MISSING_IN_LEDGER, MISSING_AT_PROVIDER, OVER, UNDER, CURRENCY_MISMATCH or DATA_MISMATCH.
    pub class: String,
    /// CHARGE, APPLICATION_FEE, FEE_REFUND, TRANSFER, TRANSFER_REVERSAL or PAYOUT.
    pub object_kind: String,
    /// Our side (`ledger:<id>`, `movement:<id>`, `reserve-hold:<id>`, a payout id).
    pub our_ref: Option<String>,
    /// The provider's id of its object.
    pub provider_ref: Option<String>,
    pub our_amount: Option<i64>,
    pub provider_amount: Option<i64>,
    pub currency: Option<String>,
    /// Our object and the provider's, as JSON text.
    pub ours: Option<String>,
    pub theirs: Option<String>,
    pub detail: String,
    pub occurred_at: DateTime<Utc>,
    /// OPEN, ACKNOWLEDGED or FIXED.
    pub state: String,
    pub resolution_reason: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub first_seen_at: DateTime<Utc>,
}

impl From<entity::reconciliation_mismatches::Model> for ReconciliationMismatch {
    fn from(m: entity::reconciliation_mismatches::Model) -> Self {
        ReconciliationMismatch {
            id: ID(m.id),
            provider: m.provider.to_string(),
            class: m.class.to_string(),
            object_kind: m.object_kind.to_string(),
            our_ref: m.our_ref,
            provider_ref: m.provider_ref,
            our_amount: m.our_amount,
            provider_amount: m.provider_amount,
            currency: m.currency,
            ours: m.ours,
            theirs: m.theirs,
            detail: m.detail,
            occurred_at: m.occurred_at,
            state: m.state.to_string(),
            resolution_reason: m.resolution_reason,
            resolved_by: m.resolved_by,
            resolved_at: m.resolved_at,
            first_seen_at: m.first_seen_at,
        }
    }
}

/// What a reconciliation run did.
#[derive(SimpleObject)]
pub struct ReconciliationRun {
    /// Provider objects compared.
    pub compared: i32,
    /// Mismatches found (new or already known).
    pub found: i32,
    /// Of those, first seen by this run.
    pub new: i32,
    /// Open mismatches of the window no longer found (marked FIXED).
    pub cleared: i32,
}

/// Where an inbox event is.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum WebhookEventStatus {
    /// Stored, not applied yet.
    Received,
    /// Applied.
    Processed,
    /// Recorded without effect (not this receiver's event type, or nothing to do).
    Ignored,
    /// Cannot apply as it is (e.g. an unknown destination account): fix the cause, then replay.
    NeedsAttention,
    /// Applying failed; retried with backoff, or replayed.
    Failed,
}

impl From<WebhookEventStatus> for service_core::webhook::WebhookStatus {
    fn from(value: WebhookEventStatus) -> Self {
        use service_core::webhook::WebhookStatus as S;
        match value {
            WebhookEventStatus::Received => S::Received,
            WebhookEventStatus::Processed => S::Processed,
            WebhookEventStatus::Ignored => S::Ignored,
            WebhookEventStatus::NeedsAttention => S::NeedsAttention,
            WebhookEventStatus::Failed => S::Failed,
        }
    }
}

impl From<service_core::webhook::WebhookStatus> for WebhookEventStatus {
    fn from(value: service_core::webhook::WebhookStatus) -> Self {
        use service_core::webhook::WebhookStatus as S;
        match value {
            S::Received => WebhookEventStatus::Received,
            S::Processed => WebhookEventStatus::Processed,
            S::Ignored => WebhookEventStatus::Ignored,
            S::NeedsAttention => WebhookEventStatus::NeedsAttention,
            S::Failed => WebhookEventStatus::Failed,
        }
    }
}

/// The subgraph whose inbox holds an event (each applies its own event types).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum WebhookReceiver {
    Payments,
    Murchases,
}

impl WebhookReceiver {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookReceiver::Payments => "payments",
            WebhookReceiver::Murchases => "murchases",
        }
    }

    fn parse(text: &str) -> Result<Self, ApiError> {
        match text {
            "payments" => Ok(WebhookReceiver::Payments),
            "murchases" => Ok(WebhookReceiver::Murchases),
            other => Err(ApiError::internal(format!("unknown webhook receiver {other}"))),
        }
    }
}

/// A provider event in a subgraph's webhook inbox (admins).
#[derive(SimpleObject)]
pub struct WebhookEvent {
    pub id: ID,
    pub receiver: WebhookReceiver,
    /// The provider that sent it (`stripe`).
    pub provider: String,
    /// The provider's event id (`evt_…`).
    pub event_id: String,
    /// The provider's event type (`payment_intent.succeeded`, …).
    pub event_type: String,
    pub status: WebhookEventStatus,
    pub attempts: i32,
    /// Why it needs attention, was ignored, or the last error.
    pub last_error: Option<String>,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    /// When the retry loop tries a FAILED event again.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl TryFrom<entity::webhook_events::Model> for WebhookEvent {
    type Error = ApiError;

    fn try_from(r: entity::webhook_events::Model) -> Result<Self, ApiError> {
        let status = r.status;
        Ok(WebhookEvent {
            id: ID(r.id),
            receiver: WebhookReceiver::parse(&r.receiver)?,
            provider: r.provider.to_string(),
            event_id: r.event_id,
            event_type: r.event_type,
            status: status.into(),
            attempts: r.attempts,
            last_error: r.last_error,
            received_at: r.received_at,
            processed_at: r.processed_at,
            next_attempt_at: r.next_attempt_at,
        })
    }
}

pub struct AuditLogEntry(pub entity::audit_log::Model);

/// One audited change (R-COMM-4): who (`actor`), when (`createdAt`), what (`action` on
/// `entityType` `entityId`), the state before and after (JSON text), and why.
#[Object(guard = "MaletGuard::new(Permission::ManageCommissions, self.0.malet_id.as_deref().unwrap_or_default())")]
impl AuditLogEntry {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn malet_id(&self) -> Option<ID> {
        self.0.malet_id.clone().map(ID)
    }
    /// The token subject that made the change (`system` or the provider for automatic ones).
    async fn actor(&self) -> &str {
        &self.0.actor
    }
    /// What was done (`adjust_commission`, `set_malet_tier`, `suspend_connected_account`, …).
    async fn action(&self) -> &str {
        &self.0.action
    }
    /// What it was done to (`commission_ledger`, `malet_commission_rule`, `connected_account`, …).
    async fn entity_type(&self) -> &str {
        &self.0.entity_type
    }
    async fn entity_id(&self) -> &str {
        &self.0.entity_id
    }
    /// The state before the change, as JSON text (`null` when there was none).
    async fn before(&self) -> Option<&str> {
        self.0.before_state.as_deref()
    }
    /// The state after the change, as JSON text.
    async fn after(&self) -> Option<&str> {
        self.0.after_state.as_deref()
    }
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// How an affiliate is paid.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AffiliatePayoutProvider {
    /// Transfers to its Stripe connected account.
    StripeConnect,
    /// A PayPal Payouts item to its PayPal id (payer id).
    Paypal,
    /// Paid by hand; an admin records each payout (`recordAffiliatePayout`).
    Manual,
}

impl From<AffiliatePayoutProvider> for domain::provider::ProviderKind {
    fn from(p: AffiliatePayoutProvider) -> Self {
        match p {
            AffiliatePayoutProvider::StripeConnect => domain::provider::ProviderKind::StripeConnect,
            AffiliatePayoutProvider::Paypal => domain::provider::ProviderKind::Paypal,
            AffiliatePayoutProvider::Manual => domain::provider::ProviderKind::Manual,
        }
    }
}

/// Registers an affiliate as a payee (admins).
#[derive(InputObject)]
pub struct RegisterAffiliateInput {
    pub affiliate_id: ID,
    pub provider: AffiliatePayoutProvider,
    /// The Stripe connected account (`acct_…`) or the PayPal id it is paid to; none for MANUAL.
    pub provider_account_id: Option<String>,
    #[graphql(default = "USD")]
    pub currency: String,
}

/// An affiliate's earnings (R-AFF): what its orders earned it, what is still held in their refund
/// window, what fell due, what was paid, and the balance the next payout pays (negative: a debt
/// that the next shares pay first). Read by the affiliate itself (claim `affiliate`) or admins.
pub struct Affiliate(pub crate::service::affiliates::AffiliateView);

#[Object]
impl Affiliate {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Whether an admin registered it with a payout account (shares are earned either way; only a
    /// registered, ACTIVE affiliate is paid).
    async fn registered(&self) -> bool {
        self.0.registration.is_some()
    }
    async fn provider(&self) -> Option<String> {
        self.0.registration.as_ref().map(|r| r.provider.to_string())
    }
    async fn provider_account_id(&self) -> Option<&str> {
        self.0.registration.as_ref().and_then(|r| r.provider_account_id.as_deref())
    }
    /// ONBOARDING, ACTIVE or SUSPENDED (null until registered).
    async fn status(&self) -> Option<String> {
        self.0.registration.as_ref().map(|r| r.status.to_string())
    }
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// Every share its orders earn it now (after refunds; nothing for a lost dispute).
    async fn earned(&self) -> Result<Long, ApiError> {
        Long::new(self.0.earned)
    }
    /// Shares still in their refund window.
    async fn held(&self) -> Result<Long, ApiError> {
        Long::new(self.0.held)
    }
    /// Shares whose window has passed.
    async fn due(&self) -> Result<Long, ApiError> {
        Long::new(self.0.due)
    }
    /// Paid out, or being paid.
    async fn paid(&self) -> Result<Long, ApiError> {
        Long::new(self.0.paid)
    }
    /// Due less paid.
    async fn balance(&self) -> Result<Long, ApiError> {
        Long::new(self.0.balance)
    }
    /// Its orders' shares, newest first (the last 100).
    async fn lines(&self) -> Result<Vec<AffiliateLine>, ApiError> {
        self.0
            .lines
            .iter()
            .map(|l| {
                Ok(AffiliateLine {
                    ledger_id: ID(l.entry.id.clone()),
                    order_id: ID(l.entry.order_id.clone()),
                    malet_id: ID(l.entry.malet_id.clone()),
                    currency: l.entry.currency.clone(),
                    earned: int32(l.earned)?,
                    status: LedgerStatus::from_stored(l.entry.status)?,
                    disputed: l.entry.disputed,
                    due_at: l.due_at,
                    created_at: l.entry.created_at,
                })
            })
            .collect()
    }
    /// Its payouts, newest first (the last 100).
    async fn payouts(&self) -> Result<Vec<AffiliatePayout>, ApiError> {
        self.0
            .payouts
            .iter()
            .map(|p| {
                Ok(AffiliatePayout {
                    id: ID(p.id.clone()),
                    amount: int32(p.amount)?,
                    currency: p.currency.clone(),
                    status: p.status.to_string(),
                    reference: p.reference.clone(),
                    last_error: p.last_error.clone(),
                    created_at: p.created_at,
                })
            })
            .collect()
    }
}

/// One order's share for an affiliate.
#[derive(SimpleObject)]
pub struct AffiliateLine {
    pub ledger_id: ID,
    pub order_id: ID,
    pub malet_id: ID,
    pub currency: String,
    /// Minor units it earns from this order now.
    pub earned: i32,
    pub status: LedgerStatus,
    pub disputed: bool,
    /// When the share falls due (`AFFILIATE_HOLD_DAYS` after the order settles); null until it
    /// settles.
    pub due_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A payment to an affiliate.
#[derive(SimpleObject)]
pub struct AffiliatePayout {
    pub id: ID,
    pub amount: i32,
    pub currency: String,
    /// SENDING, PAID or FAILED (a failed payout is due again).
    pub status: String,
    /// A manual payout's reference.
    pub reference: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An affiliate's onboarding: where to send it (the provider's hosted onboarding).
#[derive(SimpleObject)]
pub struct AffiliateOnboarding {
    pub affiliate: Affiliate,
    pub onboarding_url: String,
}

/// Where a storefront order was placed.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum StorefrontPlatform {
    Shopify,
    Woocommerce,
    Tiktok,
    Instagram,
    Mallnline,
}

impl From<StorefrontPlatform> for domain::storefront::Platform {
    fn from(p: StorefrontPlatform) -> Self {
        use domain::storefront::Platform as P;
        match p {
            StorefrontPlatform::Shopify => P::Shopify,
            StorefrontPlatform::Woocommerce => P::Woocommerce,
            StorefrontPlatform::Tiktok => P::Tiktok,
            StorefrontPlatform::Instagram => P::Instagram,
            StorefrontPlatform::Mallnline => P::Mallnline,
        }
    }
}

impl From<domain::storefront::Platform> for StorefrontPlatform {
    fn from(p: domain::storefront::Platform) -> Self {
        use domain::storefront::Platform as P;
        match p {
            P::Shopify => StorefrontPlatform::Shopify,
            P::Woocommerce => StorefrontPlatform::Woocommerce,
            P::Tiktok => StorefrontPlatform::Tiktok,
            P::Instagram => StorefrontPlatform::Instagram,
            P::Mallnline => StorefrontPlatform::Mallnline,
        }
    }
}

/// A storefront order's status, as the storefront says.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum StorefrontOrderStatus {
    Pending,
    Paid,
    PartiallyRefunded,
    Refunded,
    Cancelled,
}

impl From<domain::storefront::StorefrontOrderStatus> for StorefrontOrderStatus {
    fn from(s: domain::storefront::StorefrontOrderStatus) -> Self {
        use domain::storefront::StorefrontOrderStatus as S;
        match s {
            S::Pending => StorefrontOrderStatus::Pending,
            S::Paid => StorefrontOrderStatus::Paid,
            S::PartiallyRefunded => StorefrontOrderStatus::PartiallyRefunded,
            S::Refunded => StorefrontOrderStatus::Refunded,
            S::Cancelled => StorefrontOrderStatus::Cancelled,
        }
    }
}

#[derive(InputObject)]
pub struct RegisterStorefrontShopInput {
    pub platform: StorefrontPlatform,
    /// The shop: its Shopify shop domain (`example.myshopify.com`), its WooCommerce site URL
    /// (`https://shop.example`, as `X-WC-Webhook-Source` sends it), or its TikTok Shop `shop_id`.
    pub shop: String,
    /// The Malet whose shop it is: its orders' commissions are this Malet's.
    pub malet_id: ID,
    /// The environment variable on the murchases server holding this shop's webhook secret;
    /// none: the Shopify app's (`SHOPIFY_WEBHOOK_SECRET`; a WooCommerce store always names its
    /// own; a TikTok shop never does: the TikTok app's `TIKTOK_APP_SECRET` signs). Names start
    /// with `STOREFRONT_` and are read by one shop only. The secret itself is never sent here.
    pub secret_env: Option<String>,
    /// WooCommerce: the environment variables holding the store's REST API consumer key and
    /// secret (read access to orders), for refunds' lines and the backfill; both or neither.
    /// TikTok Shop (required): the variables holding the shop's `shop_cipher` and its access
    /// token, with which its orders are read from the Partner API.
    pub api_key_env: Option<String>,
    pub api_secret_env: Option<String>,
    /// Credit the affiliate an order names (Shopify `note_attributes`, WooCommerce `meta_data`
    /// `affiliateId`, which buyers can write), when it is a registered affiliate that is not
    /// suspended. Off by default: the orders are then recorded without an affiliate.
    #[graphql(default)]
    pub affiliate_attribution: bool,
}

/// A registered storefront shop (its secret is never returned).
#[derive(SimpleObject)]
pub struct StorefrontShop {
    pub id: ID,
    pub platform: StorefrontPlatform,
    pub shop: String,
    pub malet_id: ID,
    /// Where its webhook secret is read from: an environment variable name, or none for the
    /// platform's.
    pub secret_env: Option<String>,
    /// Where its API credentials are read from (WooCommerce's REST key and secret, TikTok's shop
    /// cipher and access token), if anywhere.
    pub api_key_env: Option<String>,
    pub api_secret_env: Option<String>,
    /// Whether the affiliate its orders name is credited.
    pub affiliate_attribution: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<entity::storefront_shops::Model> for StorefrontShop {
    fn from(m: entity::storefront_shops::Model) -> Self {
        StorefrontShop {
            id: ID(m.id),
            platform: m.platform.domain().into(),
            shop: m.shop,
            malet_id: ID(m.malet_id),
            secret_env: m.secret_env,
            api_key_env: m.api_key_env,
            api_secret_env: m.api_secret_env,
            affiliate_attribution: m.affiliate_attribution,
            created_at: m.created_at,
        }
    }
}

/// A line of a storefront order (minor units of the order's currency).
#[derive(SimpleObject)]
pub struct StorefrontOrderLine {
    pub line_id: String,
    pub product: String,
    pub quantity: i64,
    pub unit_price: i64,
    /// Before discounts, tax excluded.
    pub amount: i64,
    pub vendor: Option<String>,
    pub discount: i64,
    pub tax: i64,
}

/// The payment of a storefront order.
#[derive(SimpleObject)]
pub struct StorefrontOrderPayment {
    pub provider: String,
    pub payment_id: String,
}

/// A storefront order as its storefront described it (signed), with its payment, its ledger
/// entry and any open exception. Amounts are minor units of `currency`.
pub struct StorefrontOrder(pub crate::service::storefronts::OrderView);

#[Object(guard = "MaletGuard::new(Permission::ViewRevenue, &self.0.order.malet_id)")]
impl StorefrontOrder {
    async fn id(&self) -> ID {
        ID(self.0.order.id.clone())
    }
    async fn platform(&self) -> StorefrontPlatform {
        self.0.order.platform.domain().into()
    }
    async fn shop(&self) -> &str {
        &self.0.order.shop
    }
    /// The storefront's order id (what payment metadata `orderId` names).
    async fn order_id(&self) -> ID {
        ID(self.0.order.platform_order_id.clone())
    }
    async fn malet_id(&self) -> ID {
        ID(self.0.order.malet_id.clone())
    }
    async fn currency(&self) -> &str {
        &self.0.order.currency
    }
    async fn status(&self) -> StorefrontOrderStatus {
        self.0.order.status.domain().into()
    }
    /// Items before discounts.
    async fn subtotal(&self) -> i64 {
        self.0.order.subtotal
    }
    async fn discount(&self) -> i64 {
        self.0.order.discount
    }
    async fn tax(&self) -> i64 {
        self.0.order.tax
    }
    async fn shipping(&self) -> i64 {
        self.0.order.shipping
    }
    async fn total(&self) -> i64 {
        self.0.order.total
    }
    /// The commissionable base (R-COMM-3): items less discounts.
    async fn commissionable_base(&self) -> i64 {
        self.0.order.subtotal - self.0.order.discount
    }
    /// What the storefront's refunds took back of the base, and the money they returned.
    async fn refunded_base(&self) -> i64 {
        self.0.refunded_base
    }
    async fn refunded_amount(&self) -> i64 {
        self.0.refunded_amount
    }
    async fn affiliate_id(&self) -> Option<ID> {
        self.0.order.affiliate_id.clone().map(ID)
    }
    async fn lines(&self) -> Vec<StorefrontOrderLine> {
        self.0
            .lines
            .iter()
            .map(|l| StorefrontOrderLine {
                line_id: l.line_id.clone(),
                product: l.product.clone(),
                quantity: l.quantity,
                unit_price: l.unit_price,
                amount: l.amount,
                vendor: l.vendor.clone(),
                discount: l.discount,
                tax: l.tax,
            })
            .collect()
    }
    /// The payment joined to it (by its metadata's order id), once one arrived.
    async fn payment(&self) -> Option<StorefrontOrderPayment> {
        match (self.0.order.provider, &self.0.order.provider_payment_id) {
            (Some(p), Some(id)) => {
                Some(StorefrontOrderPayment { provider: p.as_str().to_owned(), payment_id: id.clone() })
            }
            _ => None,
        }
    }
    /// Its ledger entry, once its payment is recorded.
    async fn ledger_entry(&self) -> Option<CommissionLedger> {
        self.0.entry.clone().map(CommissionLedger)
    }
    /// The open exception of its payment (a disagreement with the order, or a payment that
    /// waited for it), for admins to resolve.
    async fn exception(&self) -> Option<&str> {
        self.0.exception.as_deref()
    }
    /// The platform's commission the seller owes on it, when the storefront collected the
    /// money itself (TikTok Shop): no payment of ours carries such an order.
    async fn receivable(&self) -> Option<CommissionReceivable> {
        self.0.receivable.clone().map(CommissionReceivable)
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.order.created_at
    }
}

/// The platform's commission on an order a storefront collected itself (TikTok Shop), owed by
/// the seller: posted to its balance (a RECEIVABLE statement line) and recovered from its
/// next earnings by reversals of their transfers. Amounts are minor units of `currency`.
pub struct CommissionReceivable(pub crate::service::receivables::ReceivableView);

#[Object]
impl CommissionReceivable {
    async fn id(&self) -> ID {
        ID(self.0.receivable.id.clone())
    }
    async fn currency(&self) -> &str {
        &self.0.receivable.currency
    }
    /// The commission when the order was paid.
    async fn original_amount(&self) -> i64 {
        self.0.receivable.original_amount
    }
    /// What is owed now: the commission on the items the storefront did not refund (its
    /// returns), 0 once the order was cancelled.
    async fn amount(&self) -> i64 {
        self.0.receivable.amount
    }
    async fn status(&self) -> ReceivableStatus {
        match self.0.receivable.status {
            entity::enums::ReceivableStatus::Owed => ReceivableStatus::Owed,
            entity::enums::ReceivableStatus::Cancelled => ReceivableStatus::Cancelled,
        }
    }
    /// The items base the storefront refunded (of `StorefrontOrder.commissionableBase`).
    async fn refunded_base(&self) -> i64 {
        self.0.receivable.refunded_base
    }
    /// Taken back from the seller's later earnings (reversals not refused, or netted on the
    /// balance), less what was given back. Negative when a refund's clawback of an earning came
    /// up short after part of its recovery was given back (the seller holds the gift).
    async fn recovered(&self) -> i64 {
        self.0.recovered
    }
    /// Given back to the seller (transfers from the earnings it was taken from) because a
    /// refund or a cancellation lowered what it owes below what it had paid.
    async fn given_back(&self) -> i64 {
        self.0.given_back
    }
    /// Still to recover (more than `amount` when `recovered` is negative).
    async fn open(&self) -> i64 {
        self.0.open()
    }
    /// The exact rate, e.g. "0.08".
    async fn commission_rate_decimal(&self) -> &str {
        &self.0.receivable.commission_rate
    }
    async fn rule_version(&self) -> i64 {
        self.0.receivable.rule_version
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.receivable.created_at
    }
}

/// Whether a commission receivable is owed.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ReceivableStatus {
    /// `amount` is owed (the commission on what the storefront did not refund), less what is
    /// recovered.
    Owed,
    /// The order was cancelled: nothing is owed, what was recovered is given back.
    Cancelled,
}

/// What a storefront backfill did.
#[derive(SimpleObject)]
pub struct StorefrontBackfill {
    /// Orders the storefront listed in the window.
    pub seen: u32,
    /// Orders recorded that had no record before (the missed deliveries).
    pub created: u32,
    /// Orders that had a record already (brought to the storefront's numbers and refunds, which
    /// a missed `order.updated` may have changed), or were already backfilled.
    pub existing: u32,
    /// Orders held for an admin (`storefrontDeliveries(status: NEEDS_ATTENTION)`).
    pub needs_attention: u32,
    /// False when the window held more orders than one backfill reads (10,000): run the rest as
    /// smaller windows.
    pub complete: bool,
}

impl From<crate::service::storefronts::BackfillReport> for StorefrontBackfill {
    fn from(r: crate::service::storefronts::BackfillReport) -> Self {
        StorefrontBackfill {
            seen: r.seen,
            created: r.created,
            existing: r.existing,
            needs_attention: r.needs_attention,
            complete: r.complete,
        }
    }
}

/// What a storefront delivery came to.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum StorefrontDeliveryStatus {
    /// Applied to the order record (and the ledger).
    Applied,
    /// A topic not acted on: recorded.
    Ignored,
    /// Stored for an admin, nothing applied (see `note`).
    NeedsAttention,
    /// Kept, nothing applied, because the storefront's API did not answer (TikTok Shop's order
    /// detail): its redelivery, or `replayStorefrontDelivery`, reads it again.
    SourceUnavailable,
}

impl From<StorefrontDeliveryStatus> for entity::enums::DeliveryStatus {
    fn from(s: StorefrontDeliveryStatus) -> Self {
        match s {
            StorefrontDeliveryStatus::Applied => entity::enums::DeliveryStatus::Applied,
            StorefrontDeliveryStatus::Ignored => entity::enums::DeliveryStatus::Ignored,
            StorefrontDeliveryStatus::NeedsAttention => entity::enums::DeliveryStatus::NeedsAttention,
            StorefrontDeliveryStatus::SourceUnavailable => entity::enums::DeliveryStatus::SourceUnavailable,
        }
    }
}

/// A storefront webhook delivery as stored (its body is kept, not shown here).
#[derive(SimpleObject)]
pub struct StorefrontDelivery {
    pub id: ID,
    pub platform: StorefrontPlatform,
    pub shop: String,
    pub delivery_id: String,
    pub event_id: Option<String>,
    pub topic: String,
    pub status: StorefrontDeliveryStatus,
    /// Why it needs attention (or was ignored).
    pub note: Option<String>,
    pub received_at: chrono::DateTime<chrono::Utc>,
    /// Reads tried again after the storefront's API did not answer the first.
    pub attempts: i32,
    /// When a SOURCE_UNAVAILABLE delivery is read again by the job.
    pub next_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<entity::storefront_deliveries::Model> for StorefrontDelivery {
    fn from(m: entity::storefront_deliveries::Model) -> Self {
        use entity::enums::DeliveryStatus as D;
        StorefrontDelivery {
            id: ID(m.id),
            platform: m.platform.domain().into(),
            shop: m.shop,
            delivery_id: m.delivery_id,
            event_id: m.event_id,
            topic: m.topic,
            status: match m.status {
                D::Applied => StorefrontDeliveryStatus::Applied,
                D::Ignored => StorefrontDeliveryStatus::Ignored,
                D::NeedsAttention => StorefrontDeliveryStatus::NeedsAttention,
                D::SourceUnavailable => StorefrontDeliveryStatus::SourceUnavailable,
            },
            note: m.note,
            received_at: m.received_at,
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at,
        }
    }
}
