//! Reading record times: `Time_Format` (strptime) with Fluent Bit's `%L`
//! fraction, and the zone a time without `%z` is read in (`Time_Offset`,
//! `Time_System_Timezone`, or UTC).
//!
//! A format is compiled once, when the parser is built; reading a time
//! allocates nothing. A format without a year (`%b %d %H:%M:%S`, as
//! syslog writes) takes the current year. `Time_Strict` (default on)
//! wants every part of the format in the text; off, a missing fraction
//! or zone is forgiven. Text after the format is ignored either way.

use chrono::{Datelike, Local, Offset, TimeZone};

use crate::event::EventTime;
use crate::timefmt::{civil_from_days, days_from_civil};

/// Which zone a time without an explicit offset is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Utc,
    /// Seconds east of UTC (`Time_Offset +0900` is 32400).
    Fixed(i32),
    /// The system's zone (`TZ`, else /etc/localtime).
    Local,
}

/// A compiled `Time_Format` and the rules around it.
#[derive(Debug, Clone)]
pub struct TimeParser {
    items: Vec<Item>,
    zone: Zone,
    strict: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Literal(u8),
    /// White space in the format: any run of it, or none.
    Space,
    Number(Field, usize),
    Fraction,
    MonthName,
    WeekdayName,
    Offset,
    ZoneName,
    AmPm,
    Epoch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Year,
    Year2,
    Month,
    Day,
    Hour,
    Hour12,
    Minute,
    Second,
    DayOfYear,
    Ignored,
}

/// What a time's text said.
#[derive(Debug, Default)]
struct Parts {
    year: Option<i64>,
    month: Option<u32>,
    day: Option<u32>,
    yday: Option<u32>,
    hour: u32,
    minute: u32,
    second: u32,
    nsec: u32,
    pm: Option<bool>,
    offset: Option<i32>,
    epoch: Option<i64>,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const MONTH_NAMES: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const DAY_NAMES: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

impl TimeParser {
    /// Compiles `format`.
    ///
    /// # Errors
    /// A directive this reader does not know, or a lone `%` at the end.
    pub fn new(format: &str, zone: Zone, strict: bool) -> Result<Self, String> {
        let mut items = Vec::new();
        compile_into(format, &mut items)?;
        Ok(TimeParser {
            items,
            zone,
            strict,
        })
    }

    /// Reads a time from `text`; `None` when it does not fit the format.
    pub fn parse(&self, text: &[u8]) -> Option<EventTime> {
        let parts = self.read(text)?;
        self.resolve(&parts)
    }

    fn read(&self, text: &[u8]) -> Option<Parts> {
        let mut parts = Parts::default();
        let mut at = 0;
        let mut i = 0;
        while i < self.items.len() {
            match read_item(self.items[i], text, at, &mut parts) {
                Some(next) => at = next,
                None if self.strict => return None,
                // Forgiving: a missing fraction (with its separator) or
                // zone is skipped; anything else still fails.
                None => match (self.items[i], self.items.get(i + 1)) {
                    (Item::Literal(b'.' | b','), Some(Item::Fraction)) => i += 1,
                    (Item::Fraction | Item::Offset | Item::ZoneName, _) => {}
                    _ if at >= text.len() && at > 0 => break,
                    _ => return None,
                },
            }
            i += 1;
        }
        // Text after the format is ignored, strict or not, as Fluent Bit
        // does: Docker's `...%L` format meets times ending in `Z`.
        Some(parts)
    }

    fn resolve(&self, p: &Parts) -> Option<EventTime> {
        if let Some(epoch) = p.epoch {
            return Some(EventTime::new(epoch, p.nsec));
        }
        let hour = match p.pm {
            Some(pm) if p.hour <= 12 => p.hour % 12 + if pm { 12 } else { 0 },
            _ => p.hour,
        };
        if hour > 24 || p.minute > 59 || p.second > 60 {
            return None;
        }
        let year = match p.year {
            Some(y) => y,
            None => self.current_year(),
        };
        let days = match (p.month, p.day, p.yday) {
            (None, None, Some(yday)) if (1..=366).contains(&yday) => {
                days_from_civil(year, 1, 1) + yday as i64 - 1
            }
            (month, day, _) => {
                let (month, day) = (month.unwrap_or(1), day.unwrap_or(1));
                if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
                    return None;
                }
                days_from_civil(year, month, day)
            }
        };
        let wall = days * 86_400 + hour as i64 * 3600 + p.minute as i64 * 60 + p.second as i64;
        let offset = match (p.offset, self.zone) {
            (Some(o), _) => o,
            (None, Zone::Utc) => 0,
            (None, Zone::Fixed(o)) => o,
            (None, Zone::Local) => local_offset(wall)?,
        };
        Some(EventTime::new(wall - offset as i64, p.nsec))
    }

