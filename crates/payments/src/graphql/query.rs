use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use domain::ids::MaletId;
use service_core::graphql::{ApiError, Authenticated, actor};

use super::types::{ConnectedAccount, Malet, PayoutStatement, svc};

pub struct Query;

#[Object]
impl Query {
    /// The Malet's payout account (not DEACTIVATED), if any.
    #[graphql(guard = "Authenticated")]
    async fn connected_account(&self, ctx: &Context<'_>, malet_id: ID) -> Result<Option<ConnectedAccount>, ApiError> {
        let malet_id = MaletId::parse(&malet_id)?;
        Ok(svc(ctx)?.account_for_malet(actor(ctx), malet_id.as_str()).await?.map(ConnectedAccount))
    }

    /// A seller statement (VIEW_PAYOUTS on the Malet): the balances at `from`, every balance
    /// movement in `[from, to)` and the balances at `to`, over every account the Malet has had
    /// in `currency` (default: the live account's). At most 366 days and 10,000 lines
    /// (BAD_USER_INPUT beyond: ask for shorter periods). The same statement as CSV:
    /// `GET /statements/{maletId}.csv?from=…&to=…`.
    #[graphql(guard = "Authenticated")]
    async fn payout_statement(
        &self,
        ctx: &Context<'_>,
        malet_id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        currency: Option<String>,
    ) -> Result<PayoutStatement, ApiError> {
        let malet_id = MaletId::parse(&malet_id)?;
        let statement = svc(ctx)?.payout_statement(actor(ctx), &malet_id, from, to, currency.as_deref()).await?;
        Ok(PayoutStatement(statement))
    }

    /// Federation: a Malet reference. Its fields carry their own guards.
    // A denied representation fails the whole `_entities` batch (async-graphql propagates
    // the error to the list): safe, nothing leaks, but a router batching several Malets'
    // references for one actor gets one error. Field guards alone behave the same way.
    #[graphql(entity)]
    async fn find_malet_by_id(&self, id: ID) -> Result<Malet, ApiError> {
        Ok(Malet { id: ID(MaletId::parse(&id)?.into_string()) })
    }

    /// Federation: an account by id. async-graphql ignores guards on entity resolvers
    /// (upstream issue 1651): the service checks access and the type's guard checks every field.
    #[graphql(entity)]
    async fn find_connected_account_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Option<ConnectedAccount>, ApiError> {
        Ok(svc(ctx)?.account(actor(ctx), &id).await?.map(ConnectedAccount))
    }
}
