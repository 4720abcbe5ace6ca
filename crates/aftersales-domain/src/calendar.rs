//! The team's business calendar (营业时间): service hours per weekday with
//! their breaks, public holidays and the make-up working days that come
//! with them (调休), in the shop's own time zone. SLA clocks that do not run
//! round the clock run only while the service is open.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::policy::PolicyError;

/// How far ahead a deadline may be searched for, in days.
const HORIZON_DAYS: i64 = 3_660;

const MINUTES_PER_DAY: u16 = 24 * 60;

/// A stretch of a local day, `"09:00-12:00"`; `"24:00"` ends the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    /// Minutes after local midnight.
    start: u16,
    end: u16,
}

impl Window {
    pub const WHOLE_DAY: Window = Window {
        start: 0,
        end: MINUTES_PER_DAY,
    };

    /// A window from `start` to `end`, given as `(hour, minute)`.
    pub fn new(start: (u16, u16), end: (u16, u16)) -> Result<Self, String> {
        let minutes = |(h, m): (u16, u16)| {
            (m < 60 && (h < 24 || (h == 24 && m == 0)))
                .then_some(h * 60 + m)
                .ok_or_else(|| format!("{h:02}:{m:02} is not a time of day"))
        };
        let (start, end) = (minutes(start)?, minutes(end)?);
        if end <= start {
            return Err(format!("{} ends before it starts", Window { start, end }));
        }
        Ok(Self { start, end })
    }

    /// The window on a local day, in UTC.
    fn on(&self, tz: Tz, day: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        Some((local(tz, day, self.start)?, local(tz, day, self.end)?))
    }

    fn contains_minute(&self, minute: u16) -> bool {
        self.start <= minute && minute < self.end
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        write!(f, "{}-{}", hm(self.start), hm(self.end))
    }
}

impl FromStr for Window {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed = || format!("{text:?} is not a window such as \"09:00-12:00\"");
        let time = |part: &str| -> Result<(u16, u16), String> {
            let (h, m) = part.trim().split_once(':').ok_or_else(malformed)?;
            let number = |s: &str| {
                (s.len() == 2)
                    .then(|| s.parse::<u16>().ok())
                    .flatten()
                    .ok_or_else(malformed)
            };
            Ok((number(h)?, number(m)?))
        };
        let (start, end) = text.split_once('-').ok_or_else(malformed)?;
        Window::new(time(start)?, time(end)?)
    }
}

impl Serialize for Window {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Window {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Window".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9]$",
            "description": "A stretch of a local day, e.g. \"09:00-12:00\"; \"24:00\" ends the day."
        })
    }
}

/// The windows of each weekday, keyed `mon` … `sun`. A weekday without
/// windows is closed.
pub type WeeklyHours = BTreeMap<DayName, Vec<Window>>;

/// A weekday as the configuration spells it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum DayName {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl DayName {
    pub const ALL: [DayName; 7] = [
        DayName::Mon,
        DayName::Tue,
        DayName::Wed,
        DayName::Thu,
        DayName::Fri,
        DayName::Sat,
        DayName::Sun,
    ];

    fn of(day: NaiveDate) -> Self {
        match day.weekday() {
            Weekday::Mon => DayName::Mon,
            Weekday::Tue => DayName::Tue,
            Weekday::Wed => DayName::Wed,
            Weekday::Thu => DayName::Thu,
            Weekday::Fri => DayName::Fri,
            Weekday::Sat => DayName::Sat,
            Weekday::Sun => DayName::Sun,
        }
    }
}

/// Service hours in the shop's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessCalendar {
    /// The IANA time zone the hours and dates are in, e.g. `Asia/Shanghai`.
    #[schemars(with = "String")]
    pub time_zone: Tz,
    /// The windows of each weekday, with the breaks between them.
    pub hours: WeeklyHours,
    /// Public holidays: closed whatever the weekday.
    #[serde(default)]
    pub holidays: BTreeSet<NaiveDate>,
    /// Make-up working days (调休): days the law makes working days, mostly
    /// weekends next to a holiday; open with `makeup_day_hours`.
    #[serde(default)]
    pub makeup_days: BTreeSet<NaiveDate>,
    /// The windows of a make-up working day.
    #[serde(default)]
    pub makeup_day_hours: Vec<Window>,
}

impl Default for BusinessCalendar {
    /// 09:00-21:00 China time, every day.
    fn default() -> Self {
        let day = vec![Window {
            start: 9 * 60,
            end: 21 * 60,
        }];
        Self {
            time_zone: chrono_tz::Asia::Shanghai,
            hours: DayName::ALL.iter().map(|d| (*d, day.clone())).collect(),
            holidays: BTreeSet::new(),
            makeup_days: BTreeSet::new(),
            makeup_day_hours: day,
        }
    }
}

