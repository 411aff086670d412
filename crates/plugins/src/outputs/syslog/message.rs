//! One record as one syslog message, RFC 5424 or RFC 3164, written from
//! the record's MessagePack without building a tree.
//!
//! RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`,
//! the time in UTC with microseconds, `-` for a field with no value, SD
//! elements `[id name="value" ...]` from the maps under the `sd` keys
//! (`"`, `\` and `]` escaped). RFC 3164: `<PRI>Mmm dd hh:mm:ss HOSTNAME
//! APP-NAME[PROCID]: MSG`. A field's value comes from its record key,
//! else its preset. Severity and facility are numbers or names (`err`,
//! `local3`); anything else falls back to the preset. A message longer
//! than the size limit is cut at a character boundary.

use sluice_core::json;
use sluice_core::msgpack::{DecodeError, Reader, Token};
use sluice_core::timefmt::{write_bsd_syslog_time, DateFormat};
use sluice_core::RawEvent;

use crate::outputs::format::key_text;

/// The two message layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    Rfc3164,
    Rfc5424,
}

/// The record key (if any) and the preset of one header field.
#[derive(Debug, Clone, Default)]
pub(crate) struct Field {
    pub key: Option<String>,
    pub preset: Option<String>,
}

/// How messages are built, from the plugin's keys.
#[derive(Debug, Clone)]
pub(crate) struct Composer {
    pub layout: Layout,
    pub max_size: usize,
    pub severity: Field,
    pub facility: Field,
    pub hostname: Field,
    pub appname: Field,
    pub procid: Field,
    pub msgid: Field,
    pub message_key: Option<String>,
    pub sd_keys: Vec<String>,
}

/// The values one record holds for the configured keys, as MessagePack.
#[derive(Default)]
struct Found<'a> {
    severity: Option<&'a [u8]>,
    facility: Option<&'a [u8]>,
    hostname: Option<&'a [u8]>,
    appname: Option<&'a [u8]>,
    procid: Option<&'a [u8]>,
    msgid: Option<&'a [u8]>,
    message: Option<&'a [u8]>,
    sd: Vec<(&'a [u8], &'a [u8])>,
}

impl Composer {
    /// Appends the message for `e` to `out`.
    ///
    /// # Errors
    ///
    /// The record body is not a map, or is malformed.
    pub fn write(&self, out: &mut Vec<u8>, e: &RawEvent<'_>) -> Result<(), DecodeError> {
        let found = self.find(e.body)?;
        let start = out.len();
        let pri = self.facility(&found) * 8 + self.severity(&found);
        match self.layout {
            Layout::Rfc5424 => self.write_5424(out, e, &found, pri)?,
            Layout::Rfc3164 => self.write_3164(out, e, &found, pri)?,
        }
        truncate_at_char(out, start + self.max_size);
        Ok(())
    }

