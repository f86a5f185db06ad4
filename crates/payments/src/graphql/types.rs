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