    fn current_year(&self) -> i64 {
        let now = EventTime::now().sec;
        match self.zone {
            Zone::Local => Local::now().year() as i64,
            Zone::Fixed(o) => civil_from_days((now + o as i64).div_euclid(86_400)).0,
            Zone::Utc => civil_from_days(now.div_euclid(86_400)).0,
        }
    }
}

/// The system zone's offset at a wall-clock time (seconds east of UTC);
/// in a repeated hour the earlier reading wins.
fn local_offset(wall: i64) -> Option<i32> {
    let naive = chrono::DateTime::from_timestamp(wall, 0)?.naive_utc();
    let offset = Local.offset_from_local_datetime(&naive).earliest()?;
    Some(offset.fix().local_minus_utc())
}

/// Reads a `Time_Offset` value: `+0900`, `-07:00`, `+09`, `Z` or `UTC`.
pub fn parse_offset(text: &str) -> Result<i32, String> {
    let bad = || format!("'{text}' is not a UTC offset (e.g. +0900, -07:00)");
    let bytes = text.trim().as_bytes();
    match read_offset(bytes, 0) {
        Some((offset, end)) if end == bytes.len() => Ok(offset),
        _ => Err(bad()),
    }
}

fn compile_into(format: &str, items: &mut Vec<Item>) -> Result<(), String> {
    let mut bytes = format.bytes();
    while let Some(b) = bytes.next() {
        if b.is_ascii_whitespace() {
            if items.last() != Some(&Item::Space) {
                items.push(Item::Space);
            }
            continue;
        }
        if b != b'%' {
            items.push(Item::Literal(b));
            continue;
        }
        let Some(d) = bytes.next() else {
            return Err("time format ends with a lone '%'".into());
        };
        let expanded = match d {
            b'T' => Some("%H:%M:%S"),
            b'D' => Some("%m/%d/%y"),
            b'F' => Some("%Y-%m-%d"),
            b'R' => Some("%H:%M"),
            b'r' => Some("%I:%M:%S %p"),
            _ => None,
        };
        if let Some(expanded) = expanded {
            compile_into(expanded, items)?;
            continue;
        }
        items.push(directive(d)?);
    }
    Ok(())
}

fn directive(d: u8) -> Result<Item, String> {
    use Field::*;
    Ok(match d {
        b'Y' => Item::Number(Year, 4),
        b'y' => Item::Number(Year2, 2),
        b'm' => Item::Number(Month, 2),
        b'd' | b'e' => Item::Number(Day, 2),
        b'H' | b'k' => Item::Number(Hour, 2),
        b'I' | b'l' => Item::Number(Hour12, 2),
        b'M' => Item::Number(Minute, 2),
        b'S' => Item::Number(Second, 2),
        b'j' => Item::Number(DayOfYear, 3),
        b'u' | b'w' => Item::Number(Ignored, 1),
        b'U' | b'W' | b'V' => Item::Number(Ignored, 2),
        b'L' | b'N' => Item::Fraction,
        b'b' | b'B' | b'h' => Item::MonthName,
        b'a' | b'A' => Item::WeekdayName,
        b'z' => Item::Offset,
        b'Z' => Item::ZoneName,
        b'p' | b'P' => Item::AmPm,
        b's' => Item::Epoch,
        b'n' | b't' => Item::Space,
        b'%' => Item::Literal(b'%'),
        other => {
            return Err(format!(
                "unsupported time format directive '%{}'",
                other as char
            ))
        }
    })
}

