//! RBAC (R-RBAC-1/2): permissions from verified claims, and [`Actor::can`], the one place
//! access is decided.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Permission {
    /// Read connected accounts and earnings summaries (Malet Owners).
    ViewPayouts,
    /// Create, update, deactivate connected accounts (Malet Owners).
    ManagePayouts,
    /// Read the commission ledger (Malet Owners).
    ViewRevenue,
    /// Admin commission changes (platform admins).
    ManageCommissions,
    /// The order service: create checkout payments whose commissionable base (subtotal,
    /// discount, tax, shipping) it vouches for (R-TRUST-2).
    CreateMurchasePayments,
}

impl Permission {
    pub fn as_str(&self) -> &'static str {
        match self {
            Permission::ViewPayouts => "VIEW_PAYOUTS",
            Permission::ManagePayouts => "MANAGE_PAYOUTS",
            Permission::ViewRevenue => "VIEW_REVENUE",
            Permission::ManageCommissions => "MANAGE_COMMISSIONS",
            Permission::CreateMurchasePayments => "CREATE_MURCHASE_PAYMENTS",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "VIEW_PAYOUTS" => Ok(Permission::ViewPayouts),
            "MANAGE_PAYOUTS" => Ok(Permission::ManagePayouts),
            "VIEW_REVENUE" => Ok(Permission::ViewRevenue),
            "MANAGE_COMMISSIONS" => Ok(Permission::ManageCommissions),
            "CREATE_MURCHASE_PAYMENTS" => Ok(Permission::CreateMurchasePayments),
            _ => Err(()),
        }
    }
}

/// Why access was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessDenied {
    /// No verified identity.
    #[error("authentication required")]
    Unauthenticated,
    /// Identified, but lacking the permission or the Malet.
    #[error("not allowed")]
    Forbidden,
}

impl AccessDenied {
    /// The stable GraphQL `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            AccessDenied::Unauthenticated => "UNAUTHENTICATED",
            AccessDenied::Forbidden => "FORBIDDEN",
        }
    }
}

/// Which Malets an actor may act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaletScope {
    /// `"*"`: every Malet (platform admins).
    All,
    Only(BTreeSet<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error("token has an empty subject")]
    EmptySubject,
}

/// Who is calling, built from verified JWT claims (`sub`, `scope`, `malets`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    subject: Option<String>,
    permissions: BTreeSet<Permission>,
    malets: MaletScope,
    /// The affiliate this caller is (the JWT claim `affiliate`), if any.
    affiliate: Option<String>,
}

impl Actor {
    /// No token: every guarded field fails UNAUTHENTICATED.
    pub fn anonymous() -> Self {
        Actor {
            subject: None,
            permissions: BTreeSet::new(),
            malets: MaletScope::Only(BTreeSet::new()),
            affiliate: None,
        }
    }

    /// From verified claims. `scope` is space separated; unknown scopes are ignored (a token may
    /// carry scopes of other services). `malets` containing `"*"` means every Malet.
    pub fn from_claims(sub: &str, scope: &str, malets: &[String]) -> Result<Self, ClaimsError> {
        if sub.trim().is_empty() {
            return Err(ClaimsError::EmptySubject);
        }
        let permissions = scope.split_whitespace().filter_map(|s| s.parse().ok()).collect();
        let malets = if malets.iter().any(|m| m == "*") {
            MaletScope::All
        } else {
            MaletScope::Only(malets.iter().filter(|m| !m.is_empty()).cloned().collect())
        };
        Ok(Actor { subject: Some(sub.to_owned()), permissions, malets, affiliate: None })
    }

    /// The caller is this affiliate (the claim `affiliate`, in place of `malets`).
    pub fn with_affiliate(mut self, affiliate: Option<&str>) -> Self {
        self.affiliate = affiliate.filter(|a| !a.is_empty()).map(str::to_owned);
        self
    }

    /// May this actor exercise `permission` on the affiliate `affiliate_id`: the affiliate itself
    /// (its claim) or a platform-wide admin.
    pub fn can_affiliate(&self, permission: Permission, affiliate_id: &str) -> Result<(), AccessDenied> {
        if !self.is_authenticated() {
            return Err(AccessDenied::Unauthenticated);
        }
        let is_it = self.affiliate.as_deref() == Some(affiliate_id) || self.is_platform_wide();
        if self.has(permission) && is_it { Ok(()) } else { Err(AccessDenied::Forbidden) }
    }

    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    pub fn is_authenticated(&self) -> bool {
        self.subject.is_some()
    }

