//! Seller statements (issue 12 item 4): a Malet's balances over a period, line by line.
//!
//! A statement covers every account the Malet has had (a deactivated old one and the live one)
//! in one currency (default: the live account's), since a balance carried between them is two
//! movements that cancel out. Its opening balance is the sum of those accounts' movements
//! created before `from`, its closing balance the sum of those created before `to`, and its
//! lines are the movements in between, ordered by time then id, each with the running balance
//! after it: opening + lines = closing exactly (checked, and read in one snapshot). The closing
//! balance is therefore the accounts' pending and reserve balances at `to`.
//!
//! A period is at most [`MAX_PERIOD_DAYS`] long and a statement at most [`MAX_LINES`] lines; a
//! longer one is refused (BAD_USER_INPUT) and should be asked for in shorter periods.

use chrono::{DateTime, NaiveDate, Utc};
use domain::ids::MaletId;
use domain::money::Currency;
use domain::permissions::{Actor, Permission};
use domain::schedule::{PayoutInterval, PayoutSchedule};
use entity::enums::{AccountStatus, MovementKind};
use entity::queries::{EarningSplit, SaleFacts};
use entity::{balance_movements, connected_accounts};
use sea_orm::{AccessMode, DbBackend, IsolationLevel, TransactionOptions, TransactionTrait};

use super::{Payments, ServiceError, ServiceResult};
use crate::repo;

/// The longest period one statement covers.
pub const MAX_PERIOD_DAYS: i64 = 366;
/// The most lines one statement has; a period with more is refused.
pub const MAX_LINES: usize = 10_000;

/// What a line is: one per movement kind (an earning's reserve hold is the reserve part of its
/// sale line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineKind {
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
    /// the seller and recovered from its next earnings; or given back when the order is
    /// cancelled.
    Receivable,
}

impl LineKind {
    /// Every movement kind maps to one line kind (exhaustive: a new movement kind needs one).
    pub fn of(kind: MovementKind) -> Self {
        match kind {
            MovementKind::Earning => LineKind::Sale,
            MovementKind::RefundClawback => LineKind::RefundClawback,
            MovementKind::Adjustment => LineKind::Adjustment,
            MovementKind::Payout => LineKind::Payout,
            MovementKind::PayoutFailed => LineKind::PayoutReturned,
            MovementKind::ReserveRelease => LineKind::ReserveRelease,
            MovementKind::BalanceCarry => LineKind::BalanceCarry,
            MovementKind::Dispute => LineKind::Dispute,
            MovementKind::Reversal => LineKind::Reversal,
            MovementKind::Receivable => LineKind::Receivable,
        }
    }

    /// The stable code (the CSV `kind` column, the GraphQL enum value).
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Sale => "SALE",
            LineKind::RefundClawback => "REFUND_CLAWBACK",
            LineKind::Adjustment => "ADJUSTMENT",
            LineKind::Payout => "PAYOUT",
            LineKind::PayoutReturned => "PAYOUT_RETURNED",
            LineKind::ReserveRelease => "RESERVE_RELEASE",
            LineKind::BalanceCarry => "BALANCE_CARRY",
            LineKind::Dispute => "DISPUTE",
            LineKind::Reversal => "REVERSAL",
            LineKind::Receivable => "RECEIVABLE",
        }
    }

    /// The human label a description starts with.
    pub fn label(self) -> &'static str {
        match self {
            LineKind::Sale => "Sale",
            LineKind::RefundClawback => "Refund clawback",
            LineKind::Adjustment => "Commission adjustment",
            LineKind::Payout => "Payout",
            LineKind::PayoutReturned => "Payout returned",
            LineKind::ReserveRelease => "Reserve released",
            LineKind::BalanceCarry => "Balance carried between accounts",
            LineKind::Dispute => "Dispute",
            LineKind::Reversal => "Reversal",
            LineKind::Receivable => "Commission owed on a storefront-collected order",
        }
    }
}

/// A pending and a reserve balance; the seller's balance is both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatementBalance {
    pub pending: i64,
    pub reserve: i64,
}

