//! Request body and header helpers: compression (gzip, or any other)
//! off the reactor for large bodies, and the `Authorization: Basic` value.

use std::io::Write as _;

use flate2::write::GzEncoder;
use flate2::Compression;

/// Bodies at least this big are compressed on a blocking thread, so a
/// 2 MiB chunk does not hold a reactor thread for milliseconds.
const BLOCKING_THRESHOLD: usize = 64 * 1024;

/// Gzips `body` at level 1, off the reactor when it is large.
///
/// On JSON log lines level 1 took a tenth of the CPU of the default
/// level 6 (bench/http_out.py) for bodies about a quarter larger; a
/// forwarder's CPU is usually the scarcer of the two.
pub async fn gzip(body: Vec<u8>) -> Vec<u8> {
    compress_with(body, gzip_now).await
}

/// Runs `compress` over `body`, on a blocking thread when the body is
/// large.
pub async fn compress_with(body: Vec<u8>, compress: fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    if body.len() < BLOCKING_THRESHOLD {
        return compress(&body);
    }
    // The closure does not panic; a cancelled task only happens at
    // runtime shutdown, where nothing is sent anyway.
    tokio::task::spawn_blocking(move || compress(&body))
        .await
        .unwrap_or_default()
}

fn gzip_now(body: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

/// `Basic base64(user:password)`.
pub fn basic_auth(user: &str, password: &str) -> String {
    let plain = format!("{user}:{password}");
    format!("Basic {}", base64(plain.as_bytes()))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_is_base64_of_user_colon_password() {
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b""), "");
    }

    #[tokio::test]
    async fn gzip_round_trips_small_and_large_bodies() {
        use std::io::Read as _;
        for size in [10, 200_000] {
            let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let packed = gzip(body.clone()).await;
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&packed[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, body);
        }
    }
}
