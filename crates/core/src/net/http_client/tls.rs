//! The client side of TLS for HTTP destinations, from the shared `tls.*`
//! properties plus `tls.verify_hostname` and `tls.vhost`.
//!
//! With `tls.verify on` (the default) the peer's chain must lead to a
//! certificate of `tls.ca_file`, or, without it, of the system bundle
//! (`SSL_CERT_FILE`, else Debian's and Red Hat's usual paths). With
//! `tls.verify_hostname on` the certificate must also name `tls.vhost`
//! (default: `host`); with it off, any name is accepted from a chain that
//! verifies. `tls.verify off` accepts any certificate: a config choice
//! that sluice logs at start.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::config::{ConfigError, PluginConfig};
use crate::net::tls::provider;

/// Where the system's certificate authorities usually are.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// Builds the client TLS settings and the server name to present, or
/// `None` with `tls off`.
///
/// # Errors
/// An unreadable `tls.ca_file`, `tls.crt_file` or `tls.key_file`, no
/// system bundle when one is needed, a `tls.vhost` that is not a name,
/// or settings rustls refuses; each names its key.
pub(crate) fn client_config(
    cfg: &PluginConfig,
    host: &str,
) -> Result<Option<(Arc<ClientConfig>, ServerName<'static>)>, ConfigError> {
    if !cfg.bool("tls") {
        return Ok(None);
    }
    let vhost = cfg.str("tls.vhost").unwrap_or(host).trim().to_owned();
    let name = ServerName::try_from(vhost.clone())
        .map_err(|e| cfg.error("tls.vhost", format!("'{vhost}' is not a server name; {e}")))?;
    let verifier = verifier(cfg)?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| cfg.error("tls", format!("cannot set up tls; {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (cfg.str("tls.crt_file"), cfg.str("tls.key_file")) {
        (Some(crt), Some(key)) => {
            let certs = read_certs(cfg, "tls.crt_file", crt)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| cfg.error("tls.key_file", format!("cannot read a key; {e}")))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| cfg.error("tls.key_file", format!("key refused; {e}")))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Some((Arc::new(config), name)))
}

fn verifier(cfg: &PluginConfig) -> Result<Arc<dyn ServerCertVerifier>, ConfigError> {
    if !cfg.bool("tls.verify") {
        tracing::warn!("tls.verify is off: any server certificate is accepted");
        return Ok(Arc::new(AnyCertificate(provider())));
    }
    let (key, path) = match cfg.str("tls.ca_file") {
        Some(path) => ("tls.ca_file", path.to_owned()),
        None => (
            "tls",
            system_bundle().ok_or_else(|| {
                cfg.error("tls", "no system certificate bundle found; set tls.ca_file")
            })?,
        ),
    };
    let mut roots = RootCertStore::empty();
    for cert in read_certs(cfg, key, &path)? {
        // A bundle may hold certificates webpki cannot parse; skip those.
        let _ = roots.add(cert);
    }
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| cfg.error(key, format!("cannot verify servers; {e}")))?;
    if cfg.bool("tls.verify_hostname") {
        Ok(webpki)
    } else {
        Ok(Arc::new(AnyName(webpki)))
    }
}

fn system_bundle() -> Option<String> {
    let from_env = std::env::var("SSL_CERT_FILE").ok();
    from_env
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(|p| (*p).to_owned()))
        .find(|p| Path::new(p).is_file())
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

/// `tls.verify_hostname off`: the chain must verify, the name may differ.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let checked = self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        match checked {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `tls.verify off`: signatures are still checked, the certificate is not.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
