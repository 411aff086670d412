//! The Forward handshake (secure forward): `shared_key`,
//! `empty_shared_key` and `security.users`.
//!
//! On connect the server sends `["HELO", {"nonce": bin, "auth": bin,
//! "keepalive": true}]` (`auth` is a salt for user passwords, empty when
//! no user is configured). The client answers `["PING", hostname,
//! shared_key_salt, hex(sha512(shared_key_salt + hostname + nonce +
//! shared_key)), username, hex(sha512(auth + username + password))]`. The
//! server checks both digests, comparing in constant time, and answers
//! `["PONG", ok, reason, self_hostname, hex(sha512(shared_key_salt +
//! self_hostname + nonce + shared_key))]`; on failure it closes the
//! connection after the PONG, and no event of that peer is read.

use ring::digest::{digest, SHA512};
use ring::rand::{SecureRandom, SystemRandom};
use sluice_core::msgpack::{self, DecodeError, Reader, Token};

/// The secrets a handshake checks.
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    pub shared_key: String,
    pub self_hostname: String,
    /// `(username, password)` pairs; empty when users are not checked.
    pub users: Vec<(String, String)>,
}

/// The per-connection random values sent in HELO.
#[derive(Debug)]
pub(crate) struct Helo {
    nonce: [u8; 16],
    user_salt: [u8; 16],
}

/// Why a PING was refused; the text goes back to the client in PONG.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AuthError {
    #[error("handshake failed; {0}")]
    Malformed(&'static str),
    #[error("username/password mismatch")]
    User,
    #[error("shared_key mismatch")]
    SharedKey,
}

impl From<DecodeError> for AuthError {
    fn from(_: DecodeError) -> Self {
        AuthError::Malformed("PING is not valid messagepack")
    }
}

impl Helo {
    /// Draws fresh random values.
    ///
    /// # Errors
    ///
    /// The system's random source failed.
    pub fn new() -> Result<Self, ring::error::Unspecified> {
        let rng = SystemRandom::new();
        let mut helo = Helo {
            nonce: [0; 16],
            user_salt: [0; 16],
        };
        rng.fill(&mut helo.nonce)?;
        rng.fill(&mut helo.user_salt)?;
        Ok(helo)
    }

    /// The HELO frame.
    pub fn frame(&self, auth: &Auth) -> Vec<u8> {
        let mut buf = Vec::with_capacity(64);
        msgpack::write_array_len(&mut buf, 2);
        msgpack::write_str(&mut buf, "HELO");
        msgpack::write_map_len(&mut buf, 3);
        msgpack::write_str(&mut buf, "nonce");
        msgpack::write_bin(&mut buf, &self.nonce);
        msgpack::write_str(&mut buf, "auth");
        let salt: &[u8] = if auth.users.is_empty() {
            &[]
        } else {
            &self.user_salt
        };
        msgpack::write_bin(&mut buf, salt);
        msgpack::write_str(&mut buf, "keepalive");
        msgpack::write_bool(&mut buf, true);
        buf
    }

    /// Checks a PING frame and builds the PONG to send back, whatever the
    /// outcome; `Err` means the connection must close after it.
    pub fn answer(&self, auth: &Auth, ping: &[u8]) -> (Vec<u8>, Result<(), AuthError>) {
        let (salt, verdict) = match self.check(auth, ping) {
            Ok(salt) => (salt, Ok(())),
            Err(e) => (Vec::new(), Err(e)),
        };
        let mut buf = Vec::with_capacity(200);
        msgpack::write_array_len(&mut buf, 5);
        msgpack::write_str(&mut buf, "PONG");
        msgpack::write_bool(&mut buf, verdict.is_ok());
        let reason = verdict
            .as_ref()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        msgpack::write_str(&mut buf, &reason);
        msgpack::write_str(&mut buf, &auth.self_hostname);
        let digest = if verdict.is_ok() {
            self.key_digest(&salt, auth.self_hostname.as_bytes(), auth)
        } else {
            String::new()
        };
        msgpack::write_str(&mut buf, &digest);
        (buf, verdict)
    }

