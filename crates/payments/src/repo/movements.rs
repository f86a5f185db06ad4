use domain::ledger_events::{BalanceEvent, BalanceEventKind};
use entity::{account_balances, balance_movements, connected_accounts};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
};
use service_core::db::sum_bigint;

/// The balances of an account: sums of its append-only movements (R-PAY-2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromQueryResult)]
pub struct Balances {
    pub total_earnings: i64,
    pub total_payouts: i64,
    pub pending_balance: i64,
    pub reserve_balance: i64,
}

/// Balances of an account in its currency (amounts of different currencies are never added):
/// the running balances row the movements trigger keeps, equal to the sums of the movements
/// (see [`balance_mismatches`]).
pub async fn balances<C: ConnectionTrait>(conn: &C, account_id: &str, currency: &str) -> Result<Balances, DbErr> {
    let row = account_balances::Entity::find_by_id((account_id.to_owned(), currency.to_owned())).one(conn).await?;
    Ok(row.map_or_else(Balances::default, |b| Balances {
        total_earnings: b.earnings,
        total_payouts: b.payouts,
        pending_balance: b.pending,
        reserve_balance: b.reserve,
    }))
}

/// Balances of an account summed from its movements (what the running balances must equal).
pub async fn summed_balances<C: ConnectionTrait>(
    conn: &C,
    account_id: &str,
    currency: &str,
) -> Result<Balances, DbErr> {
    Ok(balance_movements::Entity::find()
        .select_only()
        .column_as(sum_bigint("earnings_delta"), "total_earnings")
        .column_as(sum_bigint("payouts_delta"), "total_payouts")
        .column_as(sum_bigint("pending_delta"), "pending_balance")
        .column_as(sum_bigint("reserve_delta"), "reserve_balance")
        .filter(balance_movements::Column::AccountId.eq(account_id))
        .filter(balance_movements::Column::Currency.eq(currency))
        .into_model::<Balances>()
        .one(conn)
        .await?
        .unwrap_or_default())
}

/// The invariant of the running balances: every account's balances row equals the sums of its
/// movements. Returns the accounts where they differ (empty when the books agree). A full scan:
/// for checks and tests, not for requests.
pub async fn balance_mismatches<C: ConnectionTrait>(conn: &C) -> Result<Vec<String>, DbErr> {
    let pairs: Vec<(String, String)> = balance_movements::Entity::find()
        .select_only()
        .column(balance_movements::Column::AccountId)
        .column(balance_movements::Column::Currency)
        .distinct()
        .into_tuple()
        .all(conn)
        .await?;
    let mut out = Vec::new();
    // A balances row with no movement behind it is drift too.
    for row in account_balances::Entity::find().all(conn).await? {
        if !pairs.iter().any(|(a, c)| *a == row.account_id && *c == row.currency) && row.movements != 0 {
            out.push(format!(
                "account {} {}: running balances without movements: {row:?}",
                row.account_id, row.currency
            ));
        }
    }
    for (account, currency) in pairs {
        let (kept, summed) =
            (balances(conn, &account, &currency).await?, summed_balances(conn, &account, &currency).await?);
        if kept != summed {
            out.push(format!("account {account} {currency}: running {kept:?}, movements {summed:?}"));
        }
    }
    Ok(out)
}

pub use entity::enums::MovementKind;

/// One movement to append; `idempotency_key` makes the append happen at most once. Built by one
/// constructor per kind, which decides which balances move and how: a call site never writes a
/// delta by hand.
#[derive(Debug, Clone)]
pub struct NewMovement<'a> {
    account_id: &'a str,
    malet_id: &'a str,
    kind: MovementKind,
    currency: &'a str,
    earnings_delta: i64,
    pending_delta: i64,
    reserve_delta: i64,
    payouts_delta: i64,
    source_type: &'a str,
    source_id: &'a str,
    idempotency_key: &'a str,
    memo: Option<String>,
}

impl<'a> NewMovement<'a> {
    fn on(
        account: &'a connected_accounts::Model,
        kind: MovementKind,
        currency: &'a str,
        [earnings_delta, pending_delta, reserve_delta, payouts_delta]: [i64; 4],
        (source_type, source_id): (&'a str, &'a str),
        idempotency_key: &'a str,
    ) -> Self {
        NewMovement {
            account_id: &account.id,
            malet_id: &account.malet_id,
            kind,
            currency,
            earnings_delta,
            pending_delta,
            reserve_delta,
            payouts_delta,
            source_type,
            source_id,
            idempotency_key,
            memo: None,
        }
    }

    pub fn memo(mut self, memo: Option<String>) -> Self {
        self.memo = memo;
        self
    }

