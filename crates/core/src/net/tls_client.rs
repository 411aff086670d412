//! The client side of TLS, for outputs: which certificates to trust,
//! whether to check the server's name, the name sent as SNI and the
//! certificate a client shows for mutual TLS.
//!
//! Keys (besides the shared `tls.*` of [`super::tls`]):
//! `tls.verify_hostname` (off, as in Fluent Bit: the chain is checked but
//! a certificate for another name is accepted), `tls.vhost` (the name sent
//! as SNI and checked; default the output's `host`) and `tls.ca_path` (a
//! directory of PEM files to trust). With neither `tls.ca_file` nor
//! `tls.ca_path`, the system's bundle is trusted (the first of the usual
//! Linux paths that exists). `tls.verify off` accepts any certificate.
//! Files are read when the configuration is checked.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;

use super::tls::provider;
use super::tls_key::read_private_key;
use crate::config::{ConfigError, PluginConfig, PropKind, Property};

/// The TLS keys only a client takes.
pub const TLS_CLIENT_PROPS: &[Property] = &[
    Property::new(
        "tls.verify_hostname",
        PropKind::Bool,
        Some("off"),
        "Check that the server's certificate names the host",
    ),
    Property::new(
        "tls.vhost",
        PropKind::Str,
        None,
        "Server name sent as SNI and checked (default: host)",
    ),
    Property::new(
        "tls.ca_path",
        PropKind::Str,
        None,
        "Directory of PEM certificate authorities to trust",
    ),
];

/// Bundles of system roots, in the order they are looked for.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// A client TLS setup: the rustls config and the name to ask for.
#[derive(Clone)]
pub struct ClientTls {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .finish()
    }
}

/// Builds the client side of TLS from `tls.*`, or `None` with `tls off`.
///
/// # Errors
///
/// A CA file or directory that holds no certificate, a `tls.crt_file`
/// without `tls.key_file` (or the reverse), an encrypted key that
/// `tls.key_passwd` does not open, a key rustls refuses, or a
/// server name that is neither a DNS name nor an IP address; each names
/// its key.
pub fn client_config(cfg: &PluginConfig, host: &str) -> Result<Option<ClientTls>, ConfigError> {
    if !cfg.bool("tls") {
        return Ok(None);
    }
    required_client_config(cfg, host).map(Some)
}

/// Builds the client side of TLS from `tls.*` whatever `tls` says, for a
/// plugin whose own key asks for TLS (`mode tls` of `syslog`).
///
/// # Errors
///
/// As [`client_config`].
pub fn required_client_config(cfg: &PluginConfig, host: &str) -> Result<ClientTls, ConfigError> {
    let name = cfg
        .str("tls.vhost")
        .filter(|v| !v.is_empty())
        .unwrap_or(host);
    let server_name = ServerName::try_from(name.to_owned())
        .map_err(|e| cfg.error("tls.vhost", format!("'{name}' is not a server name; {e}")))?;

    let verifier = verifier(cfg)?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| cfg.error("tls", format!("cannot set up tls; {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (cfg.str("tls.crt_file"), cfg.str("tls.key_file")) {
        (Some(crt), Some(key)) => {
            let certs = read_certs(cfg, "tls.crt_file", Path::new(crt))?;
            let key = read_private_key(cfg, key)?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                cfg.error("tls.key_file", format!("certificate and key refused; {e}"))
            })?
        }
        (None, None) => builder.with_no_client_auth(),
        (Some(_), None) => return Err(cfg.error("tls.crt_file", "needs tls.key_file")),
        (None, Some(_)) => return Err(cfg.error("tls.key_file", "needs tls.crt_file")),
    };
    Ok(ClientTls {
        config: Arc::new(config),
        server_name,
    })
}

fn verifier(cfg: &PluginConfig) -> Result<Arc<dyn ServerCertVerifier>, ConfigError> {
    let roots = roots(cfg)?;
    let checking = if roots.is_empty() && !cfg.bool("tls.verify") {
        None
    } else if roots.is_empty() {
        return Err(cfg.error(
            "tls.verify",
            "no certificate authority to check servers against; set tls.ca_file",
        ));
    } else {
        let built = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| cfg.error("tls.ca_file", format!("cannot verify servers; {e}")))?;
        Some(built)
    };
    let mode = if !cfg.bool("tls.verify") {
        Checks::Nothing
    } else if cfg.bool("tls.verify_hostname") {
        Checks::ChainAndName
    } else {
        Checks::Chain
    };
    Ok(Arc::new(Verifier { checking, mode }))
}