    pub fn has(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    pub fn is_platform_wide(&self) -> bool {
        matches!(self.malets, MaletScope::All)
    }

    /// The one access decision: may this actor exercise `permission` on `malet_id`?
    pub fn can(&self, permission: Permission, malet_id: &str) -> Result<(), AccessDenied> {
        if !self.is_authenticated() {
            return Err(AccessDenied::Unauthenticated);
        }
        let owns = match &self.malets {
            MaletScope::All => true,
            MaletScope::Only(set) => set.contains(malet_id),
        };
        if self.has(permission) && owns { Ok(()) } else { Err(AccessDenied::Forbidden) }
    }

    /// The decision that comes before any lookup of a record whose Malet is not known yet:
    /// identified and holding `permission` at all. A caller refused here learns nothing about
    /// which records exist (R-TRUST-3).
    pub fn may(&self, permission: Permission) -> Result<(), AccessDenied> {
        if !self.is_authenticated() {
            return Err(AccessDenied::Unauthenticated);
        }
        if self.has(permission) { Ok(()) } else { Err(AccessDenied::Forbidden) }
    }

    /// A platform-admin action: the permission on every Malet (`malets: ["*"]`).
    pub fn can_admin(&self, permission: Permission) -> Result<(), AccessDenied> {
        if !self.is_authenticated() {
            return Err(AccessDenied::Unauthenticated);
        }
        if self.has(permission) && self.is_platform_wide() { Ok(()) } else { Err(AccessDenied::Forbidden) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Actor {
        Actor::from_claims("u1", "VIEW_PAYOUTS MANAGE_PAYOUTS VIEW_REVENUE openid", &["m-a".into()]).expect("actor")
    }

    #[test]
    fn owner_is_scoped_to_own_malets() {
        let a = owner();
        assert_eq!(a.can(Permission::ViewPayouts, "m-a"), Ok(()));
        assert_eq!(a.can(Permission::ViewPayouts, "m-b"), Err(AccessDenied::Forbidden));
        assert_eq!(a.can(Permission::ManageCommissions, "m-a"), Err(AccessDenied::Forbidden));
        assert_eq!(a.can_admin(Permission::ManagePayouts), Err(AccessDenied::Forbidden));
    }

    #[test]
    fn anonymous_is_unauthenticated_and_admin_is_everywhere() {
        assert_eq!(Actor::anonymous().can(Permission::ViewPayouts, "m-a"), Err(AccessDenied::Unauthenticated));
        let admin = Actor::from_claims("root", "MANAGE_COMMISSIONS VIEW_REVENUE", &["*".into()]).expect("actor");
        assert_eq!(admin.can(Permission::ManageCommissions, "anything"), Ok(()));
        assert_eq!(admin.can_admin(Permission::ManageCommissions), Ok(()));
        assert_eq!(admin.can(Permission::ManagePayouts, "m-a"), Err(AccessDenied::Forbidden));
        assert_eq!(Actor::from_claims(" ", "", &[]), Err(ClaimsError::EmptySubject));
    }

    #[test]
    fn an_affiliate_reads_only_itself_and_admins_read_every_affiliate() {
        let aff = Actor::from_claims("a1", "VIEW_REVENUE", &[]).expect("actor").with_affiliate(Some("aff-1"));
        assert_eq!(aff.can_affiliate(Permission::ViewRevenue, "aff-1"), Ok(()));
        assert_eq!(aff.can_affiliate(Permission::ViewRevenue, "aff-2"), Err(AccessDenied::Forbidden));
        assert_eq!(aff.can(Permission::ViewRevenue, "aff-1"), Err(AccessDenied::Forbidden), "not a Malet");
        assert_eq!(owner().can_affiliate(Permission::ViewRevenue, "aff-1"), Err(AccessDenied::Forbidden));
        let admin = Actor::from_claims("adm", "VIEW_REVENUE", &["*".into()]).expect("admin");
        assert_eq!(admin.can_affiliate(Permission::ViewRevenue, "aff-2"), Ok(()));
        let no_scope = Actor::from_claims("a1", "", &[]).expect("actor").with_affiliate(Some("aff-1"));
        assert_eq!(no_scope.can_affiliate(Permission::ViewRevenue, "aff-1"), Err(AccessDenied::Forbidden));
        assert_eq!(
            Actor::anonymous().can_affiliate(Permission::ViewRevenue, "aff-1"),
            Err(AccessDenied::Unauthenticated)
        );
    }
}
