use async_graphql::{Context, ID, Object};
use domain::ids::MaletId;
use domain::schedule::PayoutSchedule;
use service_core::graphql::{ApiError, Authenticated, actor};

use super::types::{ConnectedAccount, CreateConnectedAccountInput, UpdatePayoutScheduleInput, svc};

pub struct Mutation;

#[Object]
impl Mutation {
    /// Starts provider onboarding for a Malet (MANAGE_PAYOUTS): returns the account with its
    /// `onboardingUrl` and status ONBOARDING (MANUAL accounts stay PENDING until confirmed).
    #[graphql(guard = "Authenticated")]
    async fn create_connected_account(
        &self,
        ctx: &Context<'_>,
        input: CreateConnectedAccountInput,
    ) -> Result<ConnectedAccount, ApiError> {
        let malet_id = MaletId::parse(&input.malet_id)?;
        Ok(ConnectedAccount(svc(ctx)?.create_account(actor(ctx), &malet_id, input.provider.into()).await?))
    }

    /// A fresh onboarding link when the previous one expired.
    #[graphql(guard = "Authenticated")]
    async fn refresh_onboarding_link(
        &self,
        ctx: &Context<'_>,
        connected_account_id: ID,
    ) -> Result<ConnectedAccount, ApiError> {
        Ok(ConnectedAccount(svc(ctx)?.refresh_onboarding_link(actor(ctx), &connected_account_id).await?))
    }

    /// Sets the payout schedule and pushes it to the provider (R-PAY-1).
    #[graphql(guard = "Authenticated")]
    async fn update_payout_schedule(
        &self,
        ctx: &Context<'_>,
        input: UpdatePayoutScheduleInput,
    ) -> Result<ConnectedAccount, ApiError> {
        let schedule = PayoutSchedule::parse(
            input.interval.into(),
            input.day_of_week.map(i64::from),
            input.day_of_month.map(i64::from),
        )
        .map_err(|e| ApiError::BadInput(e.to_string()))?;
        Ok(ConnectedAccount(svc(ctx)?.update_payout_schedule(actor(ctx), &input.connected_account_id, schedule).await?))
    }

    /// Admin: suspend an ACTIVE account.
    #[graphql(guard = "Authenticated")]
    async fn suspend_connected_account(
        &self,
        ctx: &Context<'_>,
        connected_account_id: ID,
        reason: String,
    ) -> Result<ConnectedAccount, ApiError> {
        Ok(ConnectedAccount(svc(ctx)?.suspend(actor(ctx), &connected_account_id, &reason).await?))
    }

    /// Admin: reinstate a SUSPENDED account to ACTIVE.
    #[graphql(guard = "Authenticated")]
    async fn reinstate_connected_account(
        &self,
        ctx: &Context<'_>,
        connected_account_id: ID,
        reason: String,
    ) -> Result<ConnectedAccount, ApiError> {
        Ok(ConnectedAccount(svc(ctx)?.reinstate(actor(ctx), &connected_account_id, &reason).await?))
    }

    /// Owner (MANAGE_PAYOUTS) or admin: close the account for good.
    #[graphql(guard = "Authenticated")]
    async fn deactivate_connected_account(
        &self,
        ctx: &Context<'_>,
        connected_account_id: ID,
        reason: String,
    ) -> Result<ConnectedAccount, ApiError> {
        Ok(ConnectedAccount(svc(ctx)?.deactivate(actor(ctx), &connected_account_id, &reason).await?))
    }

    /// Admin: let a Malet whose last account ended SUSPENDED open a new one. Returns the
    /// Malet's accounts.
    #[graphql(guard = "Authenticated")]
    async fn allow_new_connected_account(
        &self,
        ctx: &Context<'_>,
        malet_id: ID,
        reason: String,
    ) -> Result<Vec<ConnectedAccount>, ApiError> {
        let malet_id = MaletId::parse(&malet_id)?;
        let rows = svc(ctx)?.allow_new_account(actor(ctx), &malet_id, &reason).await?;
        Ok(rows.into_iter().map(ConnectedAccount).collect())
    }

    /// Admin: confirm a MANUAL account (no provider onboarding), PENDING → ACTIVE.
    #[graphql(guard = "Authenticated")]
    async fn confirm_manual_account(
        &self,
        ctx: &Context<'_>,
        connected_account_id: ID,
        reason: String,
    ) -> Result<ConnectedAccount, ApiError> {
        Ok(ConnectedAccount(svc(ctx)?.confirm_manual(actor(ctx), &connected_account_id, &reason).await?))
    }

    /// Admin: record a payout made by hand to an account without provider payouts (MANUAL),
    /// once per `reference`. `amount` in minor units of the account's currency.
    #[graphql(guard = "Authenticated")]
    async fn record_manual_payout(
        &self,
        ctx: &Context<'_>,
        connected_account_id: ID,
        amount: i32,
        reference: String,
    ) -> Result<ConnectedAccount, ApiError> {
        let account =
            svc(ctx)?.record_manual_payout(actor(ctx), &connected_account_id, i64::from(amount), &reference).await?;
        Ok(ConnectedAccount(account))
    }
}