/// The certificates `tls.ca_file`, `tls.ca_path` or the system trusts.
fn roots(cfg: &PluginConfig) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    let mut add = |key: &str, path: &Path| -> Result<(), ConfigError> {
        for cert in read_certs(cfg, key, path)? {
            roots
                .add(cert)
                .map_err(|e| cfg.error(key, format!("bad certificate; {e}")))?;
        }
        Ok(())
    };
    if let Some(file) = cfg.str("tls.ca_file") {
        add("tls.ca_file", Path::new(file))?;
    }
    if let Some(dir) = cfg.str("tls.ca_path") {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| cfg.error("tls.ca_path", format!("cannot read {dir}; {e}")))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() && read_certs(cfg, "tls.ca_path", &path).is_ok() {
                add("tls.ca_path", &path)?;
            }
        }
    }
    if cfg.str("tls.ca_file").is_none() && cfg.str("tls.ca_path").is_none() {
        if let Some(bundle) = SYSTEM_BUNDLES.iter().map(Path::new).find(|p| p.exists()) {
            // A damaged system bundle should not stop a start that may
            // never verify anything (`tls.verify off`).
            let _ = add("tls", bundle);
        }
    }
    Ok(roots)
}

fn read_certs(
    cfg: &PluginConfig,
    key: &str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let shown = path.display();
    let bad = |e: String| cfg.error(key, format!("cannot read certificates from {shown}; {e}"));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no certificate in the file".into()));
    }
    Ok(certs)
}

/// What the verifier checks of a server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checks {
    Nothing,
    Chain,
    ChainAndName,
}

/// rustls's own verifier, with the name check or every check turned off
/// as `tls.verify_hostname` and `tls.verify` ask.
#[derive(Debug)]
struct Verifier {
    /// `None` only when nothing is checked and nothing is trusted.
    checking: Option<Arc<WebPkiServerVerifier>>,
    mode: Checks,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(checking) = self
            .checking
            .as_ref()
            .filter(|_| self.mode != Checks::Nothing)
        else {
            return Ok(ServerCertVerified::assertion());
        };
        let verdict =
            checking.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        match verdict {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if self.mode == Checks::Chain => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Origin, Section, SectionKind};
    use crate::net::tls::TLS_PROPS;

    fn cfg(pairs: &[(&str, &str)]) -> PluginConfig {
        let mut s = Section::new(SectionKind::Output, Origin::new("t.conf", 1));
        for (i, (k, v)) in pairs.iter().enumerate() {
            s.push(*k, *v, Origin::new("t.conf", i + 2));
        }
        PluginConfig::new(&s, "t", "t.0".into(), &[TLS_PROPS, TLS_CLIENT_PROPS]).unwrap()
    }

    #[test]
    fn tls_off_builds_nothing_and_verify_off_needs_no_roots() {
        assert!(client_config(&cfg(&[]), "h").unwrap().is_none());
        let tls = client_config(&cfg(&[("tls", "on"), ("tls.verify", "off")]), "h")
            .unwrap()
            .unwrap();
        assert_eq!(format!("{:?}", tls.server_name), "DnsName(\"h\")");
    }

    #[test]
    fn vhost_names_the_server_and_bad_files_name_their_key() {
        let tls = required_client_config(
            &cfg(&[("tls.vhost", "10.0.0.1"), ("tls.verify", "off")]),
            "h",
        )
        .unwrap();
        assert!(matches!(tls.server_name, ServerName::IpAddress(_)));
        let err = client_config(
            &cfg(&[("tls", "on"), ("tls.ca_file", "/nonexistent.pem")]),
            "h",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("t.conf:3: key 'tls.ca_file'"), "{err}");
        let err = client_config(&cfg(&[("tls", "on"), ("tls.crt_file", "/x.pem")]), "h")
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs tls.key_file"), "{err}");
    }
}
