//! The client side of TLS for HTTP destinations: the same settings and
//! checks every socket output uses (`net::tls_client`), handed to the
//! HTTP connector as a rustls config and the server name to present,
//! with the ALPN protocols the client offers.

use std::sync::Arc;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;

use crate::config::{ConfigError, PluginConfig};

use super::Http2;

/// The client TLS settings and the server name to present, or `None`
/// with `tls off`. Unless `http2` is off, the handshake offers `h2` and
/// then `http/1.1` by ALPN, so the server picks HTTP/2 when it speaks it;
/// with it off no protocol is offered, and the server speaks HTTP/1.1.
///
/// # Errors
/// Those of [`crate::net::tls_client::client_config`], each naming its
/// key.
pub(crate) fn client_config(
    cfg: &PluginConfig,
    host: &str,
    http2: Http2,
) -> Result<Option<(Arc<ClientConfig>, ServerName<'static>)>, ConfigError> {
    let Some(tls) = crate::net::tls_client::client_config(cfg, host)? else {
        return Ok(None);
    };
    let mut config = Arc::unwrap_or_clone(tls.config);
    if http2 != Http2::Off {
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    }
    Ok(Some((Arc::new(config), tls.server_name)))
}