    /// The seller's share of a ledger change: `earned` (net plus reserve) is earned, of which
    /// `to_pending` is payable and `to_reserve` held.
    pub fn ledger_share(
        account: &'a connected_accounts::Model,
        kind: BalanceEventKind,
        event: &'a BalanceEvent,
        to_pending: i64,
        to_reserve: i64,
        idempotency_key: &'a str,
    ) -> Option<Self> {
        let kind = match kind {
            BalanceEventKind::Earning => MovementKind::Earning,
            BalanceEventKind::RefundClawback => MovementKind::RefundClawback,
            BalanceEventKind::Adjustment => MovementKind::Adjustment,
            BalanceEventKind::Dispute => MovementKind::Dispute,
            BalanceEventKind::Reversal => MovementKind::Reversal,
            BalanceEventKind::Receivable => MovementKind::Receivable,
            BalanceEventKind::Settled => return None,
        };
        let earned = event.net_delta + event.reserve_delta;
        // A receivable is its own record (murchases' `commission_receivables`), not a ledger entry.
        let source = if kind == MovementKind::Receivable { "receivable" } else { "ledger" };
        Some(Self::on(
            account,
            kind,
            event.currency.code(),
            [earned, to_pending, to_reserve, 0],
            (source, &event.ledger_id),
            idempotency_key,
        ))
    }

    /// A payout left the pending balance.
    pub fn payout(
        account: &'a connected_accounts::Model,
        currency: &'a str,
        amount: i64,
        payout_id: &'a str,
        idempotency_key: &'a str,
    ) -> Self {
        Self::on(
            account,
            MovementKind::Payout,
            currency,
            [0, -amount, 0, amount],
            ("payout", payout_id),
            idempotency_key,
        )
    }

    /// A payout counted as paid failed or came back: the money is pending again.
    pub fn payout_returned(
        account: &'a connected_accounts::Model,
        currency: &'a str,
        amount: i64,
        payout_id: &'a str,
        idempotency_key: &'a str,
    ) -> Self {
        Self::on(
            account,
            MovementKind::PayoutFailed,
            currency,
            [0, amount, 0, -amount],
            ("payout", payout_id),
            idempotency_key,
        )
    }

    /// A held reserve was released to the pending balance.
    pub fn reserve_release(
        account: &'a connected_accounts::Model,
        currency: &'a str,
        amount: i64,
        hold_id: &'a str,
        idempotency_key: &'a str,
    ) -> Self {
        Self::on(
            account,
            MovementKind::ReserveRelease,
            currency,
            [0, amount, -amount, 0],
            ("reserve_hold", hold_id),
            idempotency_key,
        )
    }

    /// A reserve release whose transfer the provider refused: the money goes back from the
    /// pending balance to the reserve.
    pub fn release_reversed(
        account: &'a connected_accounts::Model,
        currency: &'a str,
        amount: i64,
        hold_id: &'a str,
        idempotency_key: &'a str,
    ) -> Self {
        Self::on(
            account,
            MovementKind::Reversal,
            currency,
            [0, -amount, amount, 0],
            ("reserve_hold", hold_id),
            idempotency_key,
        )
    }

    /// A (negative) pending balance carried between a Malet's accounts: `delta` on `account`.
    pub fn carry(
        account: &'a connected_accounts::Model,
        delta: i64,
        from_account_id: &'a str,
        idempotency_key: &'a str,
    ) -> Self {
        Self::on(
            account,
            MovementKind::BalanceCarry,
            &account.currency,
            [0, delta, 0, 0],
            ("account", from_account_id),
            idempotency_key,
        )
    }
}

/// Appends a movement; returns false when its idempotency key was already used.
pub async fn append<C: ConnectionTrait>(conn: &C, m: NewMovement<'_>) -> Result<bool, DbErr> {
    let res = balance_movements::Entity::insert(balance_movements::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        account_id: Set(m.account_id.to_owned()),
        malet_id: Set(m.malet_id.to_owned()),
        kind: Set(m.kind),
        currency: Set(m.currency.to_owned()),
        earnings_delta: Set(m.earnings_delta),
        pending_delta: Set(m.pending_delta),
        reserve_delta: Set(m.reserve_delta),
        payouts_delta: Set(m.payouts_delta),
        source_type: Set(m.source_type.to_owned()),
        source_id: Set(m.source_id.to_owned()),
        idempotency_key: Set(m.idempotency_key.to_owned()),
        memo: Set(m.memo),
        created_at: Set(service_core::clock::now()),
    })
    .on_conflict_do_nothing_on([balance_movements::Column::IdempotencyKey])
    .exec(conn)
    .await?;
    Ok(matches!(res, sea_orm::TryInsertResult::Inserted(_)))
}