    fn find<'a>(&self, body: &'a [u8]) -> Result<Found<'a>, DecodeError> {
        let mut r = Reader::new(body);
        let Token::Map(n) = r.token()? else {
            return Err(DecodeError::Shape("record body is not a map"));
        };
        let mut found = Found::default();
        for _ in 0..n {
            let key = key_text(r.skip()?).unwrap_or_default();
            let value = r.skip()?;
            let is = |f: &Field| f.key.as_deref().map(str::as_bytes) == Some(key);
            let slot = if is(&self.severity) {
                &mut found.severity
            } else if is(&self.facility) {
                &mut found.facility
            } else if is(&self.hostname) {
                &mut found.hostname
            } else if is(&self.appname) {
                &mut found.appname
            } else if is(&self.procid) {
                &mut found.procid
            } else if is(&self.msgid) {
                &mut found.msgid
            } else if self.message_key.as_deref().map(str::as_bytes) == Some(key) {
                &mut found.message
            } else {
                if self.sd_keys.iter().any(|k| k.as_bytes() == key) {
                    found.sd.push((key, value));
                }
                continue;
            };
            *slot = Some(value);
        }
        Ok(found)
    }

    fn severity(&self, found: &Found<'_>) -> u8 {
        number(found.severity, &self.severity, 6, 7, severity_by_name)
    }

    fn facility(&self, found: &Found<'_>) -> u8 {
        number(found.facility, &self.facility, 1, 23, facility_by_name)
    }

    fn write_5424(
        &self,
        out: &mut Vec<u8>,
        e: &RawEvent<'_>,
        found: &Found<'_>,
        pri: u8,
    ) -> Result<(), DecodeError> {
        write_pri(out, pri);
        out.extend_from_slice(b"1 ");
        DateFormat::Iso8601.write_text(out, e.time);
        for (value, field, limit) in [
            (found.hostname, &self.hostname, 255),
            (found.appname, &self.appname, 48),
            (found.procid, &self.procid, 128),
            (found.msgid, &self.msgid, 32),
        ] {
            out.push(b' ');
            header_field(out, value, field, limit)?;
        }
        out.push(b' ');
        if found.sd.is_empty() {
            out.push(b'-');
        }
        for (id, value) in &found.sd {
            write_sd(out, id, value)?;
        }
        if let Some(message) = found.message {
            out.push(b' ');
            text(out, message)?;
        }
        Ok(())
    }

    fn write_3164(
        &self,
        out: &mut Vec<u8>,
        e: &RawEvent<'_>,
        found: &Found<'_>,
        pri: u8,
    ) -> Result<(), DecodeError> {
        write_pri(out, pri);
        write_bsd_syslog_time(out, e.time);
        out.push(b' ');
        header_field(out, found.hostname, &self.hostname, 255)?;
        out.push(b' ');
        let has_app = found.appname.is_some() || self.appname.preset.is_some();
        if has_app {
            header_field(out, found.appname, &self.appname, 48)?;
            if found.procid.is_some() || self.procid.preset.is_some() {
                out.push(b'[');
                header_field(out, found.procid, &self.procid, 128)?;
                out.push(b']');
            }
            out.extend_from_slice(b": ");
        }
        if let Some(message) = found.message {
            text(out, message)?;
        }
        Ok(())
    }
}

/// `<PRI>`: facility times eight plus severity, in decimal.
fn write_pri(out: &mut Vec<u8>, pri: u8) {
    out.push(b'<');
    json::write_u64(out, pri.into());
    out.push(b'>');
}

/// A header field: printable ASCII without spaces, at most `limit`
/// bytes, `-` when empty. Written in place, then the bytes a header
/// cannot hold are squeezed out.
fn header_field(
    out: &mut Vec<u8>,
    value: Option<&[u8]>,
    field: &Field,
    limit: usize,
) -> Result<(), DecodeError> {
    let mark = out.len();
    match (value, &field.preset) {
        (Some(v), _) => text(out, v)?,
        (None, Some(preset)) => out.extend_from_slice(preset.as_bytes()),
        (None, None) => {}
    }
    let mut kept = mark;
    for at in mark..out.len() {
        let b = out[at];
        if (33..=126).contains(&b) && kept - mark < limit {
            out[kept] = b;
            kept += 1;
        }
    }
    out.truncate(kept);
    if kept == mark {
        out.push(b'-');
    }
    Ok(())
}

