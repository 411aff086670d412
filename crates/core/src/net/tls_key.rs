//! The private key of `tls.key_file`, for both sides of TLS: a plain PEM
//! key (PKCS#8, PKCS#1 RSA or SEC1 EC), or an encrypted PKCS#8 key
//! (`-----BEGIN ENCRYPTED PRIVATE KEY-----`, PBES2 as `openssl pkcs8
//! -topk8` or `openssl genpkey -aes256` write it) opened with
//! `tls.key_passwd`.
//!
//! OpenSSL's older encrypted PEM (`Proc-Type: 4,ENCRYPTED` headers inside
//! an RSA or EC key) is refused with the command that converts it: its
//! key derivation (one round of MD5) is weak, and not in the RustCrypto
//! crates sluice reads keys with. A `tls.key_passwd` with an unencrypted key is not used, as
//! OpenSSL does. The key is read when the configuration is checked, so a
//! wrong password stops the start with the key that named it.

use std::path::Path;

use pkcs8::{EncryptedPrivateKeyInfoRef, SecretDocument};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::config::{ConfigError, PluginConfig};

const ENCRYPTED_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";
const LEGACY_MARK: &str = "Proc-Type: 4,ENCRYPTED";

/// Reads the private key in `path`, the file `tls.key_file` names,
/// decrypting it with `tls.key_passwd` when it is encrypted.
///
/// # Errors
///
/// The file cannot be read or holds no key (naming `tls.key_file`); an
/// encrypted key without `tls.key_passwd`, or in OpenSSL's legacy format
/// (naming `tls.key_file`); a password that does not open the key
/// (naming `tls.key_passwd`).
pub fn read_private_key(
    cfg: &PluginConfig,
    path: &str,
) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let text = std::fs::read(Path::new(path))
        .map_err(|e| cfg.error("tls.key_file", format!("cannot read {path}; {e}")))?;
    let text = String::from_utf8_lossy(&text);
    if let Some(block) = encrypted_block(&text) {
        return decrypt(cfg, path, block);
    }
    if text.contains(LEGACY_MARK) {
        return Err(cfg.error(
            "tls.key_file",
            format!(
                "{path} is encrypted in OpenSSL's legacy PEM format, which is not supported; \
                 convert it with 'openssl pkcs8 -topk8 -v2 aes-256-cbc -in {path} -out NEW.pem'"
            ),
        ));
    }
    PrivateKeyDer::from_pem_slice(text.as_bytes()).map_err(|e| {
        cfg.error(
            "tls.key_file",
            format!("cannot read a private key from {path}; {e}"),
        )
    })
}

/// The first encrypted PKCS#8 block in `text`, markers included.
fn encrypted_block(text: &str) -> Option<&str> {
    let start = text.find(ENCRYPTED_BEGIN)?;
    let end = text[start..].find(ENCRYPTED_END)? + start + ENCRYPTED_END.len();
    Some(&text[start..end])
}

