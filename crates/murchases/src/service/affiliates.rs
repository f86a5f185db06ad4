//! Affiliates as payees (issue 13, item 2; R-AFF-1…R-AFF-4). An affiliate is registered by an admin with its
//! own payout account. What it earned is never copied out of the ledger: it is the current
//! `affiliate_amount` of the entries that name it (a refund lowers it by a posting, a lost
//! dispute forfeits it), so every figure here is a sum of postings less what was paid.
//!
//! An entry's share is *held* until `AFFILIATE_HOLD_DAYS` (default 30) after the entry settles
//! (the refund window), then *due*. The payout job pays an ACTIVE affiliate its balance, due
//! less paid, when it is positive: one transfer through an outgoing movement, decided under a
//! lock of the affiliate's row, so replicas and retries never pay twice. A refund after a payout
//! makes the balance negative; the next shares that fall due pay that debt first.

use chrono::{DateTime, Duration, Utc};
use domain::ids::AffiliateId;
use domain::money::Currency;
use domain::permissions::{Actor, Permission};
use domain::provider::{CreateAccount, OnboardingLink, OnboardingLinkRequest, OutgoingKind, ProviderKind};
use entity::enums::{AffiliatePayoutStatus, AffiliateStatus, MovementOwner};
use entity::{affiliate_payouts, affiliates, commission_ledger};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use service_core::audit::{self, AuditEntry};
use service_core::clock;
use service_core::outgoing::{self, NewOutgoing};

use super::{Murchases, ServiceError, ServiceResult};

/// The posting key of an affiliate payout's movement (`affiliate-payout:<payout id>`).
pub(crate) const PAYOUT_KEY_PREFIX: &str = "affiliate-payout:";

/// After a payout the provider refused, the next attempt waits this long.
const RETRY_AFTER_FAILURE: Duration = Duration::hours(24);

/// Lines shown per affiliate view, newest first.
const LINES: u64 = 100;

/// One order's share for an affiliate, as its entry stands now.
#[derive(Debug, Clone)]
pub struct AffiliateLine {
    pub entry: commission_ledger::Model,
    /// The share it earns now: the entry's affiliate amount, or 0 after a lost dispute.
    pub earned: i64,
    /// When the share falls due: `AFFILIATE_HOLD_DAYS` after the entry settled (none before).
    pub due_at: Option<DateTime<Utc>>,
}

/// An affiliate's earnings in its currency.
#[derive(Debug, Clone)]
pub struct AffiliateView {
    pub id: String,
    pub registration: Option<affiliates::Model>,
    pub currency: String,
    /// Every share earned (held and due).
    pub earned: i64,
    /// Shares still in their refund window.
    pub held: i64,
    /// Shares out of their window.
    pub due: i64,
    /// Paid out (or being paid).
    pub paid: i64,
    /// Due less paid: what the next payout pays, or (negative) a debt the next shares pay first.
    pub balance: i64,
    pub lines: Vec<AffiliateLine>,
    pub payouts: Vec<affiliate_payouts::Model>,
}

/// The sums of an affiliate's entries as of `now`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Sums {
    earned: i64,
    held: i64,
    due: i64,
}

fn overflow() -> ServiceError {
    ServiceError::Internal("affiliate amounts overflow".into())
}

impl Murchases {
    /// The share an entry earns its affiliate now: nothing while a dispute's funds are withdrawn
    /// (a lost dispute, or Stripe's withdrawal when it opens; a won one restores it), else the
    /// entry's affiliate amount (lowered by refunds).
    fn earned_by(entry: &commission_ledger::Model) -> i64 {
        if entry.dispute_debit > 0 { 0 } else { entry.affiliate_amount }
    }

    fn due_at(&self, entry: &commission_ledger::Model) -> Option<DateTime<Utc>> {
        entry.settlement_date.map(|s| s + Duration::days(self.affiliate_hold_days))
    }

    async fn affiliate_sums<C: ConnectionTrait>(
        &self,
        conn: &C,
        affiliate_id: &str,
        currency: &str,
        now: DateTime<Utc>,
    ) -> ServiceResult<Sums> {
        // Summed by the database over the affiliate's index: what [`Self::earned_by`] counts, and
        // of it what [`Self::due_at`] makes due by `now`.
        let sum = |settled_by| crate::repo::ledger::affiliate_shares_select(affiliate_id, currency, settled_by);
        let earned = sum(None).into_tuple::<i64>().one(conn).await?.unwrap_or(0);
        let settled_by = now - Duration::days(self.affiliate_hold_days);
        let due = sum(Some(settled_by)).into_tuple::<i64>().one(conn).await?.unwrap_or(0);
        Ok(Sums { earned, held: earned.checked_sub(due).ok_or_else(overflow)?, due })
    }

