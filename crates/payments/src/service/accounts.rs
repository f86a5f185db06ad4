//! Connected accounts: creation with provider onboarding, links, payout schedules, and the
//! lifecycle (R-ACCT-1…4, R-PAY-1). Every lifecycle change is audited.

use domain::ids::MaletId;
use domain::lifecycle::AccountStatus;
use domain::permissions::{Actor, Permission};
use domain::provider::{CreateAccount, Onboarding, OnboardingLinkRequest, ProviderKind};
use domain::schedule::PayoutSchedule;
use entity::connected_accounts;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};
use service_core::audit::{self, AuditEntry};
use service_core::clock;

use super::{Payments, ServiceError, ServiceResult};
use crate::repo;

fn status_of(a: &connected_accounts::Model) -> ServiceResult<AccountStatus> {
    Ok(a.status.domain())
}

fn provider_of(a: &connected_accounts::Model) -> ServiceResult<ProviderKind> {
    Ok(a.provider.kind())
}

fn account_json(a: &connected_accounts::Model) -> serde_json::Value {
    serde_json::json!({"status": a.status, "reason": a.status_reason, "payout_interval": a.payout_interval,
        "payout_day_of_week": a.payout_day_of_week, "payout_day_of_month": a.payout_day_of_month})
}

impl Payments {
    pub async fn account_for_malet(
        &self,
        actor: &Actor,
        malet_id: &str,
    ) -> ServiceResult<Option<connected_accounts::Model>> {
        actor.can(Permission::ViewPayouts, malet_id)?;
        Ok(repo::accounts::live_for_malet(&self.db, malet_id).await?)
    }

    /// An account by id. Only a platform-wide actor learns that an id does not exist; anyone
    /// else gets FORBIDDEN as for another Malet's account (no existence oracle).
    pub async fn account(&self, actor: &Actor, id: &str) -> ServiceResult<Option<connected_accounts::Model>> {
        actor.may(Permission::ViewPayouts)?;
        let Some(a) = repo::accounts::by_id(&self.db, id).await? else {
            return if actor.is_platform_wide() { Ok(None) } else { Err(ServiceError::missing(actor, "account")) };
        };
        actor.can(Permission::ViewPayouts, &a.malet_id)?;
        Ok(Some(a))
    }

    async fn load_for(
        &self,
        actor: &Actor,
        id: &str,
        permission: Permission,
    ) -> ServiceResult<connected_accounts::Model> {
        actor.may(permission)?;
        let a = repo::accounts::by_id(&self.db, id)
            .await?
            .ok_or_else(|| ServiceError::missing(actor, format!("connected account {id}")))?;
        actor.can(permission, &a.malet_id)?;
        Ok(a)
    }

