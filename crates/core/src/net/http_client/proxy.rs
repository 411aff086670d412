//! `HTTP_PROXY` and `NO_PROXY` for plain-HTTP destinations.
//!
//! When `HTTP_PROXY` (or `http_proxy`) names `http://HOST:PORT` and the
//! destination is not excluded by `NO_PROXY` (`no_proxy`), connections go
//! to the proxy and requests carry the absolute URI
//! (`POST http://dest:port/path`). `NO_PROXY` is a comma-separated list
//! of host names, where `example.com` also covers its subdomains and `*`
//! covers every host. TLS destinations never use the proxy.

/// The proxy to use for `host`, read from the environment.
///
/// TODO: send `Proxy-Authorization` for a proxy URL with user and
/// password, because such proxies refuse requests without it; today the
/// credentials are ignored with a warning.
pub(crate) fn for_host(host: &str) -> Option<(String, u16)> {
    let url = env("HTTP_PROXY")?;
    if excluded(host, env("NO_PROXY").as_deref().unwrap_or("")) {
        return None;
    }
    let parsed = parse(&url);
    if parsed.is_none() {
        tracing::warn!(proxy = %url, "HTTP_PROXY is not http://HOST:PORT; not used");
    }
    parsed
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .or_else(|_| std::env::var(name.to_ascii_lowercase()))
        .ok()
        .filter(|v| !v.trim().is_empty())
}

fn parse(url: &str) -> Option<(String, u16)> {
    let rest = url.trim().strip_prefix("http://")?;
    let authority = rest.split('/').next()?;
    let host_port = match authority.rsplit_once('@') {
        Some((_, host_port)) => {
            tracing::warn!("HTTP_PROXY credentials are not sent yet");
            host_port
        }
        None => authority,
    };
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().ok()?),
        None => (host_port, 80),
    };
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

fn excluded(host: &str, no_proxy: &str) -> bool {
    let host = host.to_ascii_lowercase();
    no_proxy
        .split(',')
        .map(|entry| entry.trim().trim_start_matches('.').to_ascii_lowercase())
        .filter(|entry| !entry.is_empty())
        .any(|entry| entry == "*" || host == entry || host.ends_with(&format!(".{entry}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_parse_to_host_and_port() {
        assert_eq!(parse("http://proxy:3128"), Some(("proxy".into(), 3128)));
        assert_eq!(
            parse("http://u:p@proxy:8080/"),
            Some(("proxy".into(), 8080))
        );
        assert_eq!(parse("http://proxy"), Some(("proxy".into(), 80)));
        assert_eq!(parse("https://proxy:1"), None);
    }

    #[test]
    fn no_proxy_covers_names_and_their_subdomains() {
        assert!(excluded("logs.example.com", "localhost, .example.com"));
        assert!(excluded("example.com", "example.com"));
        assert!(excluded("anything", "*"));
        assert!(!excluded("badexample.com", "example.com"));
        assert!(!excluded("127.0.0.1", ""));
    }
}