/// Reads one item at `at`, returning where the next one starts.
fn read_item(item: Item, text: &[u8], at: usize, p: &mut Parts) -> Option<usize> {
    match item {
        Item::Literal(b) => (text.get(at) == Some(&b)).then_some(at + 1),
        Item::Space => Some(
            at + text[at..]
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count(),
        ),
        Item::Number(field, width) => {
            let (n, end) = read_number(text, skip_spaces(text, at), width)?;
            store(field, n, p);
            Some(end)
        }
        Item::Fraction => {
            let digits = text[at..].iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 {
                return None;
            }
            let mut nsec = 0u32;
            for i in 0..9 {
                let d = text
                    .get(at + i)
                    .filter(|_| i < digits)
                    .map_or(0, |b| b - b'0');
                nsec = nsec * 10 + d as u32;
            }
            p.nsec = nsec;
            Some(at + digits)
        }
        Item::MonthName => {
            let (i, end) = read_name(text, at, &MONTH_NAMES, &MONTHS)?;
            p.month = Some(i as u32 + 1);
            Some(end)
        }
        Item::WeekdayName => read_name(text, at, &DAY_NAMES, &DAYS).map(|(_, end)| end),
        Item::Offset => {
            let (offset, end) = read_offset(text, skip_spaces(text, at))?;
            p.offset = Some(offset);
            Some(end)
        }
        Item::ZoneName => read_zone_name(text, at, p),
        Item::AmPm => {
            let word = text.get(at..at + 2)?;
            p.pm = Some(match word.to_ascii_lowercase().as_slice() {
                b"am" => false,
                b"pm" => true,
                _ => return None,
            });
            Some(at + 2)
        }
        Item::Epoch => {
            let start = skip_spaces(text, at);
            let neg = text.get(start) == Some(&b'-');
            let (n, end) = read_number(text, start + neg as usize, 19)?;
            p.epoch = Some(if neg { -(n as i64) } else { n as i64 });
            Some(end)
        }
    }
}

fn store(field: Field, n: u64, p: &mut Parts) {
    let small = n.min(u32::MAX as u64) as u32;
    match field {
        Field::Year => p.year = Some(n as i64),
        Field::Year2 => p.year = Some(if n < 69 { 2000 } else { 1900 } + n as i64),
        Field::Month => p.month = Some(small),
        Field::Day => p.day = Some(small),
        Field::Hour | Field::Hour12 => p.hour = small,
        Field::Minute => p.minute = small,
        Field::Second => p.second = small,
        Field::DayOfYear => p.yday = Some(small),
        Field::Ignored => {}
    }
}

fn skip_spaces(text: &[u8], at: usize) -> usize {
    at + text[at..].iter().take_while(|b| **b == b' ').count()
}

/// Reads 1 to `width` digits.
fn read_number(text: &[u8], at: usize, width: usize) -> Option<(u64, usize)> {
    let digits = text
        .get(at..)?
        .iter()
        .take(width)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 {
        return None;
    }
    let n = text[at..at + digits]
        .iter()
        .fold(0u64, |n, b| n * 10 + (b - b'0') as u64);
    Some((n, at + digits))
}

/// Matches a full name or its three-letter form, ignoring case.
fn read_name(text: &[u8], at: usize, full: &[&str], short: &[&str]) -> Option<(usize, usize)> {
    let rest = &text[at..];
    let starts = |name: &str| {
        rest.len() >= name.len() && rest[..name.len()].eq_ignore_ascii_case(name.as_bytes())
    };
    if let Some(i) = full.iter().position(|n| starts(n)) {
        return Some((i, at + full[i].len()));
    }
    short
        .iter()
        .position(|n| starts(n))
        .map(|i| (i, at + short[i].len()))
}

/// `Z`, `UTC`, `GMT`, `+hh`, `+hhmm` or `+hh:mm`.
fn read_offset(text: &[u8], at: usize) -> Option<(i32, usize)> {
    let rest = text.get(at..)?;
    for name in ["UTC", "GMT", "Z"] {
        if rest.len() >= name.len() && rest[..name.len()].eq_ignore_ascii_case(name.as_bytes()) {
            return Some((0, at + name.len()));
        }
    }
    let sign = match rest.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, mut end) = read_number(text, at + 1, 2)?;
    if end - at != 3 {
        return None;
    }
    if text.get(end) == Some(&b':') {
        end += 1;
    }
    let (minutes, end) = match read_number(text, end, 2) {
        Some((m, e)) if e - end == 2 => (m, e),
        _ if text.get(end - 1) == Some(&b':') => return None,
        _ => (0, end),
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((sign * (hours * 3600 + minutes * 60) as i32, end))
}

