//! State machines: the ConnectedAccount lifecycle (R-ACCT-3) and the CommissionLedger status
//! (R-REF-3). Illegal transitions are typed errors.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal {machine} transition from {from} to {to}")]
pub struct TransitionError {
    pub machine: &'static str,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}")]
pub struct UnknownStatus(pub String);

macro_rules! status_enum {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownStatus;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownStatus(s.to_owned())),
                }
            }
        }
    };
}

status_enum!(AccountStatus {
    Pending => "PENDING",
    Onboarding => "ONBOARDING",
    Active => "ACTIVE",
    Suspended => "SUSPENDED",
    Deactivated => "DEACTIVATED",
});

impl AccountStatus {
    /// Whether `self → to` is allowed (R-ACCT-3):
    /// PENDING → ONBOARDING (link issued) or ACTIVE (manual provider confirmed by an admin);
    /// ONBOARDING → ACTIVE (provider reports charges and payouts enabled);
    /// ACTIVE → SUSPENDED (chargebacks or admin); SUSPENDED → ACTIVE (admin reinstates);
    /// any state but DEACTIVATED → DEACTIVATED (terminal).
    pub fn can_transition(self, to: AccountStatus) -> bool {
        use AccountStatus::*;
        matches!(
            (self, to),
            (Pending, Onboarding)
                | (Pending, Active)
                | (Onboarding, Active)
                | (Active, Suspended)
                | (Suspended, Active)
                | (Pending | Onboarding | Active | Suspended, Deactivated)
        )
    }

    pub fn transition(self, to: AccountStatus) -> Result<AccountStatus, TransitionError> {
        if self.can_transition(to) {
            Ok(to)
        } else {
            Err(TransitionError { machine: "account", from: self.to_string(), to: to.to_string() })
        }
    }
}

status_enum!(LedgerStatus {
    Pending => "PENDING",
    Settled => "SETTLED",
    PartiallyRefunded => "PARTIALLY_REFUNDED",
    Refunded => "REFUNDED",
});

impl LedgerStatus {
    /// PENDING → SETTLED → PARTIALLY_REFUNDED → REFUNDED; a refund may also hit a PENDING entry;
    /// further partial refunds keep PARTIALLY_REFUNDED; REFUNDED is terminal (R-REF-3).
    pub fn can_transition(self, to: LedgerStatus) -> bool {
        use LedgerStatus::*;
        matches!(
            (self, to),
            (Pending, Settled)
                | (Pending | Settled | PartiallyRefunded, PartiallyRefunded)
                | (Pending | Settled | PartiallyRefunded, Refunded)
        )
    }

    pub fn transition(self, to: LedgerStatus) -> Result<LedgerStatus, TransitionError> {
        if self.can_transition(to) {
            Ok(to)
        } else {
            Err(TransitionError { machine: "ledger", from: self.to_string(), to: to.to_string() })
        }
    }

    /// The status after a cumulative refund of `refunded` out of `gross`.
    pub fn after_refund(self, refunded: i64, gross: i64) -> Result<LedgerStatus, TransitionError> {
        let to = if refunded >= gross { LedgerStatus::Refunded } else { LedgerStatus::PartiallyRefunded };
        self.transition(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_lifecycle_accepts_only_legal_steps() {
        use AccountStatus::*;
        assert_eq!(Pending.transition(Onboarding), Ok(Onboarding));
        assert_eq!(Onboarding.transition(Active), Ok(Active));
        assert_eq!(Active.transition(Suspended), Ok(Suspended));
        assert_eq!(Suspended.transition(Active), Ok(Active));
        assert_eq!(Suspended.transition(Deactivated), Ok(Deactivated));
        for to in AccountStatus::ALL {
            assert!(Deactivated.transition(*to).is_err(), "DEACTIVATED is terminal");
        }
        assert!(Onboarding.transition(Suspended).is_err());
        assert!(Active.transition(Pending).is_err());
        assert!(Active.transition(Active).is_err());
        assert_eq!("ACTIVE".parse::<AccountStatus>(), Ok(Active));
        assert!("active".parse::<AccountStatus>().is_err());
    }

    #[test]
    fn ledger_status_machine() {
        use LedgerStatus::*;
        assert_eq!(Pending.transition(Settled), Ok(Settled));
        assert_eq!(Pending.after_refund(4000, 10000), Ok(PartiallyRefunded));
        assert_eq!(Settled.after_refund(10000, 10000), Ok(Refunded));
        assert_eq!(PartiallyRefunded.after_refund(5000, 10000), Ok(PartiallyRefunded));
        assert!(Refunded.after_refund(10000, 10000).is_err());
        assert!(Settled.transition(Pending).is_err());
        assert!(Refunded.transition(Settled).is_err());
        assert!(PartiallyRefunded.transition(Settled).is_err());
    }
}
