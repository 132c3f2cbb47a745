//! The deployment's time zone (`CLICKRULES_TIMEZONE`), for the UTC offset a guest sees with
//! each press, so a rule such as "after 22:00" is written in local time, daylight saving
//! included.

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// An IANA time zone, with its name.
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

/// A zone name that is not in the time zone database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{name:?} is not a time zone in the IANA database (e.g. Europe/Berlin, America/New_York, UTC)"
)]
pub struct ZoneError {
    /// The name given.
    pub name: String,
}

/// Zones are the same when named the same.
impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl Zone {
    /// The zone named `name` (`Europe/Berlin`); the database is built into the binary, so the
    /// answer does not depend on the machine's `/usr/share/zoneinfo`.
    pub fn parse(name: &str) -> Result<Self, ZoneError> {
        let tz = TimeZone::get(name).map_err(|_| ZoneError {
            name: name.to_string(),
        })?;
        Ok(Self {
            name: name.to_string(),
            tz,
        })
    }

    /// The name it was given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Minutes east of UTC at `at_ms` (ms since the epoch), daylight saving included.
    pub fn offset_minutes(&self, at_ms: u64) -> i32 {
        let Ok(at) = Timestamp::from_millisecond(i64::try_from(at_ms).unwrap_or(i64::MAX)) else {
            return 0;
        };
        self.tz.to_offset(at).seconds() / 60
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-15 12:00 UTC and 2026-07-15 12:00 UTC.
    const WINTER_MS: u64 = 1_768_478_400_000;
    const SUMMER_MS: u64 = 1_784_116_800_000;

    #[test]
    fn offsets_follow_daylight_saving() {
        let berlin = Zone::parse("Europe/Berlin").unwrap();
        assert_eq!(berlin.offset_minutes(WINTER_MS), 60);
        assert_eq!(berlin.offset_minutes(SUMMER_MS), 120);
        let new_york = Zone::parse("America/New_York").unwrap();
        assert_eq!(new_york.offset_minutes(WINTER_MS), -300);
        assert_eq!(new_york.offset_minutes(SUMMER_MS), -240);
        let kolkata = Zone::parse("Asia/Kolkata").unwrap();
        assert_eq!(kolkata.offset_minutes(SUMMER_MS), 330);
        assert_eq!(Zone::parse("UTC").unwrap().offset_minutes(SUMMER_MS), 0);
    }

    #[test]
    fn an_unknown_zone_is_refused_by_name() {
        let err = Zone::parse("Mars/Olympus_Mons").unwrap_err();
        assert_eq!(err.name, "Mars/Olympus_Mons");
    }
}