    /// `createConnectedAccount`: one live account per Malet (the database refuses a second,
    /// also when two requests race). The provider account is created with an idempotency key
    /// derived from the Malet and its account generation, so a retry after a failure reuses it;
    /// a failed provider call leaves no row behind.
    /// A Malet whose last account ended SUSPENDED needs an admin's `allowNewConnectedAccount`
    /// first; the dispute history and any negative balance follow the Malet to the new account.
    pub async fn create_account(
        &self,
        actor: &Actor,
        malet: &MaletId,
        kind: ProviderKind,
    ) -> ServiceResult<connected_accounts::Model> {
        let malet_id = malet.as_str();
        actor.can(Permission::ManagePayouts, malet_id)?;
        let provider = self.providers.get(kind)?;
        self.refuse_unmovable_debts(malet_id).await?;
        let now = clock::now();
        let generation = repo::accounts::deactivated_count(&self.db, malet_id).await?;
        let row = connected_accounts::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            malet_id: Set(malet_id.to_owned()),
            user_id: Set(actor.subject().unwrap_or("unknown").to_owned()),
            provider: Set(kind.into()),
            provider_account_id: Set(None),
            status: Set(AccountStatus::Pending.into()),
            status_reason: Set(None),
            payout_interval: Set(None),
            payout_day_of_week: Set(None),
            payout_day_of_month: Set(None),
            rolling_reserve_rate: Set(self.config.reserve.new_seller_rate.to_string()),
            reserve_expires_at: Set(None),
            currency: Set(self.settings.default_currency.clone()),
            onboarding_url: Set(None),
            kyc_verified: Set(false),
            charges_enabled: Set(false),
            payouts_enabled: Set(false),
            provider_snapshot_at: Set(None),
            blocks_new_account: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
        };
        // The block check and the insert in one write transaction, with the Malet's accounts
        // locked: a deactivation of a SUSPENDED account racing this create either commits first
        // (and blocks it) or waits (and the still-live account makes the insert a conflict).
        let txn = service_core::db::begin_write(&self.db).await?;
        repo::accounts::lock_all_for_malet(&txn, malet_id).await?;
        if repo::accounts::blocking_new_account(&txn, malet_id).await?.is_some() {
            return Err(ServiceError::Conflict(
                "the Malet's last payout account ended SUSPENDED: an admin must allow a new one".into(),
            ));
        }
        let account = match row.insert(&txn).await {
            Ok(a) => a,
            Err(e) if service_core::db::is_unique_violation(&e) => {
                return Err(ServiceError::Conflict(format!("Malet {malet_id} already has a payout account")));
            }
            Err(e) => return Err(e.into()),
        };
        txn.commit().await?;
        let created = provider
            .create_account(CreateAccount {
                malet_id: malet_id.to_owned(),
                user_id: account.user_id.clone(),
                country: None,
                email: None,
                idempotency_key: format!("connected-account:{malet_id}:{generation}"),
            })
            .await;
        let created = match created {
            Ok(c) => c,
            Err(e) => {
                // Leave nothing behind: the same request can simply be retried.
                connected_accounts::Entity::delete_by_id(account.id.clone()).exec(&self.db).await?;
                return Err(e.into());
            }
        };
        let mut am: connected_accounts::ActiveModel = account.clone().into();
        am.provider_account_id = Set(created.provider_account_id.clone());
        if let Some(c) = created.currency {
            am.currency = Set(c.code().to_owned());
        }
        am.updated_at = Set(clock::now());
        let txn = service_core::db::begin_write(&self.db).await?;
        let account = am.update(&txn).await?;
        self.carry_debts(&txn, &account).await?;
        txn.commit().await?;
        audit::record(
            &self.db,
            AuditEntry {
                actor: actor.subject().unwrap_or("unknown"),
                action: "create_connected_account",
                entity_type: "connected_account",
                entity_id: &account.id,
                malet_id: Some(&account.malet_id),
                before: None,
                after: Some(account_json(&account)),
                reason: None,
            },
        )
        .await?;
        if provider.onboarding() == Onboarding::AdminConfirms {
            // Providers without onboarding (MANUAL) wait for an admin's confirmation.
            return Ok(account);
        }
        // Issue the onboarding link; on failure the account stays PENDING and
        // `refreshOnboardingLink` retries.
        self.issue_link(account).await
    }

    async fn issue_link(&self, account: connected_accounts::Model) -> ServiceResult<connected_accounts::Model> {
        let provider = self.providers.get(provider_of(&account)?)?;
        if provider.onboarding() == Onboarding::AdminConfirms {
            return Err(ServiceError::Conflict("this provider has no onboarding link".into()));
        }
        let link = provider
            .onboarding_link(OnboardingLinkRequest {
                account_id: account.id.clone(),
                provider_account_id: account.provider_account_id.clone(),
                refresh_url: super::onboarding_url_for(&self.settings.onboarding_refresh_url, &account.malet_id),
                return_url: super::onboarding_url_for(&self.settings.onboarding_return_url, &account.malet_id),
            })
            .await?;
        let txn = service_core::db::begin_write(&self.db).await?;
        let current = repo::accounts::for_update(&txn, &account.id)
            .await?
            .ok_or_else(|| ServiceError::NotFound("account".into()))?;
        let status = status_of(&current)?;
        let new_status = match status {
            AccountStatus::Pending => status.transition(AccountStatus::Onboarding)?,
            AccountStatus::Onboarding => AccountStatus::Onboarding,
            other => {
                return Err(ServiceError::Conflict(format!(
                    "the account is {other}; onboarding is finished or closed"
                )));
            }
        };
        let mut am: connected_accounts::ActiveModel = current.into();
        am.onboarding_url = Set(Some(link.url));
        am.status = Set(new_status.into());
        am.updated_at = Set(clock::now());
        let updated = am.update(&txn).await?;
        txn.commit().await?;
        Ok(updated)
    }

    /// `refreshOnboardingLink`: a new Stripe-hosted link for a PENDING or ONBOARDING account.
    pub async fn refresh_onboarding_link(&self, actor: &Actor, id: &str) -> ServiceResult<connected_accounts::Model> {
        let account = self.load_for(actor, id, Permission::ManagePayouts).await?;
        match status_of(&account)? {
            AccountStatus::Pending | AccountStatus::Onboarding => self.issue_link(account).await,
            other => Err(ServiceError::Conflict(format!("the account is {other}; onboarding is finished or closed"))),
        }
    }

    /// `updatePayoutSchedule` (R-PAY-1): validated, pushed to the provider, then stored.
    pub async fn update_payout_schedule(
        &self,
        actor: &Actor,
        id: &str,
        schedule: PayoutSchedule,
    ) -> ServiceResult<connected_accounts::Model> {
        let account = self.load_for(actor, id, Permission::ManagePayouts).await?;
        if status_of(&account)? == AccountStatus::Deactivated {
            return Err(ServiceError::Conflict("the account is DEACTIVATED".into()));
        }
        if let Some(provider_account_id) = &account.provider_account_id {
            let provider = self.providers.get(provider_of(&account)?)?;
            provider.update_payout_schedule(provider_account_id, schedule).await?;
        }
        let before = account_json(&account);
        let mut am: connected_accounts::ActiveModel = account.into();
        am.payout_interval = Set(Some(schedule.interval().as_str().to_owned()));
        am.payout_day_of_week = Set(schedule.day_of_week().map(i16::from));
        am.payout_day_of_month = Set(schedule.day_of_month().map(i16::from));
        am.updated_at = Set(clock::now());
        let txn = service_core::db::begin_write(&self.db).await?;
        let updated = am.update(&txn).await?;
        audit::record(
            &txn,
            AuditEntry {
                actor: actor.subject().unwrap_or("unknown"),
                action: "update_payout_schedule",
                entity_type: "connected_account",
                entity_id: &updated.id,
                malet_id: Some(&updated.malet_id),
                before: Some(before),
                after: Some(account_json(&updated)),
                reason: None,
            },
        )
        .await?;
        txn.commit().await?;
        Ok(updated)
    }

    /// Applies a lifecycle transition with an audit entry. `require` decides who may.
    async fn transition(
        &self,
        actor: &Actor,
        id: &str,
        to: AccountStatus,
        reason: &str,
        action: &str,
        admin_only: bool,
    ) -> ServiceResult<connected_accounts::Model> {
        if reason.trim().is_empty() {
            return Err(ServiceError::BadInput("a reason is required".into()));
        }
        // Permission before lookup: a caller refused here learns nothing about the id.
        if admin_only {
            actor.can_admin(Permission::ManagePayouts)?;
        } else {
            actor.may(Permission::ManagePayouts)?;
        }
        let txn = service_core::db::begin_write(&self.db).await?;
        let account = repo::accounts::for_update(&txn, id)
            .await?
            .ok_or_else(|| ServiceError::missing(actor, format!("connected account {id}")))?;
        actor.can(Permission::ManagePayouts, &account.malet_id)?;
        let from = status_of(&account)?;
        let to = from.transition(to)?;
        let before = account_json(&account);
        let mut am: connected_accounts::ActiveModel = account.into();
        if from == AccountStatus::Suspended && to == AccountStatus::Deactivated {
            // Closing a suspended account is no way out of the suspension (issue 8 item 3).
            am.blocks_new_account = Set(true);
        }
        am.status = Set(to.into());
        am.status_reason = Set(Some(reason.to_owned()));
        am.updated_at = Set(clock::now());
        let updated = am.update(&txn).await?;
        audit::record(
            &txn,
            AuditEntry {
                actor: actor.subject().unwrap_or("unknown"),
                action,
                entity_type: "connected_account",
                entity_id: &updated.id,
                malet_id: Some(&updated.malet_id),
                before: Some(before),
                after: Some(account_json(&updated)),
                reason: Some(reason),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(updated)
    }

    pub async fn suspend(&self, actor: &Actor, id: &str, reason: &str) -> ServiceResult<connected_accounts::Model> {
        self.transition(actor, id, AccountStatus::Suspended, reason, "suspend_connected_account", true).await
    }

    pub async fn reinstate(&self, actor: &Actor, id: &str, reason: &str) -> ServiceResult<connected_accounts::Model> {
        actor.can_admin(Permission::ManagePayouts)?;
        let account = repo::accounts::by_id(&self.db, id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("connected account {id}")))?;
        if status_of(&account)? != AccountStatus::Suspended {
            return Err(domain::lifecycle::TransitionError {
                machine: "account",
                from: account.status.to_string(),
                to: "ACTIVE (reinstate)".into(),
            }
            .into());
        }
        self.transition(actor, id, AccountStatus::Active, reason, "reinstate_connected_account", true).await
    }

    /// Owner (MANAGE_PAYOUTS) or admin; terminal.
    pub async fn deactivate(&self, actor: &Actor, id: &str, reason: &str) -> ServiceResult<connected_accounts::Model> {
        self.transition(actor, id, AccountStatus::Deactivated, reason, "deactivate_connected_account", false).await
    }

    /// Admin confirmation of a MANUAL account (no provider onboarding): PENDING → ACTIVE.
    pub async fn confirm_manual(
        &self,
        actor: &Actor,
        id: &str,
        reason: &str,
    ) -> ServiceResult<connected_accounts::Model> {
        actor.can_admin(Permission::ManagePayouts)?;
        let account = repo::accounts::by_id(&self.db, id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("connected account {id}")))?;
        if self.providers.get(provider_of(&account)?)?.onboarding() != Onboarding::AdminConfirms {
            return Err(ServiceError::Conflict(
                "only accounts without provider onboarding are confirmed by an admin".into(),
            ));
        }
        let updated = self.transition(actor, id, AccountStatus::Active, reason, "confirm_manual_account", true).await?;
        let mut am: connected_accounts::ActiveModel = updated.into();
        am.kyc_verified = Set(true);
        Ok(am.update(&self.db).await?)
    }

    /// Admin: records a payout made outside any provider API (MANUAL accounts: a bank transfer
    /// done by finance). Moves `amount` from pending to paid once per `reference`. Accounts
    /// whose payouts the provider reports (`payout.paid`) cannot be recorded by hand.
    pub async fn record_manual_payout(
        &self,
        actor: &Actor,
        id: &str,
        amount: i64,
        reference: &str,
    ) -> ServiceResult<connected_accounts::Model> {
        actor.can_admin(Permission::ManagePayouts)?;
        if amount <= 0 {
            return Err(ServiceError::BadInput("amount must be greater than zero".into()));
        }
        let reference = reference.trim();
        if reference.is_empty() {
            return Err(ServiceError::BadInput("a payout reference is required".into()));
        }
        let txn = service_core::db::begin_write(&self.db).await?;
        let account = repo::accounts::for_update(&txn, id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("connected account {id}")))?;
        if self.providers.get(provider_of(&account)?)?.onboarding() != Onboarding::AdminConfirms {
            return Err(ServiceError::Conflict("this account's payouts are reported by its provider".into()));
        }
        if status_of(&account)? != AccountStatus::Active {
            return Err(ServiceError::Conflict(format!("the account is {}, not ACTIVE", account.status)));
        }
        let pending = repo::movements::balances(&txn, &account.id, &account.currency).await?.pending_balance;
        if amount > pending {
            return Err(ServiceError::BadInput(format!("payout {amount} exceeds the pending balance {pending}")));
        }
        let key = format!("manual-payout:{}:{reference}", account.id);
        let payout_id = uuid::Uuid::now_v7().to_string();
        let inserted = repo::movements::append(
            &txn,
            repo::movements::NewMovement::payout(&account, &account.currency, amount, &payout_id, &key)
                .memo(Some(format!("manual payout {reference}"))),
        )
        .await?;
        if !inserted {
            return Err(ServiceError::Conflict(format!("payout {reference} is already recorded")));
        }
        entity::payouts::ActiveModel {
            id: Set(payout_id),
            account_id: Set(account.id.clone()),
            provider_payout_id: Set(None),
            amount: Set(amount),
            currency: Set(account.currency.clone()),
            status: Set(entity::enums::PayoutStatus::Paid),
            recorded_by: Set(actor.subject().map(str::to_owned)),
            created_at: Set(clock::now()),
            updated_at: Set(clock::now()),
        }
        .insert(&txn)
        .await?;
        audit::record(
            &txn,
            AuditEntry {
                actor: actor.subject().unwrap_or("unknown"),
                action: "record_manual_payout",
                entity_type: "connected_account",
                entity_id: &account.id,
                malet_id: Some(&account.malet_id),
                before: None,
                after: Some(
                    serde_json::json!({"amount": amount, "currency": account.currency, "reference": reference}),
                ),
                reason: Some(reference),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(account)
    }

    /// Admin: lets a Malet whose last account ended SUSPENDED open a new one (audited).
    pub async fn allow_new_account(
        &self,
        actor: &Actor,
        malet: &MaletId,
        reason: &str,
    ) -> ServiceResult<Vec<connected_accounts::Model>> {
        actor.can_admin(Permission::ManagePayouts)?;
        if reason.trim().is_empty() {
            return Err(ServiceError::BadInput("a reason is required".into()));
        }
        let txn = service_core::db::begin_write(&self.db).await?;
        let Some(blocking) = repo::accounts::blocking_new_account(&txn, malet.as_str()).await? else {
            return Err(ServiceError::Conflict(format!("Malet {malet} is not blocked from opening an account")));
        };
        connected_accounts::Entity::update_many()
            .col_expr(connected_accounts::Column::BlocksNewAccount, sea_orm::sea_query::Expr::value(false))
            .filter(connected_accounts::Column::MaletId.eq(malet.as_str()))
            .exec(&txn)
            .await?;
        audit::record(
            &txn,
            AuditEntry {
                actor: actor.subject().unwrap_or("unknown"),
                action: "allow_new_connected_account",
                entity_type: "connected_account",
                entity_id: &blocking.id,
                malet_id: Some(malet.as_str()),
                before: Some(serde_json::json!({"blocks_new_account": true})),
                after: Some(serde_json::json!({"blocks_new_account": false, "malet_id": malet.as_str()})),
                reason: Some(reason),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(repo::accounts::all_for_malet(&self.db, malet.as_str()).await?)
    }

    /// A debt in another currency than new accounts settle in cannot follow the Malet: refused
    /// before anything is created, for an admin to settle.
    async fn refuse_unmovable_debts(&self, malet_id: &str) -> ServiceResult<()> {
        for old in repo::accounts::all_for_malet(&self.db, malet_id).await? {
            if old.status.domain() != AccountStatus::Deactivated || old.currency == self.settings.default_currency {
                continue;
            }
            let pending = repo::movements::balances(&self.db, &old.id, &old.currency).await?.pending_balance;
            if pending < 0 {
                return Err(ServiceError::Conflict(format!(
                    "the Malet owes {} {} on account {}, and a new account settles in {}: an admin must settle it first",
                    -pending, old.currency, old.id, self.settings.default_currency
                )));
            }
        }
        Ok(())
    }

    /// Moves any negative balance of the Malet's deactivated accounts onto its new account
    /// (R-REF-4: a debt is recovered from later earnings, whichever account earns them). Two
    /// movements with one idempotency key each: the old account back to zero, the new one down.
    async fn carry_debts(&self, txn: &DatabaseTransaction, account: &connected_accounts::Model) -> ServiceResult<()> {
        for old in repo::accounts::all_for_malet(txn, &account.malet_id).await? {
            if old.id == account.id || old.status.domain() != AccountStatus::Deactivated {
                continue;
            }
            let pending = repo::movements::balances(txn, &old.id, &old.currency).await?.pending_balance;
            if pending >= 0 {
                continue;
            }
            if old.currency != account.currency {
                // `create_account` refused this case up front for the default currency; the
                // provider chose another one. The debt stays visible on the old account.
                tracing::error!(old = %old.id, new = %account.id, owed = -pending, currency = %old.currency,
                    "a negative balance in another currency than the new account's: an admin must settle it");
                continue;
            }
            for (on, delta, key) in [
                (&old, -pending, format!("carry-out:{}:{}", old.id, account.id)),
                (account, pending, format!("carry-in:{}:{}", old.id, account.id)),
            ] {
                repo::movements::append(
                    txn,
                    repo::movements::NewMovement::carry(on, delta, &old.id, &key)
                        .memo(Some(format!("negative balance carried from account {}", old.id))),
                )
                .await?;
            }
        }
        Ok(())
    }
}
