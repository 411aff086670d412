//! The client side of TLS for HTTP destinations: the same settings and
//! checks every socket output uses (`net::tls_client`), handed to the
//! HTTP connector as a rustls config and the server name to present.

use std::sync::Arc;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;

use crate::config::{ConfigError, PluginConfig};

/// The client TLS settings and the server name to present, or `None`
/// with `tls off`.
///
/// # Errors
/// Those of [`crate::net::tls_client::client_config`], each naming its
/// key.
pub(crate) fn client_config(
    cfg: &PluginConfig,
    host: &str,
) -> Result<Option<(Arc<ClientConfig>, ServerName<'static>)>, ConfigError> {
    Ok(crate::net::tls_client::client_config(cfg, host)?.map(|t| (t.config, t.server_name)))
}
