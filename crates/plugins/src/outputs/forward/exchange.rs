//! What the forward output reads from its server: the secure-forward
//! handshake on a new connection, and acks.
//!
//! The handshake: the server sends `["HELO", {"nonce", "auth",
//! "keepalive"}]`; the client answers `["PING", self_hostname, salt,
//! hex(sha512(salt + self_hostname + nonce + shared_key)), username,
//! hex(sha512(auth + username + password))]` with a fresh random salt; the
//! server answers `["PONG", ok, reason, server_hostname, hex(sha512(salt +
//! server_hostname + nonce + shared_key))]`, and the client checks that
//! digest too, so a server that does not know the key is not trusted with
//! events. An ack is a map `{"ack": chunk_id}`.

use std::time::Duration;

use ring::digest::{digest, SHA512};
use sluice_core::msgpack::{self, DecodeError, Reader, Token};
use sluice_core::net::upstream::{Connection, UpstreamError};

/// The largest answer read from a server; more is a broken server.
const MAX_ANSWER: usize = 64 * 1024;

/// Why a flush could not hand its chunk over.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExchangeError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("server closed the connection before answering")]
    Closed,
    #[error("server answer is not what the protocol says; {0}")]
    Malformed(String),
    #[error("server refused the handshake; {0}")]
    Refused(String),
    #[error("no ack within {0:?}")]
    AckTimeout(Duration),
    #[error("ack for another chunk")]
    WrongAck,
}

impl From<DecodeError> for ExchangeError {
    fn from(e: DecodeError) -> Self {
        ExchangeError::Malformed(e.to_string())
    }
}

/// The client's secrets.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    pub shared_key: String,
    pub self_hostname: String,
    pub username: String,
    pub password: String,
}

/// Runs the handshake on a new connection.
///
/// # Errors
///
/// The server closed, answered out of protocol, refused the key or user,
/// or proved it does not know the shared key.
pub(crate) async fn handshake(
    conn: &mut Connection,
    creds: &Credentials,
) -> Result<(), ExchangeError> {
    let helo = read_answer(conn, None).await?;
    let (nonce, user_salt) = parse_helo(&helo)?;
    let salt = random_hex();
    conn.write_all(&ping(creds, &salt, &nonce, &user_salt))
        .await?;
    let pong = read_answer(conn, None).await?;
    check_pong(&pong, creds, &salt, &nonce)
}

fn parse_helo(frame: &[u8]) -> Result<(Vec<u8>, Vec<u8>), ExchangeError> {
    let mut r = Reader::new(frame);
    if r.token()? != Token::Array(2) || bytes(&mut r)? != b"HELO" {
        return Err(ExchangeError::Malformed("expected HELO".into()));
    }
    let Token::Map(n) = r.token()? else {
        return Err(ExchangeError::Malformed(
            "HELO options are not a map".into(),
        ));
    };
    let (mut nonce, mut auth) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let key = r.token()?;
        match (key, r.token()?) {
            (Token::Str(b"nonce"), Token::Str(v) | Token::Bin(v)) => nonce = v.to_vec(),
            (Token::Str(b"auth"), Token::Str(v) | Token::Bin(v)) => auth = v.to_vec(),
            (_, Token::Array(_) | Token::Map(_)) => {
                return Err(ExchangeError::Malformed("nested HELO option".into()))
            }
            _ => {}
        }
    }
    Ok((nonce, auth))
}

fn ping(creds: &Credentials, salt: &str, nonce: &[u8], user_salt: &[u8]) -> Vec<u8> {
    let host = creds.self_hostname.as_bytes();
    let key = sha512_hex(&[salt.as_bytes(), host, nonce, creds.shared_key.as_bytes()]);
    let password = if creds.username.is_empty() {
        String::new()
    } else {
        let user = creds.username.as_bytes();
        sha512_hex(&[user_salt, user, creds.password.as_bytes()])
    };
    let mut out = Vec::with_capacity(320);
    msgpack::write_array_len(&mut out, 6);
    msgpack::write_str(&mut out, "PING");
    msgpack::write_str(&mut out, &creds.self_hostname);
    msgpack::write_str(&mut out, salt);
    msgpack::write_str(&mut out, &key);
    msgpack::write_str(&mut out, &creds.username);
    msgpack::write_str(&mut out, &password);
    out
}

fn check_pong(
    frame: &[u8],
    creds: &Credentials,
    salt: &str,
    nonce: &[u8],
) -> Result<(), ExchangeError> {
    let mut r = Reader::new(frame);
    if r.token()? != Token::Array(5) || bytes(&mut r)? != b"PONG" {
        return Err(ExchangeError::Malformed("expected PONG".into()));
    }
    let ok = r.token()? == Token::Bool(true);
    let reason = String::from_utf8_lossy(bytes(&mut r)?).into_owned();
    if !ok {
        return Err(ExchangeError::Refused(reason));
    }
    let server = bytes(&mut r)?;
    let want = sha512_hex(&[salt.as_bytes(), server, nonce, creds.shared_key.as_bytes()]);
    if bytes(&mut r)? != want.as_bytes() {
        return Err(ExchangeError::Refused(
            "the server's digest does not prove it knows the shared key".into(),
        ));
    }
    Ok(())
}

