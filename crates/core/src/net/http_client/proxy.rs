//! `HTTP_PROXY` and `NO_PROXY` for plain-HTTP destinations.
//!
//! When `HTTP_PROXY` (or `http_proxy`) names `http://HOST:PORT` and the
//! destination is not excluded by `NO_PROXY` (`no_proxy`), connections go
//! to the proxy and requests carry the absolute URI
//! (`POST http://dest:port/path`). A proxy URL with credentials
//! (`http://user:password@HOST:PORT`, percent-encoded as URLs are) sends
//! them as `Proxy-Authorization: Basic ...` with each request. `NO_PROXY`
//! is a comma-separated list of host names, where `example.com` also
//! covers its subdomains and `*` covers every host. TLS destinations never
//! use the proxy.

use hyper::header::HeaderValue;

use super::body::basic_auth;

/// The proxy plain-HTTP requests go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Proxy {
    pub host: String,
    pub port: u16,
    /// `Proxy-Authorization`, when the URL carries credentials.
    pub authorization: Option<HeaderValue>,
}

/// The proxy to use for `host`, read from the environment.
pub(crate) fn for_host(host: &str) -> Option<Proxy> {
    let url = env("HTTP_PROXY")?;
    if excluded(host, env("NO_PROXY").as_deref().unwrap_or("")) {
        return None;
    }
    let parsed = parse(&url);
    if parsed.is_none() {
        tracing::warn!("HTTP_PROXY is not http://[USER:PASSWORD@]HOST:PORT; not used");
    }
    parsed
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .or_else(|_| std::env::var(name.to_ascii_lowercase()))
        .ok()
        .filter(|v| !v.trim().is_empty())
}

fn parse(url: &str) -> Option<Proxy> {
    let rest = url.trim().strip_prefix("http://")?;
    let authority = rest.split('/').next()?;
    let (authorization, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            let value = basic_auth(&percent_decoded(user)?, &percent_decoded(password)?);
            (Some(HeaderValue::try_from(value).ok()?), host_port)
        }
        None => (None, authority),
    };
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().ok()?),
        None => (host_port, 80),
    };
    (!host.is_empty()).then(|| Proxy {
        host: host.to_owned(),
        port,
        authorization,
    })
}

/// `%XX` escapes of a URL's user or password decoded; `None` for a
/// broken escape or text that is not UTF-8 once decoded.
fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = std::str::from_utf8(bytes.get(at + 1..at + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(out).ok()
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

    fn plain(host: &str, port: u16) -> Option<Proxy> {
        Some(Proxy {
            host: host.into(),
            port,
            authorization: None,
        })
    }

    #[test]
    fn proxy_urls_parse_to_host_and_port() {
        assert_eq!(parse("http://proxy:3128"), plain("proxy", 3128));
        assert_eq!(parse("http://proxy"), plain("proxy", 80));
        assert_eq!(parse("https://proxy:1"), None);
    }

    #[test]
    fn credentials_become_proxy_authorization() {
        let proxy = parse("http://u:p@proxy:8080/").unwrap();
        assert_eq!((proxy.host.as_str(), proxy.port), ("proxy", 8080));
        assert_eq!(
            proxy.authorization.unwrap(),
            HeaderValue::try_from(basic_auth("u", "p")).unwrap()
        );
        // Percent escapes are decoded before encoding the pair.
        let proxy = parse("http://me%40corp:p%3As%20s@proxy:3128").unwrap();
        assert_eq!(
            proxy.authorization.unwrap(),
            HeaderValue::try_from(basic_auth("me@corp", "p:s s")).unwrap()
        );
        assert_eq!(parse("http://u:p%zz@proxy:1"), None);
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
