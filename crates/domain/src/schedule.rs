//! Payout schedules (R-PAY-1): parsed, never merely validated.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("unknown payout interval {0:?} (expected DAILY, WEEKLY, MONTHLY or MANUAL)")]
    UnknownInterval(String),
    #[error("dayOfWeek must be between 1 (Monday) and 7 (Sunday), got {0}")]
    DayOfWeek(i64),
    #[error("dayOfMonth must be between 1 and 31, got {0}")]
    DayOfMonth(i64),
    #[error("{interval} schedules need {field}")]
    Missing { interval: &'static str, field: &'static str },
    #[error("{field} is not allowed for {interval} schedules")]
    NotAllowed { interval: &'static str, field: &'static str },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayoutInterval {
    Daily,
    Weekly,
    Monthly,
    Manual,
}

impl PayoutInterval {
    pub fn as_str(&self) -> &'static str {
        match self {
            PayoutInterval::Daily => "DAILY",
            PayoutInterval::Weekly => "WEEKLY",
            PayoutInterval::Monthly => "MONTHLY",
            PayoutInterval::Manual => "MANUAL",
        }
    }
}

impl fmt::Display for PayoutInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PayoutInterval {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "DAILY" => Ok(PayoutInterval::Daily),
            "WEEKLY" => Ok(PayoutInterval::Weekly),
            "MONTHLY" => Ok(PayoutInterval::Monthly),
            "MANUAL" => Ok(PayoutInterval::Manual),
            _ => Err(ScheduleError::UnknownInterval(s.to_owned())),
        }
    }
}

/// A valid payout schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PayoutSchedule {
    Daily,
    /// 1 = Monday … 7 = Sunday.
    Weekly {
        day_of_week: u8,
    },
    /// 1…31; in shorter months the provider pays on the last day.
    Monthly {
        day_of_month: u8,
    },
    Manual,
}

impl PayoutSchedule {
    pub fn parse(
        interval: PayoutInterval,
        day_of_week: Option<i64>,
        day_of_month: Option<i64>,
    ) -> Result<Self, ScheduleError> {
        match interval {
            PayoutInterval::Daily | PayoutInterval::Manual => {
                if day_of_week.is_some() {
                    return Err(ScheduleError::NotAllowed { interval: interval.as_str(), field: "dayOfWeek" });
                }
                if day_of_month.is_some() {
                    return Err(ScheduleError::NotAllowed { interval: interval.as_str(), field: "dayOfMonth" });
                }
                Ok(if interval == PayoutInterval::Daily { PayoutSchedule::Daily } else { PayoutSchedule::Manual })
            }
            PayoutInterval::Weekly => {
                if day_of_month.is_some() {
                    return Err(ScheduleError::NotAllowed { interval: "WEEKLY", field: "dayOfMonth" });
                }
                let d = day_of_week.ok_or(ScheduleError::Missing { interval: "WEEKLY", field: "dayOfWeek" })?;
                let day = u8::try_from(d).ok().filter(|d| (1..=7).contains(d)).ok_or(ScheduleError::DayOfWeek(d))?;
                Ok(PayoutSchedule::Weekly { day_of_week: day })
            }
            PayoutInterval::Monthly => {
                if day_of_week.is_some() {
                    return Err(ScheduleError::NotAllowed { interval: "MONTHLY", field: "dayOfWeek" });
                }
                let d = day_of_month.ok_or(ScheduleError::Missing { interval: "MONTHLY", field: "dayOfMonth" })?;
                let day = u8::try_from(d).ok().filter(|d| (1..=31).contains(d)).ok_or(ScheduleError::DayOfMonth(d))?;
                Ok(PayoutSchedule::Monthly { day_of_month: day })
            }
        }
    }

    pub fn interval(&self) -> PayoutInterval {
        match self {
            PayoutSchedule::Daily => PayoutInterval::Daily,
            PayoutSchedule::Weekly { .. } => PayoutInterval::Weekly,
            PayoutSchedule::Monthly { .. } => PayoutInterval::Monthly,
            PayoutSchedule::Manual => PayoutInterval::Manual,
        }
    }

    pub fn day_of_week(&self) -> Option<u8> {
        match self {
            PayoutSchedule::Weekly { day_of_week } => Some(*day_of_week),
            _ => None,
        }
    }

    pub fn day_of_month(&self) -> Option<u8> {
        match self {
            PayoutSchedule::Monthly { day_of_month } => Some(*day_of_month),
            _ => None,
        }
    }
}

