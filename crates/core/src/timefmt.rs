//! Formatting event times the ways outputs need (`json_date_format`).
//!
//! Outputs that print records as JSON, CSV, LTSV or templates add the event
//! time under a key (`json_date_key`) in one of Fluent Bit's formats. The
//! digits go straight into the caller's buffer: no allocation per record.
//! Calendar dates are UTC; fractions are truncated to microseconds, as
//! Fluent Bit prints them.

use crate::event::EventTime;
use crate::json::{write_i64, write_u64};

/// How an output writes the record time (`json_date_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateFormat {
    /// Seconds with a fraction: `1700000000.123456`.
    Double,
    /// Whole seconds.
    Epoch,
    /// Whole milliseconds.
    EpochMs,
    /// `2023-11-14T22:13:20.123456Z`.
    Iso8601,
    /// `2023-11-14 22:13:20.123456`.
    JavaSqlTimestamp,
}

const MICROS: i128 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;

impl DateFormat {
    /// Reads Fluent Bit's names for the formats (`double`, `epoch`,
    /// `epoch_ms`, `iso8601`, `java_sql_timestamp`), ignoring case.
    pub fn parse(name: &str) -> Option<Self> {
        const NAMES: [(&str, DateFormat); 5] = [
            ("double", DateFormat::Double),
            ("epoch", DateFormat::Epoch),
            ("epoch_ms", DateFormat::EpochMs),
            ("iso8601", DateFormat::Iso8601),
            ("java_sql_timestamp", DateFormat::JavaSqlTimestamp),
        ];
        let name = name.trim();
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, f)| f)
    }

    /// Writes the time as a JSON value: a number for the numeric formats,
    /// a quoted string for the calendar ones.
    pub fn write_json(self, out: &mut Vec<u8>, t: EventTime) {
        let quoted = matches!(self, DateFormat::Iso8601 | DateFormat::JavaSqlTimestamp);
        if quoted {
            out.push(b'"');
        }
        self.write_text(out, t);
        if quoted {
            out.push(b'"');
        }
    }

    /// Writes the time as bare text, without JSON quotes, for formats
    /// such as CSV, LTSV and templates.
    pub fn write_text(self, out: &mut Vec<u8>, t: EventTime) {
        let micros = total_micros(t);
        match self {
            DateFormat::Double => write_seconds_fraction(out, micros),
            DateFormat::Epoch => write_i64(out, clamp_i64(micros.div_euclid(MICROS))),
            DateFormat::EpochMs => write_i64(out, clamp_i64(micros.div_euclid(1000))),
            DateFormat::Iso8601 => {
                write_calendar(out, micros, b'T');
                out.push(b'Z');
            }
            DateFormat::JavaSqlTimestamp => write_calendar(out, micros, b' '),
        }
    }
}

/// Writes `Mmm dd HH:MM:SS` in UTC, the day padded with a space
/// (`Nov  4 22:13:20`): the time of a BSD syslog (RFC 3164) header.
pub fn write_bsd_syslog_time(out: &mut Vec<u8>, t: EventTime) {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = t.sec.div_euclid(SECS_PER_DAY);
    let of_day = t.sec.rem_euclid(SECS_PER_DAY) as u64;
    let (_, month, day) = civil_from_days(days);
    out.extend_from_slice(MONTHS[month as usize - 1]);
    out.push(b' ');
    if day < 10 {
        out.push(b' ');
    }
    write_u64(out, day.into());
    out.push(b' ');
    write_padded(out, of_day / 3600, 2);
    out.push(b':');
    write_padded(out, of_day / 60 % 60, 2);
    out.push(b':');
    write_padded(out, of_day % 60, 2);
}

/// Microseconds since the epoch; wide enough that no `EventTime`
/// (even one with `nsec` past a second) can overflow it.
fn total_micros(t: EventTime) -> i128 {
    t.sec as i128 * MICROS + (t.nsec / 1000) as i128
}