    /// An affiliate's sums as of `now`, what was paid, and its balance (due less paid).
    async fn affiliate_balance<C: ConnectionTrait>(
        &self,
        conn: &C,
        affiliate_id: &str,
        currency: &str,
        now: DateTime<Utc>,
    ) -> ServiceResult<(Sums, i64, i64)> {
        let sums = self.affiliate_sums(conn, affiliate_id, currency, now).await?;
        let paid = self.affiliate_paid(conn, affiliate_id, currency).await?;
        let balance = sums.due.checked_sub(paid).ok_or_else(overflow)?;
        Ok((sums, paid, balance))
    }

    /// The affiliate's row, locked for the payout decision (PostgreSQL; SQLite's write
    /// transaction holds the whole database).
    async fn locked_affiliate(txn: &DatabaseTransaction, id: &str) -> ServiceResult<Option<affiliates::Model>> {
        let select = affiliates::Entity::find_by_id(id.to_owned());
        let select = if txn.get_database_backend() == DbBackend::Postgres { select.lock_exclusive() } else { select };
        Ok(select.one(txn).await?)
    }

    /// Paid out so far (payouts made or being made; refused ones are due again).
    async fn affiliate_paid<C: ConnectionTrait>(
        &self,
        conn: &C,
        affiliate_id: &str,
        currency: &str,
    ) -> ServiceResult<i64> {
        Ok(affiliate_payouts::Entity::find()
            .select_only()
            .column_as(service_core::db::sum_bigint("amount"), "total")
            .filter(affiliate_payouts::Column::AffiliateId.eq(affiliate_id))
            .filter(affiliate_payouts::Column::Currency.eq(currency))
            .filter(affiliate_payouts::Column::Status.ne(AffiliatePayoutStatus::Failed))
            .into_tuple::<i64>()
            .one(conn)
            .await?
            .unwrap_or(0))
    }