fn overflow() -> ServiceError {
    ServiceError::Internal("statement amounts overflow i64".into())
}

impl StatementBalance {
    /// Pending plus reserve.
    pub fn total(&self) -> ServiceResult<i64> {
        self.pending.checked_add(self.reserve).ok_or_else(overflow)
    }

    fn plus(&self, pending: i64, reserve: i64) -> ServiceResult<Self> {
        Ok(StatementBalance {
            pending: self.pending.checked_add(pending).ok_or_else(overflow)?,
            reserve: self.reserve.checked_add(reserve).ok_or_else(overflow)?,
        })
    }
}

/// How a sale split when it was paid (from its ledger entry and EARNING posting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaleParts {
    pub gross: i64,
    pub commission: i64,
    pub processing_fee: i64,
    pub reserve: i64,
    pub affiliate: i64,
    pub net: i64,
}

/// One movement of the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    /// The movement's id.
    pub id: String,
    pub at: DateTime<Utc>,
    pub kind: LineKind,
    pub account_id: String,
    pub ledger_id: Option<String>,
    pub order_id: Option<String>,
    /// What moved it (`ledger`, `payout`, `reserve_hold`, `account`) and its id.
    pub source_type: String,
    pub source_id: String,
    pub description: String,
    pub pending_delta: i64,
    pub reserve_delta: i64,
    pub earnings_delta: i64,
    pub payouts_delta: i64,
    /// The balances right after this line.
    pub balance_after: StatementBalance,
    /// A sale line's split, where the ledger knows it.
    pub sale: Option<SaleParts>,
}