fn decrypt(
    cfg: &PluginConfig,
    path: &str,
    block: &str,
) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let Some(password) = cfg.str("tls.key_passwd") else {
        return Err(cfg.error(
            "tls.key_file",
            format!("{path} holds an encrypted key; set tls.key_passwd"),
        ));
    };
    let damaged = |e: String| {
        cfg.error(
            "tls.key_file",
            format!(
                "cannot read the encrypted key in {path} (damaged, or not encrypted with \
                 PBES2); {e}"
            ),
        )
    };
    let (_, document) = SecretDocument::from_pem(block).map_err(|e| damaged(e.to_string()))?;
    let info = EncryptedPrivateKeyInfoRef::try_from(document.as_bytes())
        .map_err(|e| damaged(e.to_string()))?;
    let plain = info.decrypt(password).map_err(|e| {
        cfg.error(
            "tls.key_passwd",
            format!("does not open the key in {path} (wrong password?); {e}"),
        )
    })?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        plain.as_bytes().to_vec(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Origin, Section, SectionKind};
    use crate::net::tls::TLS_PROPS;

    /// A P-256 key, encrypted by `openssl genpkey -aes256` with the
    /// password `s3cret` (PBES2, PBKDF2 with HMAC-SHA256, AES-256-CBC).
    const ENCRYPTED: &str = "\
-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAhuJt+jm6pgtAICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEELujGwKO+SIedVEu06qeQEoEgZBz
+XEKKs8L4BidmQH/DZGqUnpfWTr1LEMmNycCTYtMEs9kjtOmTPo5xV37g0IdjiGQ
XW+bGycLBQ01M75jaC1DW0GtNgt4mDBYs+d0hD6zXUIQl/D8zfDODE1rXb7fx0AK
KXUD63wd/bbQP8Po7aMbYeRjFbGACQ60iLzM5hayd7n3zD6DghZA1QYfzMS2p9c=
-----END ENCRYPTED PRIVATE KEY-----
";

    /// A P-256 key as `openssl ec -aes256` writes it: OpenSSL's legacy
    /// encrypted PEM.
    const LEGACY: &str = "\
-----BEGIN EC PRIVATE KEY-----
Proc-Type: 4,ENCRYPTED
DEK-Info: AES-256-CBC,6D929FD7DC834770A5F6F2DF2C302CDB

clpOx6x/5e4OBah4U4fvAsaVo9OC/nyHfNj740ajnTxEV1UfGQxySZfmZd2Vbd7C
tTl7HxbJRxZ9Mgve8joJoP690g7iyVF1l5g5GQyToMygg4NR38xInO42JpsGrSWu
k1j01d/GLBZojQ6FymXE8g7hQA580rde6tR2QXDA7+4=
-----END EC PRIVATE KEY-----
";

    /// Writes `pem` to a file of its own and reads it with `pairs` set.
    fn read(
        name: &str,
        pem: &str,
        pairs: &[(&str, &str)],
    ) -> Result<PrivateKeyDer<'static>, String> {
        let path =
            std::env::temp_dir().join(format!("sluice-key-{name}-{}.pem", std::process::id()));
        std::fs::write(&path, pem).unwrap();
        let mut s = Section::new(SectionKind::Input, Origin::new("t.conf", 1));
        for (i, (k, v)) in pairs.iter().enumerate() {
            s.push(*k, *v, Origin::new("t.conf", i + 2));
        }
        let cfg = PluginConfig::new(&s, "t", "t.0".into(), &[TLS_PROPS]).unwrap();
        let key = read_private_key(&cfg, path.to_str().unwrap()).map_err(|e| e.to_string());
        let _ = std::fs::remove_file(&path);
        key
    }

    #[test]
    fn an_encrypted_key_opens_with_its_password() {
        let key = read(
            "good",
            &format!("# comment\n{ENCRYPTED}"),
            &[("tls.key_passwd", "s3cret")],
        )
        .unwrap();
        assert!(matches!(key, PrivateKeyDer::Pkcs8(_)));
        let provider = crate::net::tls::provider();
        assert!(provider.key_provider.load_private_key(key).is_ok());
    }

    #[test]
    fn a_wrong_or_missing_password_names_its_key() {
        let err = read("wrong", ENCRYPTED, &[("tls.key_passwd", "guess")]).unwrap_err();
        assert!(
            err.starts_with("t.conf:2: key 'tls.key_passwd': does not open the key"),
            "{err}"
        );
        let err = read("none", ENCRYPTED, &[]).unwrap_err();
        assert!(
            err.contains("key 'tls.key_file'") && err.contains("set tls.key_passwd"),
            "{err}"
        );
    }

    #[test]
    fn the_legacy_format_is_refused_with_the_command_that_converts_it() {
        let err = read("legacy", LEGACY, &[("tls.key_passwd", "s3cret")]).unwrap_err();
        assert!(err.contains("key 'tls.key_file'"), "{err}");
        assert!(
            err.contains("legacy PEM format") && err.contains("openssl pkcs8 -topk8"),
            "{err}"
        );
    }
}