impl PayoutSchedule {
    /// The first payout day strictly after `after` (UTC dates): the next day (DAILY), the next
    /// `day_of_week` (WEEKLY), the next `day_of_month`, or the last day of a shorter month
    /// (MONTHLY, as the provider pays); `None` for MANUAL (an admin pays by hand, no date is
    /// promised).
    pub fn next_payout_after(&self, after: NaiveDate) -> Option<NaiveDate> {
        match *self {
            PayoutSchedule::Manual => None,
            PayoutSchedule::Daily => after.succ_opt(),
            PayoutSchedule::Weekly { day_of_week } => {
                let today = i64::from(after.weekday().number_from_monday());
                let ahead = (i64::from(day_of_week) - today).rem_euclid(7);
                after.checked_add_signed(chrono::Duration::days(if ahead == 0 { 7 } else { ahead }))
            }
            PayoutSchedule::Monthly { day_of_month } => {
                let this_month = payday_in(after.year(), after.month(), day_of_month)?;
                if this_month > after {
                    return Some(this_month);
                }
                let (year, month) =
                    if after.month() == 12 { (after.year() + 1, 1) } else { (after.year(), after.month() + 1) };
                payday_in(year, month, day_of_month)
            }
        }
    }
}

/// `day` of the month, or the month's last day when it is shorter.
fn payday_in(year: i32, month: u32, day: u8) -> Option<NaiveDate> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let last = first.checked_add_months(chrono::Months::new(1))?.pred_opt()?;
    NaiveDate::from_ymd_opt(year, month, u32::from(day)).or(Some(last)).filter(|d| *d <= last)
}

/// Stripe's `weekly_anchor` name of a day (1 = monday).
pub fn weekday_name(day_of_week: u8) -> Option<&'static str> {
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
        .get(usize::from(day_of_week).checked_sub(1)?)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_and_rejects_invalid_schedules() {
        use PayoutInterval::*;
        assert_eq!(PayoutSchedule::parse(Weekly, Some(1), None), Ok(PayoutSchedule::Weekly { day_of_week: 1 }));
        assert_eq!(PayoutSchedule::parse(Weekly, Some(0), None), Err(ScheduleError::DayOfWeek(0)));
        assert_eq!(PayoutSchedule::parse(Weekly, Some(8), None), Err(ScheduleError::DayOfWeek(8)));
        assert!(PayoutSchedule::parse(Weekly, None, None).is_err());
        assert_eq!(PayoutSchedule::parse(Monthly, None, Some(31)), Ok(PayoutSchedule::Monthly { day_of_month: 31 }));
        assert_eq!(PayoutSchedule::parse(Monthly, None, Some(32)), Err(ScheduleError::DayOfMonth(32)));
        assert!(PayoutSchedule::parse(Daily, Some(1), None).is_err());
        assert_eq!(PayoutSchedule::parse(Manual, None, None), Ok(PayoutSchedule::Manual));
        assert_eq!(weekday_name(1), Some("monday"));
        assert_eq!(weekday_name(7), Some("sunday"));
        assert_eq!(weekday_name(0), None);
    }

    #[test]
    fn next_payout_day_follows_the_schedule() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).expect("date");
        // 2026-12-02 is a Wednesday.
        let wed = d(2026, 12, 2);
        assert_eq!(PayoutSchedule::Daily.next_payout_after(wed), Some(d(2026, 12, 3)));
        assert_eq!(PayoutSchedule::Daily.next_payout_after(d(2026, 12, 31)), Some(d(2027, 1, 1)));
        assert_eq!(PayoutSchedule::Weekly { day_of_week: 5 }.next_payout_after(wed), Some(d(2026, 12, 4)));
        assert_eq!(PayoutSchedule::Weekly { day_of_week: 3 }.next_payout_after(wed), Some(d(2026, 12, 9)));
        assert_eq!(PayoutSchedule::Weekly { day_of_week: 1 }.next_payout_after(wed), Some(d(2026, 12, 7)));
        assert_eq!(PayoutSchedule::Monthly { day_of_month: 15 }.next_payout_after(wed), Some(d(2026, 12, 15)));
        assert_eq!(PayoutSchedule::Monthly { day_of_month: 2 }.next_payout_after(wed), Some(d(2027, 1, 2)));
        assert_eq!(PayoutSchedule::Monthly { day_of_month: 1 }.next_payout_after(wed), Some(d(2027, 1, 1)));
        // Shorter months pay on their last day.
        assert_eq!(
            PayoutSchedule::Monthly { day_of_month: 31 }.next_payout_after(d(2027, 2, 10)),
            Some(d(2027, 2, 28))
        );
        assert_eq!(
            PayoutSchedule::Monthly { day_of_month: 31 }.next_payout_after(d(2028, 2, 10)),
            Some(d(2028, 2, 29))
        );
        assert_eq!(
            PayoutSchedule::Monthly { day_of_month: 31 }.next_payout_after(d(2027, 2, 28)),
            Some(d(2027, 3, 31))
        );
        assert_eq!(
            PayoutSchedule::Monthly { day_of_month: 30 }.next_payout_after(d(2027, 1, 30)),
            Some(d(2027, 2, 28))
        );
        assert_eq!(PayoutSchedule::Manual.next_payout_after(wed), None);
    }
}
