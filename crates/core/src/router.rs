//! Routing: which outputs (and filters) a tag goes to.
//!
//! Only this module knows routes. A [`Matcher`] is Fluent Bit's `Match`
//! (a pattern where `*` stands for any run of characters, case-sensitive)
//! or `Match_Regex`; the [`Router`] caches the answer per tag, so the cost
//! is paid once per tag rather than once per chunk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use regex::Regex;

/// One instance's tag selector.
#[derive(Debug, Clone)]
pub enum Matcher {
    Pattern(String),
    Regex(Regex),
    /// An instance without `Match`: receives nothing.
    Nothing,
}

impl Matcher {
    pub fn matches(&self, tag: &str) -> bool {
        match self {
            Matcher::Pattern(p) => wildcard_match(p.as_bytes(), tag.as_bytes()),
            Matcher::Regex(r) => r.is_match(tag),
            Matcher::Nothing => false,
        }
    }
}

/// Matches `text` against a pattern in which `*` matches any run of
/// bytes, including none.
pub fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and the text position it has consumed to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Maps tags to the indices of the instances whose matcher accepts them.
#[derive(Debug)]
pub struct Router {
    matchers: Vec<Matcher>,
    cache: Mutex<HashMap<Arc<str>, Arc<[usize]>>>,
}

impl Router {
    pub fn new(matchers: Vec<Matcher>) -> Self {
        Router {
            matchers,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The instances for `tag`, in configuration order.
    pub fn route(&self, tag: &str) -> Arc<[usize]> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = cache.get(tag) {
            return Arc::clone(hit);
        }
        let hit: Arc<[usize]> = self
            .matchers
            .iter()
            .enumerate()
            .filter(|(_, m)| m.matches(tag))
            .map(|(i, _)| i)
            .collect();
        // Tags can come from records (forward, http): keep the cache from
        // growing without bound when they are many.
        if cache.len() >= 4096 {
            cache.clear();
        }
        cache.insert(tag.into(), Arc::clone(&hit));
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_anywhere() {
        let m = |p: &str, t: &str| wildcard_match(p.as_bytes(), t.as_bytes());
        assert!(m("*", "anything"));
        assert!(m("*", ""));
        assert!(m("app.*", "app.web"));
        assert!(!m("app.*", "ap.web"));
        assert!(m("*.log", "kube.var.log"));
        assert!(m("a*b*c", "a__b__c"));
        assert!(!m("a*b*c", "a__c__b"));
        assert!(m("dummy.0", "dummy.0"));
        assert!(!m("Dummy.0", "dummy.0"));
        assert!(m("a**", "abc"));
    }

    #[test]
    fn router_caches_and_keeps_order() {
        let r = Router::new(vec![
            Matcher::Pattern("a.*".into()),
            Matcher::Nothing,
            Matcher::Regex(Regex::new("^a\\.[0-9]+$").unwrap()),
        ]);
        assert_eq!(&*r.route("a.1"), &[0, 2]);
        assert_eq!(&*r.route("a.x"), &[0]);
        assert_eq!(&*r.route("b"), &[] as &[usize]);
        assert_eq!(&*r.route("a.1"), &[0, 2]);
    }
}