impl BusinessCalendar {
    /// Round the clock, every day: SLA time is wall-clock time.
    pub fn always_open() -> Self {
        let day = vec![Window::WHOLE_DAY];
        Self {
            time_zone: Tz::UTC,
            hours: DayName::ALL.iter().map(|d| (*d, day.clone())).collect(),
            holidays: BTreeSet::new(),
            makeup_days: BTreeSet::new(),
            makeup_day_hours: day,
        }
    }

    /// Refuses a calendar a person could not have meant, naming the key
    /// (relative to the calendar) at fault.
    pub fn validate(&self) -> Result<(), PolicyError> {
        for (day, windows) in &self.hours {
            let key = serde_json::to_value(day)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            check_windows(&format!("calendar.hours.{key}"), windows)?;
        }
        check_windows("calendar.makeup_day_hours", &self.makeup_day_hours)?;
        if let Some(day) = self.holidays.intersection(&self.makeup_days).next() {
            return Err(PolicyError::new(
                "calendar.makeup_days",
                format!("{day} is also a holiday: a day is either closed or a make-up working day"),
            ));
        }
        if !self.makeup_days.is_empty() && self.makeup_day_hours.is_empty() {
            return Err(PolicyError::new(
                "calendar.makeup_day_hours",
                "make-up working days are listed but have no hours",
            ));
        }
        Ok(())
    }

    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.time_zone).date_naive()
    }

    /// The open windows of a local day: a holiday has none, a make-up day
    /// has the make-up hours, any other day its weekday's.
    fn windows(&self, day: NaiveDate) -> &[Window] {
        if self.holidays.contains(&day) {
            &[]
        } else if self.makeup_days.contains(&day) {
            &self.makeup_day_hours
        } else {
            self.hours.get(&DayName::of(day)).map_or(&[], Vec::as_slice)
        }
    }

    /// Whether `day` is a day of rest: a Saturday or Sunday that is not a
    /// make-up working day, or a holiday (节假日, as the law counts them,
    /// whatever the service's own hours).
    pub fn is_rest_day(&self, day: NaiveDate) -> bool {
        self.holidays.contains(&day)
            || (matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
                && !self.makeup_days.contains(&day))
    }

    /// Open time between two instants.
    pub fn business_time_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        if to <= from {
            return Duration::zero();
        }
        let mut total = Duration::zero();
        let mut day = self.local_date(from);
        let last = self.local_date(to);
        while day <= last {
            for (open, close) in self.open_intervals(day) {
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
        let mut day = self.local_date(from);
        for _ in 0..HORIZON_DAYS {
            for (open, close) in self.open_intervals(day) {
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
        let local = at.with_timezone(&self.time_zone);
        let minute = minute_of_day(&local);
        self.windows(local.date_naive())
            .iter()
            .any(|w| w.contains_minute(minute))
    }

    fn open_intervals(
        &self,
        day: NaiveDate,
    ) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        self.windows(day)
            .iter()
            .filter_map(move |w| w.on(self.time_zone, day))
    }
}

/// Minutes since local midnight.
pub(crate) fn minute_of_day<T: chrono::Timelike>(time: &T) -> u16 {
    // At most 23 * 60 + 59.
    u16::try_from(time.hour() * 60 + time.minute()).unwrap_or(0)
}

/// Whether a local moment lies in one of `windows`.
pub(crate) fn in_windows<T: chrono::Timelike>(windows: &[Window], time: &T) -> bool {
    let minute = minute_of_day(time);
    windows.iter().any(|w| w.contains_minute(minute))
}

/// Windows of one day must come in order and not overlap.
pub(crate) fn check_windows(key: &str, windows: &[Window]) -> Result<(), PolicyError> {
    for pair in windows.windows(2) {
        if pair[1].start < pair[0].end {
            return Err(PolicyError::new(
                key,
                format!(
                    "{} overlaps or comes before {}: list a day's windows in order",
                    pair[1], pair[0]
                ),
            ));
        }
    }
    Ok(())
}

/// A local time of a day, in UTC. A time the clocks skip (the hour a
/// daylight-saving change jumps over) is read as the moment after the jump;
/// a time they pass twice, as its first occurrence.
fn local(tz: Tz, day: NaiveDate, minutes: u16) -> Option<DateTime<Utc>> {
    let naive = day.and_hms_opt(0, 0, 0)? + Duration::minutes(i64::from(minutes));
    let at = |n| tz.from_local_datetime(&n).earliest();
    at(naive)
        .or_else(|| at(naive + Duration::hours(1)))
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn windows(list: &[&str]) -> Vec<Window> {
        list.iter().map(|w| w.parse().unwrap()).collect()
    }

    #[test]
    fn a_deadline_skips_the_night() {
        let calendar = BusinessCalendar::default();
        // 20:00 China time (12:00 UTC) + 2 h of service: 1 h today, 1 h from 09:00 tomorrow.
        let deadline = calendar.add_business_time(utc("2026-03-02T12:00:00Z"), Duration::hours(2));
        assert_eq!(deadline, Some(utc("2026-03-03T02:00:00Z")));
    }

    #[test]
    fn a_deadline_skips_holidays() {
        let mut calendar = BusinessCalendar::default();
        calendar.holidays.insert(date("2026-03-03"));
        let deadline = calendar.add_business_time(utc("2026-03-02T12:00:00Z"), Duration::hours(2));
        assert_eq!(deadline, Some(utc("2026-03-04T02:00:00Z")));
    }

    #[test]
    fn a_lunch_break_stops_the_clock() {
        let mut calendar = BusinessCalendar::default();
        calendar
            .hours
            .insert(DayName::Mon, windows(&["09:00-12:00", "13:30-18:00"]));
        // Monday 11:00 China time + 2 h: 1 h before lunch, 1 h from 13:30.
        let deadline = calendar.add_business_time(utc("2026-03-02T03:00:00Z"), Duration::hours(2));
        assert_eq!(deadline, Some(utc("2026-03-02T06:30:00Z")));
        assert!(!calendar.is_open(utc("2026-03-02T04:30:00Z")));
        assert_eq!(
            calendar
                .business_time_between(utc("2026-03-02T03:00:00Z"), utc("2026-03-02T06:30:00Z")),
            Duration::hours(2)
        );
    }

    #[test]
    fn a_make_up_day_opens_a_closed_weekend() {
        let mut calendar = BusinessCalendar::default();
        calendar.hours.insert(DayName::Sat, vec![]);
        calendar.hours.insert(DayName::Sun, vec![]);
        calendar.makeup_day_hours = windows(&["09:00-18:00"]);
        // Friday 2026-09-25 20:00 China time + 2 h: 1 h on Friday, the
        // weekend closed, 1 h from Monday 09:00.
        let friday_evening = utc("2026-09-25T12:00:00Z");
        assert_eq!(
            calendar.add_business_time(friday_evening, Duration::hours(2)),
            Some(utc("2026-09-28T02:00:00Z"))
        );
        // With Sunday 2026-09-27 a make-up working day, the second hour falls then.
        calendar.makeup_days.insert(date("2026-09-27"));
        assert_eq!(
            calendar.add_business_time(friday_evening, Duration::hours(2)),
            Some(utc("2026-09-27T02:00:00Z"))
        );
        assert!(!calendar.is_rest_day(date("2026-09-27")));
        assert!(calendar.is_rest_day(date("2026-09-26")));
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
    fn a_zone_with_daylight_saving_counts_real_hours() {
        let calendar = BusinessCalendar {
            time_zone: chrono_tz::Europe::Berlin,
            ..BusinessCalendar::default()
        };
        // Sunday 2026-03-29: clocks go from 02:00 to 03:00; 09:00-21:00
        // local is 07:00-19:00 UTC that day, 08:00-20:00 UTC the day before.
        assert!(calendar.is_open(utc("2026-03-29T07:30:00Z")));
        assert!(!calendar.is_open(utc("2026-03-28T07:30:00Z")));
    }

    #[test]
    fn a_calendar_without_open_days_has_no_deadline() {
        let calendar = BusinessCalendar {
            hours: WeeklyHours::new(),
            ..BusinessCalendar::default()
        };
        assert_eq!(
            calendar.add_business_time(utc("2026-03-02T12:00:00Z"), Duration::hours(1)),
            None
        );
    }

    #[test]
    fn windows_read_as_people_write_them() {
        assert_eq!(windows(&["09:00-24:00"])[0].to_string(), "09:00-24:00");
        for bad in [
            "9:00-12:00",
            "12:00-09:00",
            "09:00",
            "25:00-26:00",
            "09:60-10:00",
        ] {
            assert!(bad.parse::<Window>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bad_calendar_names_the_key() {
        let mut calendar = BusinessCalendar::default();
        calendar
            .hours
            .insert(DayName::Tue, windows(&["13:00-18:00", "09:00-12:00"]));
        assert_eq!(calendar.validate().unwrap_err().key, "calendar.hours.tue");
        let mut calendar = BusinessCalendar::default();
        calendar.holidays.insert(date("2026-10-01"));
        calendar.makeup_days.insert(date("2026-10-01"));
        assert_eq!(calendar.validate().unwrap_err().key, "calendar.makeup_days");
    }
}