impl StatementLine {
    /// The line's change of the seller's balance (pending plus reserve).
    pub fn delta(&self) -> ServiceResult<i64> {
        self.pending_delta.checked_add(self.reserve_delta).ok_or_else(overflow)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub malet_id: String,
    pub currency: Currency,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The Malet's accounts the statement covers (those in its currency, and any with a line).
    pub account_ids: Vec<String>,
    pub opening: StatementBalance,
    pub lines: Vec<StatementLine>,
    pub closing: StatementBalance,
    /// The live account's schedule (when it settles in this currency).
    pub payout_schedule: Option<PayoutSchedule>,
    /// The next payout day after today by that schedule, for an ACTIVE account; `None` for
    /// MANUAL payouts, no schedule set, or no ACTIVE account in this currency.
    pub next_payout_date: Option<NaiveDate>,
}

/// Checks a statement period: `from` before `to`, at most [`MAX_PERIOD_DAYS`].
pub fn check_period(from: DateTime<Utc>, to: DateTime<Utc>) -> ServiceResult<()> {
    if from >= to {
        return Err(ServiceError::BadInput("from must be before to".into()));
    }
    if to.signed_duration_since(from) > chrono::Duration::days(MAX_PERIOD_DAYS) {
        return Err(ServiceError::BadInput(format!("a statement covers at most {MAX_PERIOD_DAYS} days")));
    }
    Ok(())
}

/// The stored schedule of an account, if one was set.
fn schedule_of(account: &connected_accounts::Model) -> ServiceResult<Option<PayoutSchedule>> {
    let Some(interval) = account.payout_interval.as_deref() else {
        return Ok(None);
    };
    let interval: PayoutInterval =
        interval.parse().map_err(|e| ServiceError::Internal(format!("stored payout interval: {e}")))?;
    PayoutSchedule::parse(
        interval,
        account.payout_day_of_week.map(i64::from),
        account.payout_day_of_month.map(i64::from),
    )
    .map(Some)
    .map_err(|e| ServiceError::Internal(format!("stored payout schedule: {e}")))
}

impl Payments {
    /// The statement of `malet`'s balances in `currency` (default: the live account's) over
    /// `[from, to)` (VIEW_PAYOUTS on the Malet, checked before anything is read).
    pub async fn payout_statement(
        &self,
        actor: &Actor,
        malet: &MaletId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        currency: Option<&str>,
    ) -> ServiceResult<Statement> {
        actor.can(Permission::ViewPayouts, malet.as_str())?;
        check_period(from, to)?;
        let currency = currency.map(Currency::parse).transpose().map_err(ServiceError::bad_input)?;
        // One snapshot: the sums and the lines see the same movements.
        let options = if self.db.get_database_backend() == DbBackend::Postgres {
            TransactionOptions {
                isolation_level: Some(IsolationLevel::RepeatableRead),
                access_mode: Some(AccessMode::ReadOnly),
                sqlite_transaction_mode: None,
            }
        } else {
            TransactionOptions::default()
        };
        let txn = self.db.begin_with_options(options).await?;
        let accounts = repo::accounts::all_for_malet(&txn, malet.as_str()).await?;
        let live = accounts.iter().find(|a| a.status != AccountStatus::Deactivated);
        let currency = match (currency, live.or(accounts.last())) {
            (Some(c), _) => c,
            (None, Some(account)) => Currency::parse(&account.currency).map_err(ServiceError::bad_input)?,
            (None, None) => return Err(ServiceError::NotFound(format!("connected account of Malet {malet}"))),
        };
        let code = currency.code();
        let ids: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
        let opening = repo::statements::sums_before(&txn, &ids, code, from).await?;
        let limit = u64::try_from(MAX_LINES).unwrap_or(u64::MAX).saturating_add(1);
        let rows = repo::statements::movements_between(&txn, &ids, code, (from, to), limit).await?;
        if rows.len() > MAX_LINES {
            return Err(ServiceError::BadInput(format!(
                "the period has more than {MAX_LINES} lines: ask for shorter periods"
            )));
        }
        let closing = repo::statements::sums_before(&txn, &ids, code, to).await?;
        let facts = Facts::read(&txn, &rows).await?;
        txn.commit().await?;

        let opening = StatementBalance { pending: opening.pending, reserve: opening.reserve };
        let closing = StatementBalance { pending: closing.pending, reserve: closing.reserve };
        let mut running = opening;
        let mut lines = Vec::with_capacity(rows.len());
        for m in rows {
            running = running.plus(m.pending_delta, m.reserve_delta)?;
            lines.push(facts.line(m, running, currency));
        }
        if running != closing {
            return Err(ServiceError::Internal(format!(
                "statement of {malet} does not balance: opening {opening:?} + lines = {running:?}, closing {closing:?}"
            )));
        }
        let mut account_ids: Vec<String> = accounts
            .iter()
            .filter(|a| a.currency == code)
            .map(|a| a.id.clone())
            .chain(lines.iter().map(|l| l.account_id.clone()))
            .collect();
        account_ids.sort();
        account_ids.dedup();
        let live = live.filter(|a| a.currency == code);
        let payout_schedule = live.map(schedule_of).transpose()?.flatten();
        let next_payout_date = match (live, payout_schedule) {
            (Some(a), Some(s)) if a.status == AccountStatus::Active => {
                s.next_payout_after(service_core::clock::now().date_naive())
            }
            _ => None,
        };
        Ok(Statement {
            malet_id: malet.as_str().to_owned(),
            currency,
            from,
            to,
            account_ids,
            opening,
            lines,
            closing,
            payout_schedule,
            next_payout_date,
        })
    }
}

/// What the lines name: the sale of each ledger entry, the entry of each reserve hold.
struct Facts {
    sales: std::collections::HashMap<String, SaleFacts>,
    holds: std::collections::HashMap<String, String>,
}

impl Facts {
    async fn read<C: sea_orm::ConnectionTrait>(conn: &C, rows: &[balance_movements::Model]) -> ServiceResult<Self> {
        let holds: Vec<String> = rows
            .iter()
            .filter(|m| m.source_type == "reserve_hold")
            .map(|m| m.source_id.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let holds: std::collections::HashMap<String, String> =
            repo::statements::hold_ledgers(conn, &holds).await?.into_iter().collect();
        let ledgers: Vec<String> = rows
            .iter()
            .filter(|m| m.source_type == "ledger")
            .map(|m| m.source_id.clone())
            .chain(holds.values().cloned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let sales =
            entity::queries::sale_facts(conn, &ledgers).await?.into_iter().map(|f| (f.ledger_id.clone(), f)).collect();
        Ok(Facts { sales, holds })
    }

    fn line(&self, m: balance_movements::Model, balance_after: StatementBalance, currency: Currency) -> StatementLine {
        let kind = LineKind::of(m.kind);
        let ledger_id = match m.source_type.as_str() {
            "ledger" => Some(m.source_id.clone()),
            "reserve_hold" => self.holds.get(&m.source_id).cloned(),
            _ => None,
        };
        let facts = ledger_id.as_ref().and_then(|id| self.sales.get(id));
        let order_id = facts.map(|f| f.order_id.clone());
        let sale = match (kind, facts) {
            (LineKind::Sale, Some(f)) => f.earning.map(|e: EarningSplit| SaleParts {
                gross: f.gross,
                commission: e.commission,
                processing_fee: f.processing_fee,
                reserve: e.reserve,
                affiliate: e.affiliate,
                net: e.net,
            }),
            _ => None,
        };
        let money = |v: i64| currency.decimal_from_minor(v);
        let mut description = kind.label().to_owned();
        match (&order_id, kind) {
            (Some(order), _) => description.push_str(&format!(" (order {order})")),
            (None, LineKind::Payout | LineKind::PayoutReturned) => description.push_str(&format!(" {}", m.source_id)),
            (None, LineKind::BalanceCarry) => description.push_str(&format!(" (account {})", m.source_id)),
            (None, LineKind::Receivable) => description.push_str(&format!(" (receivable {})", m.source_id)),
            _ => {}
        }
        if let Some(s) = &sale {
            description.push_str(&format!(
                ": gross {}, commission {}, processing fee {}, affiliate {}, reserve held {}, net {}",
                money(s.gross),
                money(s.commission),
                money(s.processing_fee),
                money(s.affiliate),
                money(s.reserve),
                money(s.net)
            ));
        }
        if let Some(memo) = m.memo.as_deref().filter(|t| !t.is_empty()) {
            description.push_str(&format!("; {memo}"));
        }
        StatementLine {
            id: m.id,
            at: m.created_at,
            kind,
            account_id: m.account_id,
            ledger_id,
            order_id,
            source_type: m.source_type,
            source_id: m.source_id,
            description,
            pending_delta: m.pending_delta,
            reserve_delta: m.reserve_delta,
            earnings_delta: m.earnings_delta,
            payouts_delta: m.payouts_delta,
            balance_after,
            sale,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_movement_kind_has_a_line_kind_with_its_own_code() {
        use sea_orm::Iterable;
        let codes: std::collections::BTreeSet<&str> = MovementKind::iter().map(|k| LineKind::of(k).as_str()).collect();
        assert_eq!(codes.len(), MovementKind::iter().count(), "two movement kinds share a line code");
        assert_eq!(LineKind::of(MovementKind::PayoutFailed).as_str(), "PAYOUT_RETURNED");
    }

    #[test]
    fn periods_are_bounded() {
        let t = |d: i64| DateTime::from_timestamp(1_764_000_000 + d * 86_400, 0).expect("time");
        assert!(check_period(t(0), t(30)).is_ok());
        assert!(check_period(t(0), t(366)).is_ok());
        assert!(matches!(check_period(t(0), t(367)), Err(ServiceError::BadInput(_))));
        assert!(matches!(check_period(t(1), t(1)), Err(ServiceError::BadInput(_))));
        assert!(matches!(check_period(t(2), t(1)), Err(ServiceError::BadInput(_))));
    }

    #[test]
    fn balances_add_with_checks() {
        let b = StatementBalance { pending: i64::MAX, reserve: 0 };
        assert!(b.plus(1, 0).is_err());
        assert!(StatementBalance { pending: i64::MAX, reserve: 1 }.total().is_err());
        assert_eq!(StatementBalance { pending: -5, reserve: 7 }.total().ok(), Some(2));
    }
}
