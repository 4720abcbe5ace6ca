//! The team's business calendar: service hours and holidays. SLA clocks run
//! only while the service is open.

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};
use serde::{Deserialize, Serialize};

/// How far ahead a deadline may be searched for, in days.
const HORIZON_DAYS: i64 = 3_660;

/// Service hours in the team's local time, every working day, minus holidays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BusinessCalendar {
    /// Offset of the team's local time from UTC, in minutes (+480 for China).
    pub utc_offset_minutes: i32,
    pub opens: NaiveTime,
    pub closes: NaiveTime,
    /// Days of the week the service is open.
    pub open_weekdays: Vec<Weekday>,
    /// Days the service is closed whatever the weekday.
    pub closed_days: BTreeSet<NaiveDate>,
}

impl Default for BusinessCalendar {
    /// 09:00-21:00 China time, every day.
    fn default() -> Self {
        Self {
            utc_offset_minutes: 8 * 60,
            opens: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
            closes: NaiveTime::from_hms_opt(21, 0, 0).unwrap_or_default(),
            open_weekdays: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
                Weekday::Sun,
            ],
            closed_days: BTreeSet::new(),
        }
    }
}

impl BusinessCalendar {
    /// Round the clock, every day: SLA time is wall-clock time.
    pub fn always_open() -> Self {
        Self {
            opens: NaiveTime::MIN,
            closes: NaiveTime::MIN,
            ..Self::default()
        }
    }

    pub fn offset(&self) -> FixedOffset {
        // An offset beyond ±24 h cannot be configured meaningfully; read it as UTC.
        FixedOffset::east_opt(self.utc_offset_minutes * 60).unwrap_or_else(utc)
    }

    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.offset()).date_naive()
    }

    /// Whether `day` is a working day (open weekday, not a closed day).
    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        self.open_weekdays.contains(&day.weekday()) && !self.closed_days.contains(&day)
    }

    /// The open interval of a local day, in UTC; `None` on a closed day.
    /// `opens == closes` means open all day.
    fn open_hours(&self, day: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.is_working_day(day) {
            return None;
        }
        let offset = self.offset();
        let at = |date: NaiveDate, time: NaiveTime| {
            offset
                .from_local_datetime(&date.and_time(time))
                .single()
                .map(|t| t.with_timezone(&Utc))
        };
        let start = at(day, self.opens)?;
        let end = if self.closes > self.opens {
            at(day, self.closes)?
        } else {
            // Open past midnight (or round the clock): until `closes` the next day.
            at(day.succ_opt()?, self.closes)?
        };
        Some((start, end))
    }

    /// Open time between two instants.
    pub fn business_time_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        if to <= from {
            return Duration::zero();
        }
        let mut total = Duration::zero();
        // Start a day early: an overnight window may begin the day before.
        let mut day = self
            .local_date(from)
            .pred_opt()
            .unwrap_or(self.local_date(from));
        let last = self.local_date(to);
        while day <= last {
            if let Some((open, close)) = self.open_hours(day) {
                let start = open.max(from);
                let end = close.min(to);
                if end > start {
                    total += end - start;
                }
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        total
    }

    /// The instant when `duration` of open time has passed since `from`.
    /// `None` if the calendar has no open time within ten years.
    pub fn add_business_time(
        &self,
        from: DateTime<Utc>,
        duration: Duration,
    ) -> Option<DateTime<Utc>> {
        let mut left = duration;
        let mut day = self.local_date(from).pred_opt()?;
        for _ in 0..HORIZON_DAYS {
            if let Some((open, close)) = self.open_hours(day) {
                let start = open.max(from);
                if close > start {
                    let available = close - start;
                    if available >= left {
                        return Some(start + left);
                    }
                    left -= available;
                }
            }
            day = day.succ_opt()?;
        }
        None
    }

    /// Whether the service is open at `at`.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let day = self.local_date(at);
        [day.pred_opt(), Some(day)].into_iter().flatten().any(|d| {
            self.open_hours(d)
                .is_some_and(|(open, close)| open <= at && at < close)
        })
    }
}

fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("UTC is a valid offset")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_deadline_skips_the_night() {
        let calendar = BusinessCalendar::default();
        // 20:00 China time (12:00 UTC) + 2 h of service: 1 h today, 1 h from 09:00 tomorrow.
        let deadline = calendar.add_business_time(utc("2026-03-02T12:00:00Z"), Duration::hours(2));
        assert_eq!(deadline, Some(utc("2026-03-03T02:00:00Z")));
    }

    #[test]
    fn a_deadline_skips_closed_days() {
        let mut calendar = BusinessCalendar::default();
        calendar
            .closed_days
            .insert(NaiveDate::from_ymd_opt(2026, 3, 3).unwrap());
        let deadline = calendar.add_business_time(utc("2026-03-02T12:00:00Z"), Duration::hours(2));
        assert_eq!(deadline, Some(utc("2026-03-04T02:00:00Z")));
    }

    #[test]
    fn business_time_counts_only_open_hours() {
        let calendar = BusinessCalendar::default();
        let elapsed = calendar
            .business_time_between(utc("2026-03-02T12:00:00Z"), utc("2026-03-03T02:00:00Z"));
        assert_eq!(elapsed, Duration::hours(2));
        assert!(calendar.is_open(utc("2026-03-02T12:59:00Z")));
        assert!(!calendar.is_open(utc("2026-03-02T13:00:00Z")));
    }

    #[test]
    fn always_open_is_wall_clock_time() {
        let calendar = BusinessCalendar::always_open();
        let from = utc("2026-03-02T23:30:00Z");
        assert_eq!(
            calendar.add_business_time(from, Duration::hours(24)),
            Some(from + Duration::hours(24))
        );
        assert_eq!(
            calendar.business_time_between(from, from + Duration::hours(5)),
            Duration::hours(5)
        );
    }

    #[test]
    fn a_calendar_without_open_days_has_no_deadline() {
        let calendar = BusinessCalendar {
            open_weekdays: vec![],
            ..BusinessCalendar::default()
        };
        assert_eq!(
            calendar.add_business_time(utc("2026-03-02T12:00:00Z"), Duration::hours(1)),
            None
        );
    }
}
