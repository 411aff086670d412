//! When a failed flush is tried again, and how often.

use std::time::Duration;

use crate::config::ConfigError;

/// How many retries a chunk gets on one output (`Retry_Limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryLimit {
    Limited(u32),
    Unlimited,
}

impl RetryLimit {
    /// Reads Fluent Bit's spellings: a number, `no_limits`/`false`/`off`
    /// for no limit, `no_retries` for none.
    pub fn parse(value: &str) -> Result<Self, String> {
        let v = value.trim().to_ascii_lowercase();
        match v.as_str() {
            "no_limits" | "false" | "off" | "no_limit" => Ok(RetryLimit::Unlimited),
            "no_retries" => Ok(RetryLimit::Limited(0)),
            _ => v.parse().map(RetryLimit::Limited).map_err(|_| {
                format!("'{value}' is not a retry limit (a number, no_limits or no_retries)")
            }),
        }
    }

    /// May a chunk that has been retried `done` times be retried again?
    pub fn allows(self, done: u32) -> bool {
        match self {
            RetryLimit::Limited(n) => done < n,
            RetryLimit::Unlimited => true,
        }
    }
}

/// Exponential backoff with full jitter (`scheduler.base`,
/// `scheduler.cap`): the wait before retry `n` (from 0) is drawn evenly
/// between `base` and `min(cap, base * 2^n)` seconds.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: u64,
    pub cap: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { base: 5, cap: 2000 }
    }
}

impl Backoff {
    pub fn new(base: i64, cap: i64) -> Result<Self, ConfigError> {
        if base < 1 || cap < base {
            return Err(ConfigError::new(format!(
                "scheduler.base ({base}) must be at least 1 and not above scheduler.cap ({cap})"
            )));
        }
        Ok(Backoff {
            base: base as u64,
            cap: cap as u64,
        })
    }

    /// The ceiling of the wait before retry `attempt`.
    pub fn ceiling(&self, attempt: u32) -> u64 {
        let exp = self
            .base
            .saturating_mul(1u64.checked_shl(attempt).unwrap_or(u64::MAX));
        exp.min(self.cap)
    }

    pub fn wait(&self, attempt: u32) -> Duration {
        let high = self.ceiling(attempt);
        Duration::from_secs(fastrand::u64(self.base..=high.max(self.base)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_limit_spellings() {
        assert_eq!(RetryLimit::parse("3"), Ok(RetryLimit::Limited(3)));
        assert_eq!(RetryLimit::parse("no_retries"), Ok(RetryLimit::Limited(0)));
        assert_eq!(RetryLimit::parse("False"), Ok(RetryLimit::Unlimited));
        assert_eq!(RetryLimit::parse("no_limits"), Ok(RetryLimit::Unlimited));
        assert!(RetryLimit::parse("many").is_err());
        assert!(RetryLimit::Limited(1).allows(0));
        assert!(!RetryLimit::Limited(1).allows(1));
    }

    #[test]
    fn backoff_grows_within_base_and_cap() {
        let b = Backoff::new(5, 60).unwrap();
        assert_eq!(b.ceiling(0), 5);
        assert_eq!(b.ceiling(1), 10);
        assert_eq!(b.ceiling(3), 40);
        assert_eq!(b.ceiling(4), 60);
        assert_eq!(b.ceiling(200), 60);
        for n in 0..50 {
            let w = b.wait(n).as_secs();
            assert!((5..=60).contains(&w), "{w}");
        }
    }
}
