//! When a profile's scheduled snapshots are due: cron's five fields, in UTC.

use k8s_openapi::jiff::{Timestamp, tz::TimeZone};

/// A parsed `spec.snapshots.schedule`.
#[derive(Debug, Clone)]
pub struct Schedule(croner::Cron);

impl Schedule {
    /// The schedule, or why it is not one (a message naming the field).
    pub fn parse(schedule: &str) -> Result<Self, String> {
        croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .build()
            .parse(schedule)
            .map(Schedule)
            .map_err(|error| {
                format!("spec.snapshots.schedule: {schedule:?} is not a schedule: {error}")
            })
    }

    /// The last time at or before `now` that the schedule names.
    pub fn last_due(&self, now: Timestamp) -> Option<Timestamp> {
        let now = now.to_zoned(TimeZone::UTC);
        self.0
            .find_previous_occurrence(&now, true)
            .ok()
            .map(|z| z.timestamp())
    }

    /// The first time after `now` that the schedule names.
    pub fn next_due(&self, now: Timestamp) -> Option<Timestamp> {
        let now = now.to_zoned(TimeZone::UTC);
        self.0
            .find_next_occurrence(&now, false)
            .ok()
            .map(|z| z.timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    #[test]
    fn the_last_and_next_due_times_bracket_now_in_utc() {
        let nightly = Schedule::parse("0 2 * * *").expect("schedule");
        let now = at("2026-12-07T05:40:00Z");
        assert_eq!(nightly.last_due(now), Some(at("2026-12-07T02:00:00Z")));
        assert_eq!(nightly.next_due(now), Some(at("2026-12-08T02:00:00Z")));
        // Exactly at a due time, that time is the last one due.
        let due = at("2026-12-07T02:00:00Z");
        assert_eq!(nightly.last_due(due), Some(due));
        assert_eq!(
            Schedule::parse("@hourly").expect("macro").next_due(now),
            Some(at("2026-12-07T06:00:00Z"))
        );
    }

    #[test]
    fn a_schedule_cron_cannot_run_names_the_field() {
        let error = Schedule::parse("61 * * * *").expect_err("minute 61");
        assert!(error.starts_with("spec.snapshots.schedule"), "{error}");
    }
}