fn clamp_i64(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// `1700000000.123456`; a time before the epoch gets one sign for the
/// whole number (`-0.500000`), not a negative second plus a fraction.
fn write_seconds_fraction(out: &mut Vec<u8>, micros: i128) {
    if micros < 0 {
        out.push(b'-');
    }
    let abs = micros.unsigned_abs();
    // |micros| / 10^6 is at most about 9.2e12 and always fits.
    write_u64(out, (abs / MICROS as u128) as u64);
    out.push(b'.');
    write_padded(out, (abs % MICROS as u128) as u64, 6);
}

/// `YYYY-MM-DD<sep>HH:MM:SS.ffffff` in UTC.
fn write_calendar(out: &mut Vec<u8>, micros: i128, sep: u8) {
    let secs = clamp_i64(micros.div_euclid(MICROS));
    let frac = micros.rem_euclid(MICROS) as u64;
    let days = secs.div_euclid(SECS_PER_DAY);
    let of_day = secs.rem_euclid(SECS_PER_DAY) as u64;
    let (year, month, day) = civil_from_days(days);

    if year < 0 {
        out.push(b'-');
    }
    write_padded(out, year.unsigned_abs(), 4);
    out.push(b'-');
    write_padded(out, month as u64, 2);
    out.push(b'-');
    write_padded(out, day as u64, 2);
    out.push(sep);
    write_padded(out, of_day / 3600, 2);
    out.push(b':');
    write_padded(out, of_day / 60 % 60, 2);
    out.push(b':');
    write_padded(out, of_day % 60, 2);
    out.push(b'.');
    write_padded(out, frac, 6);
}

/// The proleptic Gregorian date of a day count from 1970-01-01.
///
/// Works in 400-year eras (146,097 days each) counted from 0000-03-01, so
/// that the leap day falls at the end of each shifted year.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Days from 0000-03-01 to 1970-01-01.
    const EPOCH_SHIFT: i64 = 719_468;
    const ERA_DAYS: i64 = 146_097;

    let z = days + EPOCH_SHIFT;
    let era = z.div_euclid(ERA_DAYS);
    let day_of_era = z.rem_euclid(ERA_DAYS);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months counted from March: 0 = March … 11 = February.
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days from 1970-01-01 to a proleptic Gregorian date; the inverse of
/// [`civil_from_days`], for parsers reading calendar times.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Years counted from March, so the leap day ends each shifted year.
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let shifted_month = (month as i64 + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day as i64 - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Writes `v` in decimal, left-padded with zeros to at least `width`.
fn write_padded(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut digits = 1;
    let mut rest = v / 10;
    while rest > 0 {
        digits += 1;
        rest /= 10;
    }
    out.resize(out.len() + width.saturating_sub(digits), b'0');
    write_u64(out, v);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: DateFormat, sec: i64, nsec: u32) -> String {
        let mut out = Vec::new();
        f.write_text(&mut out, EventTime::new(sec, nsec));
        String::from_utf8(out).unwrap()
    }

    fn json(f: DateFormat, sec: i64, nsec: u32) -> String {
        let mut out = Vec::new();
        f.write_json(&mut out, EventTime::new(sec, nsec));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn bsd_syslog_time_is_what_strftime_writes() {
        let mut sec = -86_400 * 800;
        while sec < 4_200_000_000 {
            let t = EventTime::new(sec, 999_999_999);
            let mut out = Vec::new();
            write_bsd_syslog_time(&mut out, t);
            let want = chrono::DateTime::from_timestamp(sec, 0)
                .unwrap()
                .format("%b %e %H:%M:%S")
                .to_string();
            assert_eq!(String::from_utf8(out).unwrap(), want, "{sec}");
            sec += 86_400 * 3 + 3_601 * 7 + 13;
        }
    }

    #[test]
    fn parses_fluent_bit_names_in_any_case() {
        assert_eq!(DateFormat::parse("double"), Some(DateFormat::Double));
        assert_eq!(DateFormat::parse("EPOCH"), Some(DateFormat::Epoch));
        assert_eq!(DateFormat::parse("Epoch_Ms"), Some(DateFormat::EpochMs));
        assert_eq!(DateFormat::parse("iso8601"), Some(DateFormat::Iso8601));
        assert_eq!(
            DateFormat::parse("java_sql_timestamp"),
            Some(DateFormat::JavaSqlTimestamp)
        );
        assert_eq!(DateFormat::parse("rfc3339"), None);
        assert_eq!(DateFormat::parse(""), None);
    }

    #[test]
    fn formats_a_known_time_every_way() {
        let (s, n) = (1_700_000_000, 123_456_789);
        assert_eq!(json(DateFormat::Double, s, n), "1700000000.123456");
        assert_eq!(json(DateFormat::Epoch, s, n), "1700000000");
        assert_eq!(json(DateFormat::EpochMs, s, n), "1700000000123");
        assert_eq!(
            json(DateFormat::Iso8601, s, n),
            "\"2023-11-14T22:13:20.123456Z\""
        );
        assert_eq!(
            json(DateFormat::JavaSqlTimestamp, s, n),
            "\"2023-11-14 22:13:20.123456\""
        );
        assert_eq!(
            text(DateFormat::Iso8601, s, n),
            "2023-11-14T22:13:20.123456Z"
        );
        assert_eq!(
            text(DateFormat::JavaSqlTimestamp, s, n),
            "2023-11-14 22:13:20.123456"
        );
    }

    #[test]
    fn double_keeps_trailing_zeros() {
        assert_eq!(text(DateFormat::Double, 5, 0), "5.000000");
        assert_eq!(text(DateFormat::Double, 0, 1_000), "0.000001");
        assert_eq!(text(DateFormat::Double, 0, 999), "0.000000");
    }

    #[test]
    fn epoch_and_year_boundaries() {
        assert_eq!(
            text(DateFormat::Iso8601, 0, 0),
            "1970-01-01T00:00:00.000000Z"
        );
        // Last microsecond of 1999 and the first of 2000.
        assert_eq!(
            text(DateFormat::Iso8601, 946_684_799, 999_999_999),
            "1999-12-31T23:59:59.999999Z"
        );
        assert_eq!(
            text(DateFormat::Iso8601, 946_684_800, 0),
            "2000-01-01T00:00:00.000000Z"
        );
        // The 2038 rollover of a signed 32-bit time.
        assert_eq!(
            text(DateFormat::JavaSqlTimestamp, 2_147_483_648, 0),
            "2038-01-19 03:14:08.000000"
        );
    }

    #[test]
    fn days_from_civil_inverts_civil_from_days() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn leap_days() {
        // 2000 is a leap year (divisible by 400), 2100 is not, 2024 is.
        assert_eq!(
            text(DateFormat::Iso8601, 951_782_400, 0),
            "2000-02-29T00:00:00.000000Z"
        );
        assert_eq!(
            text(DateFormat::Iso8601, 1_709_164_800, 0),
            "2024-02-29T00:00:00.000000Z"
        );
        assert_eq!(
            text(DateFormat::Iso8601, 1_709_251_199, 0),
            "2024-02-29T23:59:59.000000Z"
        );
        assert_eq!(
            text(DateFormat::Iso8601, 4_107_542_400, 0),
            "2100-03-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn times_before_the_epoch() {
        assert_eq!(
            text(DateFormat::Iso8601, -1, 0),
            "1969-12-31T23:59:59.000000Z"
        );
        // Half a second before the epoch.
        assert_eq!(text(DateFormat::Double, -1, 500_000_000), "-0.500000");
        assert_eq!(text(DateFormat::Epoch, -1, 500_000_000), "-1");
        assert_eq!(text(DateFormat::EpochMs, -1, 500_000_000), "-500");
        assert_eq!(
            text(DateFormat::Iso8601, -62_135_596_800, 0),
            "0001-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            text(DateFormat::Iso8601, -62_135_596_801, 0),
            "0000-12-31T23:59:59.000000Z"
        );
    }

    #[test]
    fn extreme_times_do_not_panic() {
        let all = [
            DateFormat::Double,
            DateFormat::Epoch,
            DateFormat::EpochMs,
            DateFormat::Iso8601,
            DateFormat::JavaSqlTimestamp,
        ];
        for f in all {
            for (s, n) in [(i64::MIN, 0), (i64::MAX, u32::MAX), (0, u32::MAX)] {
                assert!(!text(f, s, n).is_empty());
            }
        }
        // A nanosecond count past one second carries into the seconds.
        assert_eq!(text(DateFormat::Epoch, 0, u32::MAX), "4");
        assert_eq!(text(DateFormat::Epoch, i64::MAX, 0), i64::MAX.to_string());
    }

    #[test]
    fn calendar_matches_chrono_across_centuries() {
        let mut sec = -5_000_000_000i64;
        while sec < 10_000_000_000 {
            let want = chrono::DateTime::from_timestamp(sec, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string();
            assert_eq!(text(DateFormat::Iso8601, sec, 0), want, "sec {sec}");
            sec += 7_777_777;
        }
    }
}