/// `%Z`: UTC-like names set the offset; other zone names are skipped and
/// the parser's zone applies.
fn read_zone_name(text: &[u8], at: usize, p: &mut Parts) -> Option<usize> {
    let len = text[at..]
        .iter()
        .take_while(|b| b.is_ascii_alphabetic())
        .count();
    if len == 0 {
        return None;
    }
    let name = &text[at..at + len];
    if [&b"UTC"[..], b"GMT", b"Z"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n))
    {
        p.offset = Some(0);
    }
    // TODO: resolve zone names such as CET or PST, because only UTC-like
    // names are known here; others fall back to the parser's zone.
    Some(at + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(format: &str, text: &str) -> Option<EventTime> {
        TimeParser::new(format, Zone::Utc, true)
            .unwrap()
            .parse(text.as_bytes())
    }

    #[test]
    fn iso_times_with_fraction_and_zone() {
        let f = "%Y-%m-%dT%H:%M:%S.%L%z";
        let want = EventTime::new(1_700_000_000, 123_456_789);
        assert_eq!(t(f, "2023-11-14T22:13:20.123456789Z"), Some(want));
        assert_eq!(t(f, "2023-11-15T07:13:20.123456789+09:00"), Some(want));
        assert_eq!(t(f, "2023-11-14T17:13:20.123456789-0500"), Some(want));
        let ms = t(f, "2023-11-14T22:13:20.5Z").unwrap();
        assert_eq!(ms.nsec, 500_000_000);
        // More than nine digits: the rest is read and dropped.
        assert_eq!(t(f, "2023-11-14T22:13:20.1234567891Z"), Some(want));
    }

    #[test]
    fn apache_and_syslog_formats() {
        assert_eq!(
            t("%d/%b/%Y:%H:%M:%S %z", "10/Oct/2000:13:55:36 -0700"),
            Some(EventTime::new(971_211_336, 0))
        );
        let year = civil_from_days(EventTime::now().sec.div_euclid(86_400)).0;
        let got = t("%b %d %H:%M:%S", "Feb  5 17:32:18").unwrap();
        let want = days_from_civil(year, 2, 5) * 86_400 + 17 * 3600 + 32 * 60 + 18;
        assert_eq!(got, EventTime::new(want, 0));
    }

    #[test]
    fn offsets_and_system_zone_apply_without_z() {
        let tokyo = TimeParser::new("%Y-%m-%d %H:%M:%S", Zone::Fixed(32_400), true).unwrap();
        assert_eq!(
            tokyo.parse(b"2023-11-15 07:13:20"),
            Some(EventTime::new(1_700_000_000, 0))
        );
        // An explicit %z wins over the configured offset.
        let both = TimeParser::new("%Y-%m-%d %H:%M:%S %z", Zone::Fixed(32_400), true).unwrap();
        assert_eq!(
            both.parse(b"2023-11-14 22:13:20 +0000"),
            Some(EventTime::new(1_700_000_000, 0))
        );
        let local = TimeParser::new("%Y-%m-%d %H:%M:%S", Zone::Local, true).unwrap();
        assert!(local.parse(b"2023-11-14 22:13:20").is_some());
        assert_eq!(parse_offset("+0900"), Ok(32_400));
        assert_eq!(parse_offset("-07:00"), Ok(-25_200));
        assert_eq!(parse_offset("Z"), Ok(0));
        assert!(parse_offset("9 hours").is_err());
    }

    #[test]
    fn epoch_twelve_hour_and_names() {
        assert_eq!(
            t("%s.%L", "1700000000.25"),
            Some(EventTime::new(1_700_000_000, 250_000_000))
        );
        assert_eq!(
            t(
                "%a, %d %B %Y %I:%M:%S %p",
                "Tue, 14 November 2023 10:13:20 PM"
            ),
            Some(EventTime::new(1_700_000_000, 0))
        );
        assert_eq!(
            t("%F %T", "2023-11-14 22:13:20"),
            t("%Y-%m-%d %H:%M:%S", "2023-11-14 22:13:20")
        );
        assert!(TimeParser::new("%Q", Zone::Utc, true).is_err());
    }

    #[test]
    fn strict_and_forgiving_modes() {
        let f = "%Y-%m-%dT%H:%M:%S.%L%z";
        assert_eq!(t(f, "2023-11-14T22:13:20Z"), None);
        assert!(t("%Y-%m-%dT%H:%M:%S.%L", "2023-11-14T22:13:20.5Z").is_some());
        assert_eq!(t("%Y-%m-%d", "2023-13-14"), None);
        let lenient = TimeParser::new(f, Zone::Utc, false).unwrap();
        assert_eq!(
            lenient.parse(b"2023-11-14T22:13:20Z"),
            Some(EventTime::new(1_700_000_000, 0))
        );
        assert_eq!(
            lenient.parse(b"2023-11-14T22:13:20"),
            Some(EventTime::new(1_700_000_000, 0))
        );
        assert_eq!(lenient.parse(b"yesterday"), None);
    }
}
