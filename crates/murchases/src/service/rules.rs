//! Malet tiers and commission overrides (R-COMM-1, R-COMM-4): every change is a new rule
//! version (history kept) and an audit entry.

use chrono::{DateTime, Utc};
use domain::commission::{AffiliateFunding, CommissionRule, RuleOverrides, Tier};
use domain::permissions::{Actor, Permission};
use domain::rate::Rate;
use entity::{commission_rules, malet_settings};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait};
use service_core::audit::{self, AuditEntry};

use super::{Murchases, ServiceError, ServiceResult};
use crate::repo;

/// The rule a Malet's order is computed with, and its stored version (0: configuration
/// defaults, no admin change yet).
#[derive(Debug, Clone)]
pub struct EffectiveRule {
    pub rule: CommissionRule,
    pub version: i64,
}

fn parse_rate(text: &Option<String>) -> ServiceResult<Option<Rate>> {
    text.as_deref()
        .map(|t| t.parse::<Rate>().map_err(|e| ServiceError::Internal(format!("stored rate: {e}"))))
        .transpose()
}

fn overrides_of(row: &commission_rules::Model) -> ServiceResult<RuleOverrides> {
    Ok(RuleOverrides {
        commission_rate: parse_rate(&row.commission_rate)?,
        affiliate_rate: parse_rate(&row.affiliate_rate)?,
        affiliate_funding: row
            .affiliate_funding
            .as_deref()
            .map(|f| f.parse::<AffiliateFunding>().map_err(|e| ServiceError::Internal(e.to_string())))
            .transpose()?,
    })
}

impl Murchases {
    /// The rule in force for `malet_id` at `at`.
    pub async fn effective_rule<C: ConnectionTrait>(
        &self,
        conn: &C,
        malet_id: &str,
        at: DateTime<Utc>,
    ) -> ServiceResult<EffectiveRule> {
        match repo::rules::effective_rule(conn, malet_id, at).await? {
            Some(row) => {
                let tier: Tier = row
                    .tier
                    .parse()
                    .map_err(|e: domain::commission::UnknownTier| ServiceError::Internal(e.to_string()))?;
                let rule = self
                    .config
                    .rule_for(tier, &overrides_of(&row)?)
                    .map_err(|e| ServiceError::Internal(e.to_string()))?;
                Ok(EffectiveRule { rule, version: row.version })
            }
            None => {
                let tier = match repo::rules::settings(conn, malet_id).await? {
                    Some(s) => s.tier.parse().unwrap_or(Tier::Starter),
                    None => Tier::Starter,
                };
                let rule = self
                    .config
                    .rule_for(tier, &RuleOverrides::default())
                    .map_err(|e| ServiceError::Internal(e.to_string()))?;
                Ok(EffectiveRule { rule, version: 0 })
            }
        }
    }

