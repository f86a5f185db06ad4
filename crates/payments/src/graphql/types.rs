//! GraphQL types of payments, mapped from service values (never derived on entities).

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use domain::permissions::Permission;
use service_core::graphql::{ApiError, MaletGuard, actor};
use service_core::scalars::{DisplayFloat, Long, display_float};

use crate::repo::movements::Balances;
use crate::service::Payments;

pub(crate) fn svc<'a>(ctx: &'a Context<'_>) -> Result<&'a Payments, ApiError> {
    ctx.data::<Payments>().map_err(|_| ApiError::internal("payments service missing from schema data"))
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PayoutProvider {
    StripeConnect,
    Manual,
    Paypal,
    PaystackSubaccount,
    MpesaDirect,
}

impl From<PayoutProvider> for domain::provider::ProviderKind {
    fn from(v: PayoutProvider) -> Self {
        use domain::provider::ProviderKind as K;
        match v {
            PayoutProvider::StripeConnect => K::StripeConnect,
            PayoutProvider::Manual => K::Manual,
            PayoutProvider::Paypal => K::Paypal,
            PayoutProvider::PaystackSubaccount => K::PaystackSubaccount,
            PayoutProvider::MpesaDirect => K::MpesaDirect,
        }
    }
}

impl PayoutProvider {
    fn from_kind(kind: domain::provider::ProviderKind) -> Self {
        use domain::provider::ProviderKind as K;
        match kind {
            K::StripeConnect => PayoutProvider::StripeConnect,
            K::Manual => PayoutProvider::Manual,
            K::Paypal => PayoutProvider::Paypal,
            K::PaystackSubaccount => PayoutProvider::PaystackSubaccount,
            K::MpesaDirect => PayoutProvider::MpesaDirect,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ConnectedAccountStatus {
    Pending,
    Onboarding,
    Active,
    Suspended,
    Deactivated,
}

impl ConnectedAccountStatus {
    fn from_stored(s: entity::enums::AccountStatus) -> Result<Self, ApiError> {
        use domain::lifecycle::AccountStatus as S;
        Ok(match s.domain() {
            S::Pending => ConnectedAccountStatus::Pending,
            S::Onboarding => ConnectedAccountStatus::Onboarding,
            S::Active => ConnectedAccountStatus::Active,
            S::Suspended => ConnectedAccountStatus::Suspended,
            S::Deactivated => ConnectedAccountStatus::Deactivated,
        })
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PayoutInterval {
    Daily,
    Weekly,
    Monthly,
    Manual,
}

impl From<PayoutInterval> for domain::schedule::PayoutInterval {
    fn from(v: PayoutInterval) -> Self {
        match v {
            PayoutInterval::Daily => domain::schedule::PayoutInterval::Daily,
            PayoutInterval::Weekly => domain::schedule::PayoutInterval::Weekly,
            PayoutInterval::Monthly => domain::schedule::PayoutInterval::Monthly,
            PayoutInterval::Manual => domain::schedule::PayoutInterval::Manual,
        }
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct PayoutSchedule {
    pub interval: PayoutInterval,
    /// 1 = Monday … 7 = Sunday (WEEKLY).
    pub day_of_week: Option<i32>,
    /// 1–31 (MONTHLY).
    pub day_of_month: Option<i32>,
}

/// A Malet's payout account (R-ACCT-1). Balances are `Long` totals of its movements.
pub struct ConnectedAccount(pub entity::connected_accounts::Model);

impl ConnectedAccount {
    async fn balances(&self, ctx: &Context<'_>) -> Result<Balances, ApiError> {
        Ok(svc(ctx)?.balances(actor(ctx), &self.0).await?)
    }
}

#[Object(guard = "MaletGuard::new(Permission::ViewPayouts, &self.0.malet_id)")]
impl ConnectedAccount {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn malet_id(&self) -> ID {
        ID(self.0.malet_id.clone())
    }
    async fn malet(&self) -> Malet {
        Malet { id: ID(self.0.malet_id.clone()) }
    }
    async fn user_id(&self) -> ID {
        ID(self.0.user_id.clone())
    }
    async fn provider(&self) -> Result<PayoutProvider, ApiError> {
        Ok(PayoutProvider::from_kind(self.0.provider.kind()))
    }
    /// e.g. `acct_…` for Stripe Connect.
    async fn provider_account_id(&self) -> Option<&str> {
        self.0.provider_account_id.as_deref()
    }
    async fn status(&self) -> Result<ConnectedAccountStatus, ApiError> {
        ConnectedAccountStatus::from_stored(self.0.status)
    }
    /// Why the account was last suspended, reinstated or deactivated.
    async fn status_reason(&self) -> Option<&str> {
        self.0.status_reason.as_deref()
    }
    async fn payout_schedule(&self) -> Option<PayoutSchedule> {
        let interval = match self.0.payout_interval.as_deref()? {
            "DAILY" => PayoutInterval::Daily,
            "WEEKLY" => PayoutInterval::Weekly,
            "MONTHLY" => PayoutInterval::Monthly,
            _ => PayoutInterval::Manual,
        };
        Some(PayoutSchedule {
            interval,
            day_of_week: self.0.payout_day_of_week.map(i32::from),
            day_of_month: self.0.payout_day_of_month.map(i32::from),
        })
    }
    /// Rolling reserve in percent (10 = 10%), produced from the exact decimal rate.
    async fn rolling_reserve_percent(&self) -> Result<DisplayFloat, ApiError> {
        let rate: domain::rate::Rate = self.0.rolling_reserve_rate.parse().map_err(ApiError::internal)?;
        display_float(rate.percent())
    }
    async fn reserve_expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.reserve_expires_at
    }
    /// Lifetime earnings credited to the seller (net + reserve, after clawbacks).
    async fn total_earnings(&self, ctx: &Context<'_>) -> Result<Long, ApiError> {
        Long::new(self.balances(ctx).await?.total_earnings)
    }
    async fn total_payouts(&self, ctx: &Context<'_>) -> Result<Long, ApiError> {
        Long::new(self.balances(ctx).await?.total_payouts)
    }
    /// Awaiting the next payout; negative when refunds exceeded earnings (R-REF-4).
    async fn pending_balance(&self, ctx: &Context<'_>) -> Result<Long, ApiError> {
        Long::new(self.balances(ctx).await?.pending_balance)
    }
    async fn reserve_balance(&self, ctx: &Context<'_>) -> Result<Long, ApiError> {
        Long::new(self.balances(ctx).await?.reserve_balance)
    }
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// Stripe-hosted onboarding link (expires after use; see `refreshOnboardingLink`).
    async fn onboarding_url(&self) -> Option<&str> {
        self.0.onboarding_url.as_deref()
    }
    async fn kyc_verified(&self) -> bool {
        self.0.kyc_verified
    }
}

/// A Malet (shop), owned by another subgraph; payments adds its payout account.
pub struct Malet {
    pub id: ID,
}

#[Object]
impl Malet {
    async fn id(&self) -> &ID {
        &self.id
    }
    #[graphql(guard = "MaletGuard::new(Permission::ViewPayouts, &self.id)")]
    async fn connected_account(&self, ctx: &Context<'_>) -> Result<Option<ConnectedAccount>, ApiError> {
        Ok(svc(ctx)?.account_for_malet(actor(ctx), &self.id).await?.map(ConnectedAccount))
    }
}

#[derive(InputObject)]
pub struct CreateConnectedAccountInput {
    pub malet_id: ID,
    #[graphql(default_with = "PayoutProvider::StripeConnect")]
    pub provider: PayoutProvider,
}

#[derive(InputObject)]
pub struct UpdatePayoutScheduleInput {
    pub connected_account_id: ID,
    pub interval: PayoutInterval,
    /// 1 = Monday … 7 = Sunday; required for WEEKLY.
    pub day_of_week: Option<i32>,
    /// 1–31; required for MONTHLY.
    pub day_of_month: Option<i32>,
}

impl PayoutSchedule {
    fn from_domain(s: domain::schedule::PayoutSchedule) -> Self {
        use domain::schedule::PayoutSchedule as S;
        let interval = match s {
            S::Daily => PayoutInterval::Daily,
            S::Weekly { .. } => PayoutInterval::Weekly,
            S::Monthly { .. } => PayoutInterval::Monthly,
            S::Manual => PayoutInterval::Manual,
        };
        PayoutSchedule {
            interval,
            day_of_week: s.day_of_week().map(i32::from),
            day_of_month: s.day_of_month().map(i32::from),
        }
    }
}

use crate::service::statements as stmt;

/// What moved a statement line's money.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::service::statements::LineKind")]
pub enum StatementLineKind {
    /// A sale's earning: its net to pending, its reserve held.
    Sale,
    /// A refund clawed back part of a sale's net (and its reserve while held).
    RefundClawback,
    /// An admin adjusted a sale's commission.
    Adjustment,
    /// Paid out to the seller's bank.
    Payout,
    /// A payout failed or came back: its money is pending again.
    PayoutReturned,
    /// A held reserve released to pending.
    ReserveRelease,
    /// A negative balance carried between the Malet's accounts.
    BalanceCarry,
    /// A lost dispute's debit, or a won dispute's reinstatement.
    Dispute,
    /// A movement undone because its money never moved.
    Reversal,
    /// The platform's commission on an order the storefront collected (TikTok Shop), owed by
    /// the seller and recovered from its next earnings (negative); given back when the order is
    /// cancelled (positive). `sourceId` is the receivable.
    Receivable,
}

pub struct PayoutStatement(pub stmt::Statement);

/// A seller's statement over `[from, to)` in one currency (issue 12): the opening balance, every
/// balance movement of the period (time, then id) and the closing balance, with
/// `opening + Σ lines = closing` exactly. It covers every account the Malet has had in that
/// currency; amounts are minor units.
#[Object(guard = "MaletGuard::new(Permission::ViewPayouts, &self.0.malet_id)")]
impl PayoutStatement {
    async fn malet_id(&self) -> ID {
        ID(self.0.malet_id.clone())
    }
    async fn currency(&self) -> &str {
        self.0.currency.code()
    }
    async fn from(&self) -> DateTime<Utc> {
        self.0.from
    }
    async fn to(&self) -> DateTime<Utc> {
        self.0.to
    }
    /// The Malet's accounts the statement covers.
    async fn account_ids(&self) -> Vec<ID> {
        self.0.account_ids.iter().cloned().map(ID).collect()
    }
    /// The balances at `from` (the sums of every movement before it).
    async fn opening(&self) -> StatementBalance {
        StatementBalance(self.0.opening)
    }
    /// The balances at `to` (the sums of every movement before it): opening plus every line.
    async fn closing(&self) -> StatementBalance {
        StatementBalance(self.0.closing)
    }
    async fn line_count(&self) -> usize {
        self.0.lines.len()
    }
    /// Every movement of the period, oldest first (at most 10,000).
    async fn lines(&self) -> Vec<StatementLine<'_>> {
        self.0.lines.iter().map(StatementLine).collect()
    }
    /// The live account's payout schedule, when it settles in this currency.
    async fn payout_schedule(&self) -> Option<PayoutSchedule> {
        self.0.payout_schedule.map(PayoutSchedule::from_domain)
    }
    /// The next payout day after today by that schedule (ISO date, UTC), for an ACTIVE account;
    /// null for MANUAL payouts, no schedule, or no ACTIVE account in this currency.
    async fn next_payout_date(&self) -> Option<String> {
        self.0.next_payout_date.map(|d| d.format("%Y-%m-%d").to_string())
    }
}

pub struct StatementBalance(pub stmt::StatementBalance);

/// A pending and a reserve balance; `balance` is both.
#[Object]
impl StatementBalance {
    async fn pending(&self) -> Result<Long, ApiError> {
        Long::new(self.0.pending)
    }
    async fn reserve(&self) -> Result<Long, ApiError> {
        Long::new(self.0.reserve)
    }
    async fn balance(&self) -> Result<Long, ApiError> {
        Long::new(self.0.total()?)
    }
}

pub struct StatementLine<'a>(pub &'a stmt::StatementLine);

/// One balance movement.
#[Object]
impl StatementLine<'_> {
    /// The movement's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    async fn kind(&self) -> StatementLineKind {
        self.0.kind.into()
    }
    async fn account_id(&self) -> ID {
        ID(self.0.account_id.clone())
    }
    async fn order_id(&self) -> Option<ID> {
        self.0.order_id.clone().map(ID)
    }
    async fn ledger_id(&self) -> Option<ID> {
        self.0.ledger_id.clone().map(ID)
    }
    /// What moved it: `ledger`, `payout`, `reserve_hold`, `account` or `receivable`, and its id.
    async fn source_type(&self) -> &str {
        &self.0.source_type
    }
    async fn source_id(&self) -> &str {
        &self.0.source_id
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn pending_delta(&self) -> Result<Long, ApiError> {
        Long::new(self.0.pending_delta)
    }
    async fn reserve_delta(&self) -> Result<Long, ApiError> {
        Long::new(self.0.reserve_delta)
    }
    /// The change of the seller's balance (pending plus reserve).
    async fn delta(&self) -> Result<Long, ApiError> {
        Long::new(self.0.delta()?)
    }
    async fn earnings_delta(&self) -> Result<Long, ApiError> {
        Long::new(self.0.earnings_delta)
    }
    async fn payouts_delta(&self) -> Result<Long, ApiError> {
        Long::new(self.0.payouts_delta)
    }
    /// The balances right after this line.
    async fn balance_after(&self) -> StatementBalance {
        StatementBalance(self.0.balance_after)
    }
    /// How a sale split when it was paid (SALE lines whose ledger entry is known).
    async fn sale(&self) -> Option<SaleBreakdown> {
        self.0.sale.map(SaleBreakdown)
    }
}

pub struct SaleBreakdown(pub stmt::SaleParts);

/// A sale's split when it was paid: gross = commission + processing fee + affiliate (when
/// the seller funds it) + reserve + net.
#[Object]
impl SaleBreakdown {
    async fn gross(&self) -> Result<Long, ApiError> {
        Long::new(self.0.gross)
    }
    async fn commission(&self) -> Result<Long, ApiError> {
        Long::new(self.0.commission)
    }
    async fn processing_fee(&self) -> Result<Long, ApiError> {
        Long::new(self.0.processing_fee)
    }
    async fn affiliate(&self) -> Result<Long, ApiError> {
        Long::new(self.0.affiliate)
    }
    async fn reserve(&self) -> Result<Long, ApiError> {
        Long::new(self.0.reserve)
    }
    async fn net(&self) -> Result<Long, ApiError> {
        Long::new(self.0.net)
    }
}