    /// Returns the client's shared-key salt when the PING is good.
    fn check(&self, auth: &Auth, ping: &[u8]) -> Result<Vec<u8>, AuthError> {
        let mut r = Reader::new(ping);
        if r.token()? != Token::Array(6) {
            return Err(AuthError::Malformed("PING is not an array of 6 elements"));
        }
        if bytes(&mut r)? != b"PING" {
            return Err(AuthError::Malformed("expected PING"));
        }
        let hostname = bytes(&mut r)?;
        let salt = bytes(&mut r)?;
        let key_hex = bytes(&mut r)?;
        let username = bytes(&mut r)?;
        let password_hex = bytes(&mut r)?;
        if !auth.users.is_empty() {
            self.check_user(auth, username, password_hex)?;
        }
        let want = self.key_digest(salt, hostname, auth);
        if !constant_time_eq(want.as_bytes(), key_hex) {
            return Err(AuthError::SharedKey);
        }
        Ok(salt.to_vec())
    }

    fn check_user(
        &self,
        auth: &Auth,
        username: &[u8],
        password_hex: &[u8],
    ) -> Result<(), AuthError> {
        // Every user is compared, so the time taken does not tell which
        // names exist.
        let mut ok = false;
        for (user, password) in &auth.users {
            let want = sha512_hex(&[&self.user_salt, user.as_bytes(), password.as_bytes()]);
            let matched = constant_time_eq(user.as_bytes(), username)
                & constant_time_eq(want.as_bytes(), password_hex);
            ok |= matched;
        }
        if ok {
            Ok(())
        } else {
            Err(AuthError::User)
        }
    }

    fn key_digest(&self, salt: &[u8], hostname: &[u8], auth: &Auth) -> String {
        sha512_hex(&[salt, hostname, &self.nonce, auth.shared_key.as_bytes()])
    }
}

fn bytes<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], AuthError> {
    match r.token()? {
        Token::Str(b) | Token::Bin(b) => Ok(b),
        _ => Err(AuthError::Malformed("PING field is not a string")),
    }
}

/// The lowercase hex SHA-512 of the parts, concatenated.
pub(crate) fn sha512_hex(parts: &[&[u8]]) -> String {
    let mut joined = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        joined.extend_from_slice(p);
    }
    let d = digest(&SHA512, &joined);
    let mut out = String::with_capacity(128);
    for b in d.as_ref() {
        out.push(char::from(b"0123456789abcdef"[(b >> 4) as usize]));
        out.push(char::from(b"0123456789abcdef"[(b & 0xf) as usize]));
    }
    out
}

/// Compares without an early exit, so the time taken does not tell how
/// much of a secret matched. Lengths are not secret (digests are fixed).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(users: &[(&str, &str)]) -> Auth {
        Auth {
            shared_key: "secret".into(),
            self_hostname: "server".into(),
            users: users
                .iter()
                .map(|(u, p)| (u.to_string(), p.to_string()))
                .collect(),
        }
    }

    fn ping(helo: &Helo, key: &str, user: &str, password: &str) -> Vec<u8> {
        let digest = sha512_hex(&[b"salt", b"client", &helo.nonce, key.as_bytes()]);
        let pw = sha512_hex(&[&helo.user_salt, user.as_bytes(), password.as_bytes()]);
        let mut buf = Vec::new();
        msgpack::write_array_len(&mut buf, 6);
        for s in ["PING", "client", "salt", &digest, user, &pw] {
            msgpack::write_str(&mut buf, s);
        }
        buf
    }

    #[test]
    fn good_key_and_user_pass() {
        let a = auth(&[("alice", "pw")]);
        let helo = Helo::new().unwrap();
        let (pong, verdict) = helo.answer(&a, &ping(&helo, "secret", "alice", "pw"));
        assert_eq!(verdict, Ok(()));
        let mut r = Reader::new(&pong);
        assert_eq!(r.token().unwrap(), Token::Array(5));
        assert_eq!(r.token().unwrap(), Token::Str(b"PONG"));
        assert_eq!(r.token().unwrap(), Token::Bool(true));
    }

    #[test]
    fn wrong_key_wrong_user_and_garbage_fail() {
        let a = auth(&[("alice", "pw")]);
        let helo = Helo::new().unwrap();
        let bad_key = ping(&helo, "guess", "alice", "pw");
        assert_eq!(helo.answer(&a, &bad_key).1, Err(AuthError::SharedKey));
        let bad_pw = ping(&helo, "secret", "alice", "nope");
        assert_eq!(helo.answer(&a, &bad_pw).1, Err(AuthError::User));
        assert!(helo.answer(&a, &[0x90]).1.is_err());
    }

    #[test]
    fn comparison_checks_every_byte() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