    /// Writes a new rule version for `malet_id`, derived from the latest one by `change`.
    async fn new_version(
        &self,
        actor: &Actor,
        malet_id: &str,
        action: &str,
        reason: &str,
        effective_from: Option<DateTime<Utc>>,
        change: impl FnOnce(&mut Tier, &mut RuleOverrides),
    ) -> ServiceResult<commission_rules::Model> {
        actor.can(Permission::ManageCommissions, malet_id)?;
        if reason.trim().is_empty() {
            return Err(ServiceError::BadInput("a reason is required".into()));
        }
        let now = service_core::clock::now();
        let txn = service_core::db::begin_write(&self.db).await?;
        let latest = repo::rules::latest_rule(&txn, malet_id).await?;
        let settings = repo::rules::settings(&txn, malet_id).await?;
        let (mut tier, mut overrides, version) = match &latest {
            Some(row) => (row.tier.parse::<Tier>().unwrap_or(Tier::Starter), overrides_of(row)?, row.version),
            None => (
                settings.as_ref().and_then(|s| s.tier.parse().ok()).unwrap_or(Tier::Starter),
                RuleOverrides::default(),
                0,
            ),
        };
        let before = serde_json::json!({"version": version, "tier": tier, "overrides": overrides});
        change(&mut tier, &mut overrides);
        let row = commission_rules::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            malet_id: Set(malet_id.to_owned()),
            version: Set(version + 1),
            tier: Set(tier.as_str().to_owned()),
            commission_rate: Set(overrides.commission_rate.map(|r| r.to_string())),
            affiliate_rate: Set(overrides.affiliate_rate.map(|r| r.to_string())),
            affiliate_funding: Set(overrides.affiliate_funding.map(|f| format!("{f:?}").to_uppercase())),
            effective_from: Set(effective_from.unwrap_or(now)),
            created_by: Set(actor.subject().unwrap_or("unknown").to_owned()),
            reason: Set(reason.to_owned()),
            created_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(|e| {
            if service_core::db::is_unique_violation(&e) {
                ServiceError::Conflict("the rule changed concurrently; retry".into())
            } else {
                e.into()
            }
        })?;
        match settings {
            Some(s) => {
                let mut am: malet_settings::ActiveModel = s.into();
                am.tier = Set(tier.as_str().to_owned());
                am.rule_version = Set(row.version);
                am.updated_at = Set(now);
                am.update(&txn).await?;
            }
            None => {
                malet_settings::ActiveModel {
                    malet_id: Set(malet_id.to_owned()),
                    tier: Set(tier.as_str().to_owned()),
                    currency: Set("USD".to_owned()),
                    first_sale_at: Set(None),
                    rule_version: Set(row.version),
                    created_at: Set(now),
                    updated_at: Set(now),
                }
                .insert(&txn)
                .await?;
            }
        }
        let after = serde_json::json!({"version": row.version, "tier": tier, "overrides": overrides,
            "effective_from": row.effective_from});
        audit::record(
            &txn,
            AuditEntry {
                actor: actor.subject().unwrap_or("unknown"),
                action,
                entity_type: "malet_commission_rule",
                entity_id: malet_id,
                malet_id: Some(malet_id),
                before: Some(before),
                after: Some(after),
                reason: Some(reason),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(row)
    }

    /// `setMaletTier`: new orders use the tier's rate from now on.
    pub async fn set_tier(
        &self,
        actor: &Actor,
        malet_id: &str,
        tier: Tier,
        reason: &str,
    ) -> ServiceResult<commission_rules::Model> {
        self.new_version(actor, malet_id, "set_malet_tier", reason, None, |t, _| *t = tier).await
    }

    /// `setCommissionOverride`: a custom rate and/or affiliate share, effective from a time.
    /// `None` fields keep their current value; `clear` removes all overrides first.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_override(
        &self,
        actor: &Actor,
        malet_id: &str,
        commission_rate: Option<Rate>,
        affiliate_rate: Option<Rate>,
        affiliate_funding: Option<AffiliateFunding>,
        clear: bool,
        effective_from: Option<DateTime<Utc>>,
        reason: &str,
    ) -> ServiceResult<commission_rules::Model> {
        self.new_version(actor, malet_id, "set_commission_override", reason, effective_from, |_, o| {
            if clear {
                *o = RuleOverrides::default();
            }
            if commission_rate.is_some() {
                o.commission_rate = commission_rate;
            }
            if affiliate_rate.is_some() {
                o.affiliate_rate = affiliate_rate;
            }
            if affiliate_funding.is_some() {
                o.affiliate_funding = affiliate_funding;
            }
        })
        .await
    }
}

impl Murchases {
    pub async fn rule_history(&self, actor: &Actor, malet_id: &str) -> ServiceResult<Vec<commission_rules::Model>> {
        actor.can(Permission::ManageCommissions, malet_id)?;
        Ok(repo::rules::history(&self.db, malet_id).await?)
    }
}