/// Waits for `{"ack": chunk_id}`.
///
/// # Errors
///
/// No answer within `timeout`, the server closed, or the ack names
/// another chunk.
pub(crate) async fn wait_ack(
    conn: &mut Connection,
    chunk_id: &str,
    timeout: Duration,
) -> Result<(), ExchangeError> {
    let answer = match tokio::time::timeout(timeout, read_answer(conn, Some(timeout))).await {
        Ok(answer) => answer?,
        Err(_) => {
            conn.mark_broken();
            return Err(ExchangeError::AckTimeout(timeout));
        }
    };
    let mut r = Reader::new(&answer);
    let Token::Map(n) = r.token()? else {
        return Err(ExchangeError::Malformed("ack is not a map".into()));
    };
    for _ in 0..n {
        let key = r.token()?;
        let value = r.token()?;
        if key == Token::Str(b"ack") {
            return match value {
                Token::Str(id) | Token::Bin(id) if id == chunk_id.as_bytes() => Ok(()),
                _ => {
                    conn.mark_broken();
                    Err(ExchangeError::WrongAck)
                }
            };
        }
    }
    Err(ExchangeError::Malformed("answer has no ack".into()))
}

/// Reads one whole MessagePack value from the server.
async fn read_answer(
    conn: &mut Connection,
    timeout: Option<Duration>,
) -> Result<Vec<u8>, ExchangeError> {
    let mut buf = Vec::new();
    loop {
        match Reader::new(&buf).skip() {
            Ok(value) if value.len() == buf.len() => return Ok(buf),
            Ok(_) => {
                conn.mark_broken();
                return Err(ExchangeError::Malformed("more than one answer".into()));
            }
            Err(DecodeError::Truncated(_)) if buf.len() < MAX_ANSWER => {}
            Err(e) => {
                conn.mark_broken();
                return Err(e.into());
            }
        }
        let read = match timeout {
            Some(t) => conn.read_buf_within(&mut buf, Some(t)).await?,
            None => conn.read_buf(&mut buf).await?,
        };
        if read == 0 {
            return Err(ExchangeError::Closed);
        }
    }
}

fn bytes<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], ExchangeError> {
    match r.token()? {
        Token::Str(b) | Token::Bin(b) => Ok(b),
        _ => Err(ExchangeError::Malformed("expected a string".into())),
    }
}

/// 16 random bytes in hex: a salt, or a chunk id.
pub(crate) fn random_hex() -> String {
    let bytes: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    hex(&bytes)
}

fn sha512_hex(parts: &[&[u8]]) -> String {
    let joined = parts.concat();
    hex(digest(&SHA512, &joined).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            shared_key: "secret".into(),
            self_hostname: "client".into(),
            username: String::new(),
            password: String::new(),
        }
    }

    fn pong(ok: bool, digest: &str) -> Vec<u8> {
        let mut out = Vec::new();
        msgpack::write_array_len(&mut out, 5);
        msgpack::write_str(&mut out, "PONG");
        msgpack::write_bool(&mut out, ok);
        msgpack::write_str(&mut out, if ok { "" } else { "shared_key mismatch" });
        msgpack::write_str(&mut out, "server");
        msgpack::write_str(&mut out, digest);
        out
    }

    #[test]
    fn pong_must_prove_the_server_knows_the_key() {
        let good = sha512_hex(&[b"salt", b"server", b"nonce", b"secret"]);
        assert!(check_pong(&pong(true, &good), &creds(), "salt", b"nonce").is_ok());
        let bad = sha512_hex(&[b"salt", b"server", b"nonce", b"other"]);
        let err = check_pong(&pong(true, &bad), &creds(), "salt", b"nonce").unwrap_err();
        assert!(matches!(err, ExchangeError::Refused(_)), "{err}");
        let err = check_pong(&pong(false, ""), &creds(), "salt", b"nonce").unwrap_err();
        assert_eq!(
            err.to_string(),
            "server refused the handshake; shared_key mismatch"
        );
    }

    #[test]
    fn helo_gives_nonce_and_user_salt() {
        let mut helo = Vec::new();
        msgpack::write_array_len(&mut helo, 2);
        msgpack::write_str(&mut helo, "HELO");
        msgpack::write_map_len(&mut helo, 3);
        msgpack::write_str(&mut helo, "nonce");
        msgpack::write_bin(&mut helo, b"n1");
        msgpack::write_str(&mut helo, "auth");
        msgpack::write_bin(&mut helo, b"a1");
        msgpack::write_str(&mut helo, "keepalive");
        msgpack::write_bool(&mut helo, true);
        assert_eq!(parse_helo(&helo).unwrap(), (b"n1".to_vec(), b"a1".to_vec()));
    }

    #[test]
    fn ping_has_six_fields() {
        let p = ping(&creds(), "salt", b"nonce", b"");
        let mut r = Reader::new(&p);
        assert_eq!(r.token().unwrap(), Token::Array(6));
        assert_eq!(r.token().unwrap(), Token::Str(b"PING"));
        assert_eq!(r.token().unwrap(), Token::Str(b"client"));
    }
}
