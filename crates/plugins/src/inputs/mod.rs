//! The inputs: each module is one `[INPUT]` plugin, named as configs name
//! it.

pub mod dummy;
pub mod fluentbit_logs;
pub mod forward;
pub mod http;
mod net_records;
pub mod stdin;
pub mod syslog;
pub mod tail;
pub mod tcp;
pub mod udp;

use sluice_core::plugin::{BuildInput, Spec};

/// Every input plugin, in the order `-h` lists them.
pub fn specs() -> Vec<Spec<BuildInput>> {
    vec![
        dummy::SPEC,
        fluentbit_logs::SPEC,
        forward::SPEC,
        http::SPEC,
        stdin::SPEC,
        syslog::SPEC,
        tail::SPEC,
        tcp::SPEC,
        udp::SPEC,
    ]
}

/// Transcodes JSON text that must be an object into MessagePack at the end
/// of `out`; on failure `out` is left as it was.
pub(crate) fn json_object(
    text: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), sluice_core::json::JsonError> {
    let mark = out.len();
    let result = sluice_core::json::to_msgpack(text, out);
    let is_map = matches!(out.get(mark), Some(0x80..=0x8f | 0xde | 0xdf));
    if result.is_err() || !is_map {
        out.truncate(mark);
        return Err(result
            .err()
            .unwrap_or_else(|| sluice_core::json::JsonError("not an object".into())));
    }
    Ok(())
}
