//! TLS settings shared by network plugins, and the server side of TLS
//! for listeners.
//!
//! Keys follow Fluent Bit: `tls` (off), `tls.verify` (on), `tls.ca_file`,
//! `tls.crt_file`, `tls.key_file`, `tls.key_passwd` (the password of an
//! encrypted `tls.key_file`, see [`super::tls_key`]),
//! `tls.verify_client_cert` (off) and `tls.debug`. A listener with `tls on` needs `tls.crt_file` and
//! `tls.key_file`; with `tls.verify_client_cert on` it also needs
//! `tls.ca_file` and refuses clients without a certificate signed by it
//! (mutual TLS). `tls.verify` is about checking the peer a client connects
//! to, so a listener accepts it and does nothing with it. TLS 1.2 is the
//! oldest version spoken. Files are read when the configuration is
//! checked, so a missing or unreadable file stops the start with the key
//! that named it.

use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use super::tls_key::read_private_key;
use crate::config::{ConfigError, PluginConfig, PropKind, Property};

/// The TLS properties every network plugin takes.
pub const TLS_PROPS: &[Property] = &[
    Property::new("tls", PropKind::Bool, Some("off"), "Enable TLS"),
    Property::new(
        "tls.verify",
        PropKind::Bool,
        Some("on"),
        "Verify the peer's certificate (clients; a listener ignores it)",
    ),
    Property::new(
        "tls.verify_client_cert",
        PropKind::Bool,
        Some("off"),
        "Listener: require a client certificate signed by tls.ca_file",
    ),
    Property::new(
        "tls.ca_file",
        PropKind::Str,
        None,
        "PEM file of the certificate authorities to trust",
    ),
    Property::new(
        "tls.crt_file",
        PropKind::Str,
        None,
        "PEM file of this side's certificate chain",
    ),
    Property::new(
        "tls.key_file",
        PropKind::Str,
        None,
        "PEM file of this side's private key",
    ),
    Property::new(
        "tls.key_passwd",
        PropKind::Str,
        None,
        "Password of an encrypted (PKCS#8) tls.key_file",
    ),
    Property::new(
        "tls.debug",
        PropKind::Int,
        Some("1"),
        "Accepted for compatibility; TLS events are logged at debug level",
    ),
];

/// The provider every TLS config in sluice uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the server side of TLS from `tls.*`, or `None` with `tls off`.
///
/// # Errors
///
/// A missing `tls.crt_file` or `tls.key_file`, a file that cannot be read
/// or holds no certificate or key, an encrypted key that `tls.key_passwd`
/// does not open, a `tls.verify_client_cert` without `tls.ca_file`, or a
/// key rustls refuses; each names its key.
pub fn server_config(cfg: &PluginConfig) -> Result<Option<Arc<ServerConfig>>, ConfigError> {
    if !cfg.bool("tls") {
        return Ok(None);
    }
    let crt_file = required(cfg, "tls.crt_file")?;
    let key_file = required(cfg, "tls.key_file")?;
    let certs = read_certs(cfg, "tls.crt_file", crt_file)?;
    let key = read_private_key(cfg, key_file)?;

    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| cfg.error("tls", format!("cannot set up tls; {e}")))?;
    let builder = if cfg.bool("tls.verify_client_cert") {
        let ca_file = cfg.str("tls.ca_file").ok_or_else(|| {
            cfg.error(
                "tls.verify_client_cert",
                "needs tls.ca_file to check client certificates against",
            )
        })?;
        let mut roots = RootCertStore::empty();
        for cert in read_certs(cfg, "tls.ca_file", ca_file)? {
            roots
                .add(cert)
                .map_err(|e| cfg.error("tls.ca_file", format!("bad certificate; {e}")))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| cfg.error("tls.ca_file", format!("cannot verify clients; {e}")))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| cfg.error("tls.key_file", format!("certificate and key refused; {e}")))?;
    Ok(Some(Arc::new(config)))
}

fn required<'a>(cfg: &'a PluginConfig, key: &str) -> Result<&'a str, ConfigError> {
    cfg.str(key)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| cfg.error(key, "required when tls is on"))
}

fn read_certs(
    cfg: &PluginConfig,
    key: &str,
    path: &str,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let bad = |e: String| cfg.error(key, format!("cannot read certificates from {path}; {e}"));
    let certs = CertificateDer::pem_file_iter(Path::new(path))
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no certificate in the file".into()));
    }
    Ok(certs)
}
