//! Inflating CompressedPackedForward payloads: gzip, one member or
//! several back to back, with a cap on the inflated size so a small
//! hostile payload cannot take all memory. Large payloads are inflated on
//! a blocking thread so a reactor thread never spends milliseconds on it.

use std::io::Read;

use flate2::read::MultiGzDecoder;

/// Payloads up to this size are inflated in place.
const INLINE_LIMIT: usize = 64 * 1024;

/// Why a payload could not be inflated.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GzipError {
    #[error("invalid gzip data; {0}")]
    Invalid(std::io::Error),
    #[error("gzip payload inflates past {0} bytes")]
    TooLarge(usize),
    #[error("inflating thread failed")]
    Task,
}

/// Inflates `data`, refusing output larger than `cap`.
pub(crate) async fn inflate(data: &[u8], cap: usize) -> Result<Vec<u8>, GzipError> {
    if data.len() <= INLINE_LIMIT {
        return inflate_now(data, cap);
    }
    let owned = data.to_vec();
    tokio::task::spawn_blocking(move || inflate_now(&owned, cap))
        .await
        .map_err(|_| GzipError::Task)?
}

pub(crate) fn inflate_now(data: &[u8], cap: usize) -> Result<Vec<u8>, GzipError> {
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(cap));
    let mut decoder = MultiGzDecoder::new(data).take(cap as u64 + 1);
    decoder.read_to_end(&mut out).map_err(GzipError::Invalid)?;
    if out.len() > cap {
        return Err(GzipError::TooLarge(cap));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn several_members_inflate_as_one() {
        let mut data = gz(b"hello ");
        data.extend(gz(b"world"));
        assert_eq!(inflate_now(&data, 100).unwrap(), b"hello world");
    }

    #[test]
    fn cap_and_garbage_are_errors() {
        let data = gz(&[b'x'; 1000]);
        assert!(matches!(
            inflate_now(&data, 999),
            Err(GzipError::TooLarge(_))
        ));
        assert!(matches!(
            inflate_now(b"not gzip", 100),
            Err(GzipError::Invalid(_))
        ));
    }
}