/// `[id name="value" ...]` from a map; other values are skipped.
fn write_sd(out: &mut Vec<u8>, id: &[u8], value: &[u8]) -> Result<(), DecodeError> {
    let mut r = Reader::new(value);
    let Token::Map(n) = r.token()? else {
        return Ok(());
    };
    out.push(b'[');
    out.extend(
        id.iter()
            .filter(|b| (33..=126).contains(*b) && !b"=]\" ".contains(b)),
    );
    for _ in 0..n {
        let name = key_text(r.skip()?).unwrap_or_default();
        let mut param = Vec::new();
        text(&mut param, r.skip()?)?;
        out.push(b' ');
        out.extend_from_slice(name);
        out.extend_from_slice(b"=\"");
        for b in param {
            if matches!(b, b'"' | b'\\' | b']') {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    }
    out.push(b']');
    Ok(())
}

/// A value as text: a string's bytes as they are, anything else as JSON.
fn text(out: &mut Vec<u8>, value: &[u8]) -> Result<(), DecodeError> {
    match Reader::new(value).token()? {
        Token::Str(s) | Token::Bin(s) => out.extend_from_slice(s),
        _ => json::write_msgpack(out, &mut Reader::new(value))?,
    }
    Ok(())
}

/// A severity or facility from the record, else the preset, else
/// `default`; numbers above `max` and unknown names fall back too.
fn number(
    value: Option<&[u8]>,
    field: &Field,
    default: u8,
    max: u8,
    by_name: fn(&str) -> Option<u8>,
) -> u8 {
    let parse = |s: &str| {
        let s = s.trim();
        s.parse::<u8>()
            .ok()
            .or_else(|| by_name(&s.to_ascii_lowercase()))
    };
    let from_record = value.and_then(|v| match Reader::new(v).token().ok()? {
        Token::UInt(u) => u8::try_from(u).ok(),
        Token::Int(i) => u8::try_from(i).ok(),
        Token::Str(s) => parse(std::str::from_utf8(s).ok()?),
        _ => None,
    });
    from_record
        .filter(|n| *n <= max)
        .or_else(|| {
            field
                .preset
                .as_deref()
                .and_then(parse)
                .filter(|n| *n <= max)
        })
        .unwrap_or(default)
}

fn severity_by_name(name: &str) -> Option<u8> {
    let names: &[&[&str]] = &[
        &["emerg", "emergency", "panic"],
        &["alert"],
        &["crit", "critical"],
        &["err", "error"],
        &["warning", "warn"],
        &["notice"],
        &["info", "informational"],
        &["debug"],
    ];
    names
        .iter()
        .position(|n| n.contains(&name))
        .map(|p| p as u8)
}

fn facility_by_name(name: &str) -> Option<u8> {
    const NAMES: [&str; 16] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
        "authpriv", "ftp", "ntp", "security", "console", "clock",
    ];
    if let Some(n) = name
        .strip_prefix("local")
        .and_then(|d| d.parse::<u8>().ok())
    {
        return (n <= 7).then_some(16 + n);
    }
    NAMES.iter().position(|n| *n == name).map(|p| p as u8)
}

/// Cuts `out` to at most `len` bytes without splitting a UTF-8 character.
fn truncate_at_char(out: &mut Vec<u8>, len: usize) {
    if out.len() <= len {
        return;
    }
    let mut cut = len;
    while cut > 0 && (out[cut] & 0xc0) == 0x80 {
        cut -= 1;
    }
    out.truncate(cut);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::testutil::{body, chunk};
    use sluice_core::{Map, Value};

    fn composer(layout: Layout) -> Composer {
        let key = |k: &str| Field {
            key: Some(k.into()),
            preset: None,
        };
        Composer {
            layout,
            max_size: 2048,
            severity: key("sev"),
            facility: Field {
                key: Some("fac".into()),
                preset: Some("local0".into()),
            },
            hostname: key("host"),
            appname: key("app"),
            procid: key("pid"),
            msgid: Field {
                key: None,
                preset: Some("ID7".into()),
            },
            message_key: Some("log".into()),
            sd_keys: vec!["meta".into()],
        }
    }

    fn written(c: &Composer, pairs: &[(&str, Value)]) -> String {
        let chunk = chunk("t", &[body(pairs)]);
        let event = chunk.events().next().unwrap().unwrap();
        let mut out = Vec::new();
        c.write(&mut out, &event).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn rfc5424_with_structured_data() {
        let mut sd = Map::new();
        sd.push("a", Value::Str("x\"y]".into()));
        let text = written(
            &composer(Layout::Rfc5424),
            &[
                ("sev", Value::Str("err".into())),
                ("host", Value::Str("web 1".into())),
                ("app", Value::Str("shop".into())),
                ("pid", Value::UInt(42)),
                ("meta", Value::Map(sd)),
                ("log", Value::Str("it broke".into())),
            ],
        );
        assert_eq!(
            text,
            "<131>1 2023-11-14T22:13:20.123456Z web1 shop 42 ID7 [meta a=\"x\\\"y\\]\"] it broke"
        );
    }

    #[test]
    fn rfc3164_and_fallbacks() {
        let text = written(
            &composer(Layout::Rfc3164),
            &[
                ("sev", Value::UInt(99)),
                ("fac", Value::Str("mail".into())),
                ("app", Value::Str("cron".into())),
                ("log", Value::Str("ran".into())),
            ],
        );
        assert_eq!(text, "<22>Nov 14 22:13:20 - cron: ran");
    }

    #[test]
    fn long_messages_are_cut_at_a_character() {
        let mut c = composer(Layout::Rfc3164);
        c.max_size = 40;
        let text = written(&c, &[("log", Value::Str("é".repeat(40)))]);
        assert!(text.len() <= 40 && text.ends_with('é'), "{text}");
    }
}