    /// `registerAffiliate`: an admin registers an affiliate with the payout account it is paid
    /// to: a Stripe connected account (`acct_…`, onboarded with Stripe), a PayPal id (paid by
    /// Payouts items) or MANUAL (paid by hand and recorded with `recordAffiliatePayout`).
    pub async fn register_affiliate(
        &self,
        actor: &Actor,
        id: &AffiliateId,
        provider: ProviderKind,
        provider_account_id: Option<&str>,
        currency: Currency,
    ) -> ServiceResult<affiliates::Model> {
        actor.can_admin(Permission::ManageCommissions)?;
        let account = provider_account_id.map(str::trim).filter(|a| !a.is_empty());
        match (provider, account) {
            (ProviderKind::StripeConnect, Some(a)) if a.starts_with("acct_") && a.len() <= 255 => {
                self.providers.get(provider)?;
            }
            (ProviderKind::StripeConnect, _) => {
                return Err(ServiceError::BadInput(
                    "a Stripe affiliate needs its connected account id (acct_…)".into(),
                ));
            }
            (ProviderKind::Paypal, Some(a))
                if (1..=64).contains(&a.len()) && a.chars().all(|c| c.is_ascii_alphanumeric()) =>
            {
                self.providers.get(provider)?;
            }
            (ProviderKind::Paypal, _) => {
                return Err(ServiceError::BadInput("a PayPal affiliate needs its PayPal id (payer id)".into()));
            }
            (ProviderKind::Manual, None) => {}
            (ProviderKind::Manual, Some(_)) => {
                return Err(ServiceError::BadInput("a MANUAL affiliate has no provider account".into()));
            }
            (other, _) => {
                return Err(ServiceError::BadInput(format!("affiliates cannot be paid through {other} yet")));
            }
        }
        let txn = service_core::db::begin_write(&self.db).await?;
        if affiliates::Entity::find_by_id(id.as_str().to_owned()).one(&*txn).await?.is_some() {
            return Err(ServiceError::Conflict(format!("affiliate {id} is already registered")));
        }
        if let Some(a) = account
            && let Some(other) = affiliates::Entity::find()
                .filter(affiliates::Column::Provider.eq(entity::enums::Provider::from(provider)))
                .filter(affiliates::Column::ProviderAccountId.eq(a))
                .one(&*txn)
                .await?
        {
            return Err(ServiceError::Conflict(format!("account {a} already pays affiliate {}", other.id)));
        }
        let now = clock::now();
        let created_by = actor.subject().unwrap_or("unknown");
        let row = affiliates::ActiveModel {
            id: Set(id.as_str().to_owned()),
            provider: Set(provider.into()),
            provider_account_id: Set(account.map(str::to_owned)),
            currency: Set(currency.code().to_owned()),
            status: Set(AffiliateStatus::Active),
            created_by: Set(created_by.to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&*txn)
        .await?;
        audit::record(
            &txn,
            AuditEntry {
                actor: created_by,
                action: "register_affiliate",
                entity_type: "affiliate",
                entity_id: id.as_str(),
                malet_id: None,
                before: None,
                after: Some(serde_json::json!({"provider": provider.to_string(), "account": account,
                    "currency": currency.code()})),
                reason: None,
            },
        )
        .await?;
        txn.commit().await?;
        Ok(row)
    }

    /// `startAffiliateOnboarding`: an affiliate onboards itself through the provider's hosted
    /// onboarding, as a seller does (or an admin starts it for it): a Stripe connected account is
    /// created once (key `affiliate-account:<id>`), the affiliate is ONBOARDING, and each call
    /// returns a fresh onboarding link. The provider's `account.updated` with charges and payouts
    /// enabled makes it ACTIVE (see `on_affiliate_account`).
    pub async fn start_affiliate_onboarding(
        &self,
        actor: &Actor,
        id: &AffiliateId,
        currency: Currency,
    ) -> ServiceResult<(affiliates::Model, OnboardingLink)> {
        actor.can_affiliate(Permission::ManagePayouts, id.as_str())?;
        let provider = ProviderKind::StripeConnect;
        let api = self.providers.get(provider)?;
        let existing = affiliates::Entity::find_by_id(id.as_str().to_owned()).one(&self.db).await?;
        let row = match existing {
            Some(row) if row.status == AffiliateStatus::Onboarding => row,
            Some(row) => {
                return Err(ServiceError::Conflict(format!("affiliate {id} is already registered ({})", row.status)));
            }
            None => {
                let created = api
                    .create_account(CreateAccount {
                        // The same parameters whoever calls (the key is the affiliate's).
                        malet_id: id.as_str().to_owned(),
                        user_id: format!("affiliate:{id}"),
                        country: None,
                        email: None,
                        idempotency_key: format!("affiliate-account:{id}"),
                    })
                    .await?;
                let account = created
                    .provider_account_id
                    .ok_or_else(|| ServiceError::Internal("the provider returned no account id".into()))?;
                let txn = service_core::db::begin_write(&self.db).await?;
                let now = clock::now();
                let by = actor.subject().unwrap_or("unknown");
                // A concurrent call made the same account (same key): keep the first row.
                let inserted = affiliates::Entity::insert(affiliates::ActiveModel {
                    id: Set(id.as_str().to_owned()),
                    provider: Set(provider.into()),
                    provider_account_id: Set(Some(account.clone())),
                    currency: Set(currency.code().to_owned()),
                    status: Set(AffiliateStatus::Onboarding),
                    created_by: Set(by.to_owned()),
                    created_at: Set(now),
                    updated_at: Set(now),
                })
                .on_conflict_do_nothing_on([affiliates::Column::Id])
                .exec_without_returning(&*txn)
                .await?;
                if matches!(inserted, sea_orm::TryInsertResult::Inserted(1)) {
                    audit::record(
                        &txn,
                        AuditEntry {
                            actor: by,
                            action: "start_affiliate_onboarding",
                            entity_type: "affiliate",
                            entity_id: id.as_str(),
                            malet_id: None,
                            before: None,
                            after: Some(serde_json::json!({"provider": provider.to_string(), "account": account})),
                            reason: None,
                        },
                    )
                    .await?;
                }
                let row = affiliates::Entity::find_by_id(id.as_str().to_owned())
                    .one(&*txn)
                    .await?
                    .ok_or_else(|| ServiceError::Internal("affiliate just registered".into()))?;
                txn.commit().await?;
                if row.status != AffiliateStatus::Onboarding {
                    return Err(ServiceError::Conflict(format!(
                        "affiliate {id} is already registered ({})",
                        row.status
                    )));
                }
                row
            }
        };
        let link = api
            .onboarding_link(OnboardingLinkRequest {
                account_id: row.id.clone(),
                provider_account_id: row.provider_account_id.clone(),
                refresh_url: self.affiliate_onboarding.refresh_url.clone(),
                return_url: self.affiliate_onboarding.return_url.clone(),
            })
            .await?;
        Ok((row, link))
    }

    /// A provider's account snapshot (from the webhook, in its transaction): an ONBOARDING
    /// affiliate whose account can now take charges and payouts becomes ACTIVE. `None` when the
    /// account is no affiliate's.
    pub(crate) async fn on_affiliate_account(
        &self,
        txn: &DatabaseTransaction,
        provider: ProviderKind,
        snapshot: &domain::events::AccountSnapshot,
    ) -> ServiceResult<Option<bool>> {
        let Some(row) = affiliates::Entity::find()
            .filter(affiliates::Column::Provider.eq(entity::enums::Provider::from(provider)))
            .filter(affiliates::Column::ProviderAccountId.eq(snapshot.provider_account_id.clone()))
            .one(txn)
            .await?
        else {
            return Ok(None);
        };
        if row.status != AffiliateStatus::Onboarding || !(snapshot.charges_enabled && snapshot.payouts_enabled) {
            return Ok(Some(false));
        }
        let updated = affiliates::Entity::update_many()
            .col_expr(affiliates::Column::Status, Expr::value(AffiliateStatus::Active.as_str()))
            .col_expr(affiliates::Column::UpdatedAt, Expr::value(clock::now()))
            .filter(affiliates::Column::Id.eq(row.id.clone()))
            .filter(affiliates::Column::Status.eq(AffiliateStatus::Onboarding.as_str()))
            .exec(txn)
            .await?;
        if updated.rows_affected == 1 {
            audit::record(
                txn,
                AuditEntry {
                    actor: &provider.to_string(),
                    action: "affiliate_activated",
                    entity_type: "affiliate",
                    entity_id: &row.id,
                    malet_id: None,
                    before: Some(serde_json::json!({"status": "ONBOARDING"})),
                    after: Some(serde_json::json!({"status": "ACTIVE"})),
                    reason: None,
                },
            )
            .await?;
        }
        Ok(Some(updated.rows_affected == 1))
    }

    /// `affiliate(id)`: the affiliate itself (JWT claim `affiliate`) or a platform admin.
    pub async fn affiliate(&self, actor: &Actor, id: &AffiliateId) -> ServiceResult<AffiliateView> {
        actor.can_affiliate(Permission::ViewRevenue, id.as_str())?;
        self.affiliate_view(actor, id).await
    }

    /// The affiliate's figures, for a caller already allowed (by `affiliate`, or by the mutation
    /// that just changed it).
    pub async fn affiliate_view(&self, actor: &Actor, id: &AffiliateId) -> ServiceResult<AffiliateView> {
        let registration = affiliates::Entity::find_by_id(id.as_str().to_owned()).one(&self.db).await?;
        let entries = commission_ledger::Entity::find()
            .filter(commission_ledger::Column::AffiliateId.eq(id.as_str()))
            .order_by_desc(commission_ledger::Column::CreatedAt)
            .order_by_desc(commission_ledger::Column::Id)
            .limit(LINES)
            .all(&self.db)
            .await?;
        let currency = match (&registration, entries.first()) {
            (Some(r), _) => r.currency.clone(),
            (None, Some(e)) => e.currency.clone(),
            (None, None) if actor.is_platform_wide() => {
                return Err(ServiceError::NotFound(format!("affiliate {id}")));
            }
            (None, None) => "USD".to_owned(),
        };
        let now = clock::now();
        let (sums, paid, balance) = self.affiliate_balance(&self.db, id.as_str(), &currency, now).await?;
        let payouts = affiliate_payouts::Entity::find()
            .filter(affiliate_payouts::Column::AffiliateId.eq(id.as_str()))
            .order_by_desc(affiliate_payouts::Column::CreatedAt)
            .order_by_desc(affiliate_payouts::Column::Id)
            .limit(LINES)
            .all(&self.db)
            .await?;
        let lines = entries
            .into_iter()
            .map(|entry| AffiliateLine { earned: Self::earned_by(&entry), due_at: self.due_at(&entry), entry })
            .collect();
        Ok(AffiliateView {
            id: id.as_str().to_owned(),
            registration,
            currency,
            earned: sums.earned,
            held: sums.held,
            due: sums.due,
            paid,
            balance,
            lines,
            payouts,
        })
    }

    /// The payout job: pays every ACTIVE affiliate paid through a provider its positive balance
    /// as of `now`, once. Returns how many payouts it queued (sent by the movements job, and now).
    pub async fn pay_affiliates(&self, now: DateTime<Utc>) -> ServiceResult<usize> {
        let candidates = affiliates::Entity::find()
            .filter(affiliates::Column::Status.eq(AffiliateStatus::Active))
            .filter(affiliates::Column::ProviderAccountId.is_not_null())
            .order_by_asc(affiliates::Column::Id)
            .all(&self.db)
            .await?;
        let mut queued = 0;
        for affiliate in candidates {
            match self.pay_affiliate(&affiliate.id, now).await {
                Ok(true) => queued += 1,
                Ok(false) => {}
                Err(e) => tracing::error!(affiliate = %affiliate.id, error = %e, "affiliate payout not queued"),
            }
        }
        if queued > 0 {
            self.send_movements().await?;
        }
        Ok(queued)
    }

    /// Decides one affiliate's payout under a lock of its row.
    async fn pay_affiliate(&self, id: &str, now: DateTime<Utc>) -> ServiceResult<bool> {
        let txn = service_core::db::begin_write(&self.db).await?;
        let Some(affiliate) = Self::locked_affiliate(&txn, id).await? else { return Ok(false) };
        if affiliate.status != AffiliateStatus::Active {
            return Ok(false);
        }
        let (provider, Some(account)) = (affiliate.provider.kind(), affiliate.provider_account_id.as_deref()) else {
            return Ok(false);
        };
        let api = self.providers.get(provider)?;
        // A transfer to a Stripe account; a Payouts item to a PayPal id.
        let kind = if api.moves(OutgoingKind::Transfer) {
            OutgoingKind::Transfer
        } else if api.moves(OutgoingKind::Payout) {
            OutgoingKind::Payout
        } else {
            return Ok(false);
        };
        let last = affiliate_payouts::Entity::find()
            .filter(affiliate_payouts::Column::AffiliateId.eq(id))
            .order_by_desc(affiliate_payouts::Column::CreatedAt)
            .one(&*txn)
            .await?;
        if let Some(last) = last
            && last.status == AffiliatePayoutStatus::Failed
            && last.updated_at + RETRY_AFTER_FAILURE > now
        {
            return Ok(false);
        }
        let (_, _, balance) = self.affiliate_balance(&*txn, id, &affiliate.currency, now).await?;
        if balance <= 0 {
            return Ok(false);
        }
        let currency = Currency::parse(&affiliate.currency)
            .map_err(|e| ServiceError::Internal(format!("stored currency: {e}")))?;
        let payout_id = uuid::Uuid::now_v7().to_string();
        let stamp = clock::now();
        affiliate_payouts::ActiveModel {
            id: Set(payout_id.clone()),
            affiliate_id: Set(id.to_owned()),
            amount: Set(balance),
            currency: Set(affiliate.currency.clone()),
            status: Set(AffiliatePayoutStatus::Sending),
            reference: Set(None),
            last_error: Set(None),
            created_by: Set("system".to_owned()),
            created_at: Set(stamp),
            updated_at: Set(stamp),
        }
        .insert(&*txn)
        .await?;
        // Our ids travel in the transfer's metadata (the movement's, its posting key naming
        // the payout, and the affiliate as its payee), so an unknown outcome is looked up.
        let posting_key = format!("{PAYOUT_KEY_PREFIX}{payout_id}");
        outgoing::enqueue(
            &txn,
            NewOutgoing {
                owner: MovementOwner::Murchases,
                kind,
                provider,
                // The payee of an affiliate movement is the affiliate.
                malet_id: id,
                account_id: id,
                ledger_id: None,
                posting_key: &posting_key,
                amount: balance,
                currency,
                destination: Some(account),
                source_ref: None,
                source_charge: None,
                transfer_group: None,
                source_transfer: None,
                idempotency_key: None,
                metadata: None,
            },
        )
        .await?;
        txn.commit().await?;
        tracing::info!(affiliate = id, amount = balance, payout = %payout_id, "affiliate payout queued");
        Ok(true)
    }

    /// `recordAffiliatePayout`: an admin records a payout made by hand to a MANUAL affiliate,
    /// once per `reference`, never more than its balance.
    pub async fn record_affiliate_payout(
        &self,
        actor: &Actor,
        id: &AffiliateId,
        amount: i64,
        reference: &str,
    ) -> ServiceResult<affiliate_payouts::Model> {
        actor.can_admin(Permission::ManageCommissions)?;
        self.config.limits.positive("amount", amount).map_err(ServiceError::bad_input)?;
        let reference = reference.trim();
        if reference.is_empty() {
            return Err(ServiceError::BadInput("a payout reference is required".into()));
        }
        let txn = service_core::db::begin_write(&self.db).await?;
        let affiliate = Self::locked_affiliate(&txn, id.as_str())
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("affiliate {id}")))?;
        if affiliate.provider.kind() != ProviderKind::Manual {
            return Err(ServiceError::Conflict(format!("affiliate {id} is paid through {}", affiliate.provider)));
        }
        let (_, _, balance) = self.affiliate_balance(&*txn, id.as_str(), &affiliate.currency, clock::now()).await?;
        if amount > balance {
            return Err(ServiceError::BadInput(format!("payout {amount} exceeds the due balance {balance}")));
        }
        let exists = affiliate_payouts::Entity::find()
            .filter(affiliate_payouts::Column::AffiliateId.eq(id.as_str()))
            .filter(affiliate_payouts::Column::Reference.eq(reference))
            .one(&*txn)
            .await?;
        if exists.is_some() {
            return Err(ServiceError::Conflict(format!("payout {reference} is already recorded")));
        }
        let now = clock::now();
        let by = actor.subject().unwrap_or("unknown");
        let row = affiliate_payouts::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            affiliate_id: Set(id.as_str().to_owned()),
            amount: Set(amount),
            currency: Set(affiliate.currency.clone()),
            status: Set(AffiliatePayoutStatus::Paid),
            reference: Set(Some(reference.to_owned())),
            last_error: Set(None),
            created_by: Set(by.to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&*txn)
        .await?;
        audit::record(
            &txn,
            AuditEntry {
                actor: by,
                action: "record_affiliate_payout",
                entity_type: "affiliate",
                entity_id: id.as_str(),
                malet_id: None,
                before: Some(serde_json::json!({"balance": balance})),
                after: Some(serde_json::json!({"amount": amount, "reference": reference})),
                reason: None,
            },
        )
        .await?;
        txn.commit().await?;
        Ok(row)
    }

    /// The outcome of an affiliate payout's movement (from the sender, in its transaction).
    pub(crate) async fn affiliate_payout_outcome(
        &self,
        txn: &DatabaseTransaction,
        movement: &entity::outgoing_movements::Model,
        outcome: Result<(), &str>,
    ) -> ServiceResult<()> {
        let Some(payout_id) = movement.posting_key.strip_prefix(PAYOUT_KEY_PREFIX) else { return Ok(()) };
        let (status, error) = match outcome {
            Ok(()) => (AffiliatePayoutStatus::Paid, None),
            Err(reason) => (AffiliatePayoutStatus::Failed, Some(reason.to_owned())),
        };
        affiliate_payouts::Entity::update_many()
            .col_expr(affiliate_payouts::Column::Status, Expr::value(status.as_str()))
            .col_expr(affiliate_payouts::Column::LastError, Expr::value(error))
            .col_expr(affiliate_payouts::Column::UpdatedAt, Expr::value(clock::now()))
            .filter(affiliate_payouts::Column::Id.eq(payout_id))
            // A payout item can fail after its batch was accepted (PayPal: unclaimed, returned).
            .filter(affiliate_payouts::Column::Status.is_in(match status {
                AffiliatePayoutStatus::Failed => {
                    vec![AffiliatePayoutStatus::Sending.as_str(), AffiliatePayoutStatus::Paid.as_str()]
                }
                _ => vec![AffiliatePayoutStatus::Sending.as_str()],
            }))
            .exec(txn)
            .await?;
        Ok(())
    }
}
