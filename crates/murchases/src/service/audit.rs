//! The audit log of a Malet for admins (issue 12 item 5): who changed what, when, from what to
//! what and why (R-COMM-4), newest first. Rows are written by `service_core::audit::record` in
//! the transaction of each change, by both subgraphs, with the Malet they concern.

use chrono::{DateTime, Utc};
use domain::ids::MaletId;
use domain::permissions::{Actor, Permission};
use service_core::audit::{self, AuditQuery};

use super::{Murchases, ServiceError, ServiceResult};

/// Entries per page at most.
pub const MAX_AUDIT_PAGE: i32 = 100;

impl Murchases {
    /// A page of `malet`'s audit entries in `[from, to)` (MANAGE_COMMISSIONS on the Malet,
    /// checked before anything is read). `limit` 1–100, `offset` ≥ 0, `from` < `to`.
    pub async fn audit_log(
        &self,
        actor: &Actor,
        malet: &MaletId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        limit: i32,
        offset: i32,
    ) -> ServiceResult<Vec<entity::audit_log::Model>> {
        actor.can(Permission::ManageCommissions, malet.as_str())?;
        if !(1..=MAX_AUDIT_PAGE).contains(&limit) {
            return Err(ServiceError::BadInput(format!("limit must be between 1 and {MAX_AUDIT_PAGE}")));
        }
        let offset = u64::try_from(offset).map_err(|_| ServiceError::BadInput("offset must not be negative".into()))?;
        if let (Some(from), Some(to)) = (from, to)
            && from >= to
        {
            return Err(ServiceError::BadInput("from must be before to".into()));
        }
        let query =
            AuditQuery { malet_id: malet.as_str(), from, to, limit: u64::try_from(limit).unwrap_or(100), offset };
        Ok(audit::for_malet(&self.db, &query).await?)
    }
}
