//! `Types key:type ...`: what MessagePack type a text field becomes.
//!
//! Formats that capture text (regex, logfmt, ltsv) write every value as a
//! string unless its key is listed here. A value that does not read as
//! its type (`size:integer` on `-`) stays a string, so nothing is lost.

use crate::msgpack;

/// The type named for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Integer,
    Float,
    Bool,
    /// Hexadecimal digits, with or without `0x`, read as an unsigned
    /// integer.
    Hex,
}

/// The `Types` of one parser.
#[derive(Debug, Clone, Default)]
pub struct Types(Vec<(String, FieldType)>);

impl Types {
    /// Reads `key:type` pairs separated by white space.
    ///
    /// # Errors
    /// A pair without `:`, or a type that is not string, integer, float,
    /// bool or hex.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut types = Vec::new();
        for pair in spec.split_whitespace() {
            let (key, name) = pair
                .rsplit_once(':')
                .ok_or_else(|| format!("'{pair}' is not KEY:TYPE"))?;
            let kind = match name.to_ascii_lowercase().as_str() {
                "string" => FieldType::String,
                "integer" | "int" => FieldType::Integer,
                "float" | "double" => FieldType::Float,
                "bool" | "boolean" => FieldType::Bool,
                "hex" => FieldType::Hex,
                _ => {
                    return Err(format!(
                    "unknown type '{name}' for '{key}' (use string, integer, float, bool or hex)"
                ))
                }
            };
            types.push((key.to_owned(), kind));
        }
        Ok(Types(types))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The type declared for `key`, if any.
    pub fn of(&self, key: &[u8]) -> Option<FieldType> {
        self.0
            .iter()
            .find(|(k, _)| k.as_bytes() == key)
            .map(|(_, t)| *t)
    }

    /// Writes `value` as MessagePack, converted to `key`'s type when it
    /// has one and the text reads as it.
    pub fn write(&self, key: &[u8], value: &[u8], out: &mut Vec<u8>) {
        if self.0.is_empty() {
            msgpack::write_str_bytes(out, value);
            return;
        }
        match self.of(key) {
            Some(kind) => write_typed(kind, value, out),
            None => msgpack::write_str_bytes(out, value),
        }
    }
}

fn write_typed(kind: FieldType, value: &[u8], out: &mut Vec<u8>) {
    let text = std::str::from_utf8(value).unwrap_or("").trim();
    let written = match kind {
        FieldType::String => false,
        FieldType::Integer => text
            .parse::<i64>()
            .map(|i| msgpack::write_int(out, i))
            .is_ok(),
        FieldType::Float => text
            .parse::<f64>()
            .map(|f| msgpack::write_f64(out, f))
            .is_ok(),
        FieldType::Bool => match text.to_ascii_lowercase().as_str() {
            "true" => {
                msgpack::write_bool(out, true);
                true
            }
            "false" => {
                msgpack::write_bool(out, false);
                true
            }
            _ => false,
        },
        FieldType::Hex => {
            let digits = text
                .strip_prefix("0x")
                .or_else(|| text.strip_prefix("0X"))
                .unwrap_or(text);
            u64::from_str_radix(digits, 16)
                .map(|u| msgpack::write_uint(out, u))
                .is_ok()
        }
    };
    if !written {
        msgpack::write_str_bytes(out, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgpack::Reader;
    use crate::Value;

    fn typed(types: &Types, key: &str, value: &str) -> Value {
        let mut out = Vec::new();
        types.write(key.as_bytes(), value.as_bytes(), &mut out);
        Reader::new(&out).value().unwrap()
    }

    #[test]
    fn converts_each_type_and_keeps_what_does_not_read() {
        let t = Types::parse("code:integer ratio:float ok:bool id:hex name:string").unwrap();
        assert_eq!(typed(&t, "code", "200"), Value::UInt(200));
        assert_eq!(typed(&t, "code", "-5"), Value::Int(-5));
        assert_eq!(typed(&t, "code", "-"), Value::Str("-".into()));
        assert_eq!(typed(&t, "ratio", "0.25"), Value::Float(0.25));
        assert_eq!(typed(&t, "ok", "TRUE"), Value::Bool(true));
        assert_eq!(typed(&t, "ok", "maybe"), Value::Str("maybe".into()));
        assert_eq!(typed(&t, "id", "0xff"), Value::UInt(255));
        assert_eq!(typed(&t, "id", "beef"), Value::UInt(0xbeef));
        assert_eq!(typed(&t, "name", "42"), Value::Str("42".into()));
        assert_eq!(typed(&t, "other", "42"), Value::Str("42".into()));
    }

    #[test]
    fn bad_specs_are_refused() {
        assert!(Types::parse("code").is_err());
        let err = Types::parse("code:number").unwrap_err();
        assert!(err.contains("unknown type 'number'"), "{err}");
    }
}
